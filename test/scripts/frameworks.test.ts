import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  debianName,
  mergeAutoloaders,
  parseAutoloader,
  relocateAutoloaders,
  renderAutoloadRuntime,
} from '../../scripts/frameworks.ts';

/** A Debian autoloader as pkg-php-tools' phpab writes it. */
function phpab(opts: {
  requires?: string[];
  suggests?: string[];
  classes: Record<string, string>;
  files?: string[];
}) {
  const entries = Object.entries(opts.classes).map(
    ([name, file]) => `                '${name.replaceAll('\\', '\\\\')}' => '${file}'`,
  );
  return [
    '<?php',
    '',
    '// Require',
    ...(opts.requires ?? []).map((r) => `require_once '/usr/share/php/${r}';`),
    '',
    '// Suggest',
    ...(opts.suggests ?? []).map(
      (s) =>
        `if (stream_resolve_include_path('/usr/share/php/${s}')) { include_once '/usr/share/php/${s}'; }`,
    ),
    '',
    '// @codingStandardsIgnoreFile',
    'spl_autoload_register(',
    '    function($class) {',
    '        static $classes = null;',
    '        if ($classes === null) {',
    '            $classes = array(',
    entries.join(',\n'),
    '            );',
    '        }',
    '        $cn = strtolower($class);',
    '        if (isset($classes[$cn])) {',
    '            require __DIR__ . $classes[$cn];',
    '        }',
    '    },',
    '    true,',
    '    false',
    ');',
    '',
    '// Files',
    ...(opts.files ?? []).map((f) => `require_once __DIR__.'${f}';`),
    '',
  ].join('\n');
}

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

  it('reads a Debian autoloader’s requirements, suggestions, classes and files, relative to /usr/share/php', () => {
    const text = phpab({
      requires: ['Brick/Math/autoload.php'],
      suggests: ['Ramsey/UuidDoctrine/autoload.php'],
      classes: { 'ramsey\\uuid\\uuid': '/Uuid.php', 'ramsey\\uuid\\rfc4122\\fields': '/Rfc4122/Fields.php' },
      files: ['/functions.php'],
    });
    assert.deepEqual(
      parseAutoloader(
        `${text}require_once __DIR__ . '/../Collection/autoload.php';\n`,
        'Ramsey/Uuid/autoload.php',
      ),
      {
        requires: ['Brick/Math/autoload.php', 'Ramsey/Collection/autoload.php'],
        suggests: ['Ramsey/UuidDoctrine/autoload.php'],
        classes: [
          ['ramsey\\uuid\\uuid', '/Ramsey/Uuid/Uuid.php'],
          ['ramsey\\uuid\\rfc4122\\fields', '/Ramsey/Uuid/Rfc4122/Fields.php'],
        ],
        files: ['Ramsey/Uuid/functions.php'],
      },
    );
    assert.throws(
      () => parseAutoloader(`${text}spl_autoload_register('other');\n`, 'Ramsey/Uuid/autoload.php'),
      /\/usr\/share\/php\/Ramsey\/Uuid\/autoload\.php has a line phpab does not write: spl_autoload_register\('other'\);/,
    );
  });

  it('merges autoloaders into one class map in the order PHP would have asked them', () => {
    const loaders: Record<string, string> = {
      'App/A/autoload.php': phpab({
        requires: ['Lib/B/autoload.php', 'Lib/C/autoload.php'],
        suggests: ['Lib/Missing/autoload.php'],
        classes: { 'a\\one': '/One.php', 'shared\\thing': '/Thing.php' },
        files: ['/a.php'],
      }),
      'Lib/B/autoload.php': phpab({
        requires: ['Lib/C/autoload.php'],
        classes: { 'shared\\thing': '/Thing.php' },
      }),
      'Lib/C/autoload.php': phpab({ classes: { 'c\\three': '/Three.php' }, files: ['/c.php'] }),
    };
    const merged = mergeAutoloaders((path) => loaders[path] ?? null, ['App/A/autoload.php']);
    // B registered its loader before A did, so B's file answered for a class both map.
    assert.deepEqual(
      [...merged.classes],
      [
        ['c\\three', '/Lib/C/Three.php'],
        ['shared\\thing', '/Lib/B/Thing.php'],
        ['a\\one', '/App/A/One.php'],
      ],
    );
    assert.deepEqual(merged.files, ['Lib/C/c.php', 'App/A/a.php']);
    assert.throws(
      () => mergeAutoloaders((path) => loaders[path] ?? null, ['Lib/Gone/autoload.php']),
      /\/usr\/share\/php\/Lib\/Gone\/autoload\.php is required but no package installed it/,
    );
  });
});
