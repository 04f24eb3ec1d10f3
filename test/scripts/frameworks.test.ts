import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { debianName, relocateAutoloaders, renderAutoloadRuntime } from '../../scripts/frameworks.ts';

const work = mkdtempSync(join(tmpdir(), 'fpm-bridge-vendor-test-'));
after(() => rmSync(work, { recursive: true, force: true }));

describe('scripts/frameworks.ts', () => {
  it('names the Debian package of a Composer package as pkg-php-tools does', () => {
    assert.equal(debianName('laravel/framework'), 'php-laravel-framework');
    assert.equal(debianName('symfony/framework-bundle'), 'php-symfony-framework-bundle');
    assert.equal(debianName('twig/twig'), 'php-twig');
    assert.equal(debianName('Monolog/Monolog'), 'php-monolog');
    assert.throws(() => debianName('laravel'), /requires "laravel", which is no vendor\/project name/);
  });

  it('points the autoloaders’ absolute /usr/share/php paths at vendor/, relative to each file', () => {
    const vendor = join(work, 'vendor');
    mkdirSync(join(vendor, 'Illuminate', 'Http'), { recursive: true });
    writeFileSync(
      join(vendor, 'Illuminate', 'Http', 'autoload.php'),
      "<?php\nrequire_once '/usr/share/php/Fruitcake/Cors/autoload.php';\n" +
        "if (stream_resolve_include_path('/usr/share/php/Guzzlehttp/Guzzle/autoload.php')) { include_once '/usr/share/php/Guzzlehttp/Guzzle/autoload.php'; }\n",
    );
    writeFileSync(join(vendor, 'README.md'), 'see /usr/share/php/ for the packages');
    relocateAutoloaders(vendor);
    assert.equal(
      readFileSync(join(vendor, 'Illuminate', 'Http', 'autoload.php'), 'utf8'),
      "<?php\nrequire_once dirname(__DIR__, 2).'/Fruitcake/Cors/autoload.php';\n" +
        "if (stream_resolve_include_path(dirname(__DIR__, 2).'/Guzzlehttp/Guzzle/autoload.php')) { include_once dirname(__DIR__, 2).'/Guzzlehttp/Guzzle/autoload.php'; }\n",
    );
    // Only PHP files are code.
    assert.equal(readFileSync(join(vendor, 'README.md'), 'utf8'), 'see /usr/share/php/ for the packages');
  });

  it('refuses to leave a /usr/share/php path it cannot relocate', () => {
    const vendor = join(work, 'vendor-left');
    mkdirSync(join(vendor, 'Odd'), { recursive: true });
    writeFileSync(join(vendor, 'Odd', 'autoload.php'), '<?php require "/usr/share/php/Odd/x.php";\n');
    assert.throws(() => relocateAutoloaders(vendor), /Odd\/autoload\.php still name \/usr\/share\/php\//);
  });

  it('fills in symfony/runtime’s template as its Composer plugin does', () => {
    const template =
      "require_once __DIR__.'/autoload.php'; $c = %runtime_class%; $o = %runtime_options%; $d = %project_dir%;";
    assert.equal(
      renderAutoloadRuntime(template, {}),
      "require_once __DIR__.'/autoload.php'; $c = 'Symfony\\\\Component\\\\Runtime\\\\SymfonyRuntime'; $o = [\n  'project_dir' => dirname(__DIR__, 1),\n]; $d = dirname(__DIR__, 1);",
    );
    assert.equal(
      renderAutoloadRuntime('%runtime_class% %runtime_options%', {
        extra: { runtime: { class: 'App\\Runtime', dotenv_path: '.env.app', prod_envs: ['prod', "it's"] } },
      }),
      "'App\\\\Runtime' [\n  'dotenv_path' => '.env.app',\n  'prod_envs' => [\n    0 => 'prod',\n    1 => 'it\\'s',\n  ],\n  'project_dir' => dirname(__DIR__, 1),\n]",
    );
  });
});
