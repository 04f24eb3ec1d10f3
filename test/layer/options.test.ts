// The layer build's inputs and the ini environment a layer's PHP is started with: no download, no sandbox.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { relocatePaths } from '../../layer/build.ts';
import { DEFAULT_EXTENSIONS, selectExtensions } from '../../layer/extensions.ts';
import { zip, zipParallel } from '../../layer/zip.ts';
import { LayerError, UsageError } from '../../proxy/errors.ts';
import { appIniDir, layerIni, phpEnv } from '../../proxy/fpm/layer.ts';
import { runCli } from '../support/cli.ts';

describe('layer extensions', () => {
  it('adds what PHP’s own extensions require, sets the built-in ones apart and keeps the rest as packages', () => {
    assert.deepEqual(selectExtensions(['pdo_mysql', 'Sodium', 'pcntl', ' redis ', 'apcu', 'redis']), {
      shared: ['mysqlnd', 'pdo', 'pdo_mysql'],
      added: ['mysqlnd', 'pdo'],
      builtIn: ['pcntl', 'sodium'],
      packages: ['apcu', 'redis'],
    });
  });

  it('has a default set that covers the common frameworks', () => {
    const { shared, builtIn } = selectExtensions(DEFAULT_EXTENSIONS);
    for (const name of ['opcache', 'mbstring', 'intl', 'xml', 'dom', 'simplexml', 'curl', 'zip', 'gd']) {
      assert.ok(shared.includes(name), name);
    }
    for (const name of ['bcmath', 'pdo_mysql', 'pdo_pgsql', 'pdo_sqlite'])
      assert.ok(shared.includes(name), name);
    assert.deepEqual(builtIn, ['sodium']);
  });

  it('refuses a name that cannot be a Debian package with a UsageError naming it and the ways to name one', () => {
    assert.throws(
      () => selectExtensions(['opcache', 'no/pe']),
      (err: unknown) =>
        err instanceof UsageError &&
        err.message.startsWith(
          'invalid extension "no/pe" in --extensions — expected one of PHP\'s own (bcmath, bz2, calendar,',
        ) &&
        err.message.endsWith('or the name of a Debian package php<version>-<name> (redis, apcu, imagick, …)'),
    );
  });
});

describe('fpm-bridge layer build (command line)', () => {
  it('exits 2 on an extension name that cannot be a package, before any download', async () => {
    const r = await runCli([
      'layer',
      'build',
      '--extensions',
      'opcache,No Pe',
      '--cache',
      '/nonexistent/cache',
    ]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(
      r.stderr,
      /^fpm-bridge: invalid extension "No Pe" in --extensions — expected one of PHP's own /,
    );
  });

  it('exits 2 on an unknown architecture or PHP version', async () => {
    const arch = await runCli(['layer', 'build', '--arch', 'sparc']);
    assert.equal(arch.code, 2);
    assert.equal(arch.stderr, 'fpm-bridge: invalid --arch "sparc" — expected x86_64 or arm64\n');
    const php = await runCli(['layer', 'build', '--php', '8.3']);
    assert.equal(php.code, 2);
    assert.equal(
      php.stderr,
      'fpm-bridge: --php 8.3 is not offered — expected 8.4 (Debian 13) or 8.2 (Debian 12)\n',
    );
  });

  it('prints its options with --help', async () => {
    const r = await runCli(['layer', 'build', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: fpm-bridge layer build \[options\]\n/);
    assert.match(r.stdout, /--offline/);
  });
});

describe('zip', () => {
  it('writes the same bytes whether it deflates in parallel or not', async () => {
    const entries = [
      { name: 'bin/', mode: 0o755 },
      { name: 'bin/php', data: Buffer.alloc(100_000, 'php '), mode: 0o755 },
      { name: 'a', data: Buffer.from('x'), mode: 0o644 },
      { name: 'empty', data: Buffer.alloc(0), mode: 0o644 },
    ];
    assert.ok((await zipParallel(entries)).equals(zip(entries)));
  });
});

describe('relocatePaths', () => {
  it('replaces every occurrence of a path with one of the same length', () => {
    const bin = Buffer.from('\0/usr/share/zoneinfo\0x/usr/share/zoneinfo/UTC\0');
    assert.equal(
      relocatePaths(bin, 'php', [['/usr/share/zoneinfo', '/opt/share/zoneinfo']]).toString('latin1'),
      '\0/opt/share/zoneinfo\0x/opt/share/zoneinfo/UTC\0',
    );
  });

  it('fails when the binary does not name the path, or the lengths differ', () => {
    assert.throws(() => relocatePaths(Buffer.from('nothing'), 'php', [['/usr/x', '/opt/x']]), LayerError);
    assert.throws(() => relocatePaths(Buffer.from('/usr/x'), 'php', [['/usr/x', '/opt/xy']]), LayerError);
  });

  it('changes only leading path components, since the linker keeps "cli" as the tail of "/etc/php/8.4/cli"', () => {
    const bin = Buffer.from('\0/etc/php/8.4/cli\0');
    const cli = bin.indexOf('cli');
    const moved = relocatePaths(bin, 'php', [['/etc/php/8.4/', '/opt/php/8.4/']]);
    assert.equal(moved.toString('latin1', cli, cli + 3), 'cli');
    assert.throws(
      () => relocatePaths(bin, 'php', [['/etc/php/8.4/cli', '/opt/etc/php-8.4']]),
      new LayerError(
        'cannot relocate /etc/php/8.4/cli to /opt/etc/php-8.4: more than its leading path components differ',
      ),
    );
  });
});

describe('phpEnv: the ini environment of a layer’s PHP', () => {
  const root = mkdtempSync(join(tmpdir(), 'fpm-bridge-php-env-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const ours = join(root, 'ours');
  const bref = join(root, 'bref');
  const task = join(root, 'task');
  mkdirSync(join(ours, 'php', '8.4', 'fpm', 'conf.d'), { recursive: true });
  mkdirSync(join(ours, 'share', 'fpm-bridge'), { recursive: true });
  writeFileSync(
    join(ours, 'share', 'fpm-bridge', 'layer.json'),
    JSON.stringify({ php: '8.4', arch: 'x86_64' }),
  );
  const oursConfD = join(ours, 'php', '8.4', 'fpm', 'conf.d');
  mkdirSync(join(bref, 'bref', 'etc', 'php', 'conf.d'), { recursive: true });
  mkdirSync(join(task, 'php', 'conf.d'), { recursive: true });

  it('scans fpm-bridge’s layer’s conf.d (named by its manifest’s PHP version), then the app’s php/conf.d', () => {
    assert.deepEqual(layerIni(join(ours, 'bin', 'php-fpm')), { kind: 'fpm-bridge', scanDir: oursConfD });
    const env = phpEnv(join(ours, 'bin', 'php-fpm'), [], { LAMBDA_TASK_ROOT: task, PATH: '/bin' });
    // No PHPRC: the layer's binaries read /opt/php/8.4/{cli,fpm}/php.ini by themselves.
    assert.deepEqual(env, {
      LAMBDA_TASK_ROOT: task,
      PATH: '/bin',
      PHP_INI_SCAN_DIR: `${oursConfD}:${join(task, 'php', 'conf.d')}`,
    });
  });

  it('finds Bref’s layer by /opt/bref/etc/php/conf.d and scans it and the app’s php/conf.d once each', () => {
    assert.deepEqual(layerIni(join(bref, 'bin', 'php-fpm')), {
      kind: 'bref',
      scanDir: join(bref, 'bref', 'etc', 'php', 'conf.d'),
    });
    const appDir = join(task, 'php', 'conf.d');
    const env = phpEnv(join(bref, 'bin', 'php-fpm'), [appDir, '/extra'], { LAMBDA_TASK_ROOT: task });
    assert.equal(env.PHPRC, undefined);
    assert.equal(env.PHP_INI_SCAN_DIR, `${join(bref, 'bref', 'etc', 'php', 'conf.d')}:${appDir}:/extra`);
  });

  it('keeps PHPRC and PHP_INI_SCAN_DIR the function sets, after the layer’s conf.d', () => {
    const env = phpEnv(join(ours, 'bin', 'php'), [], {
      PHPRC: '/var/task/php',
      PHP_INI_SCAN_DIR: '/var/task/ini:',
    });
    assert.equal(env.PHPRC, '/var/task/php');
    // php reads the cli directory, php-fpm the fpm one.
    assert.equal(env.PHP_INI_SCAN_DIR, `${join(ours, 'php', '8.4', 'cli', 'conf.d')}:/var/task/ini`);
  });

  it('leaves another php-fpm its compiled-in scan dir and appends the extra ones', () => {
    assert.equal(layerIni('/usr/sbin/php-fpm8.2'), null);
    assert.deepEqual(phpEnv('/usr/sbin/php-fpm8.2', ['/app/ini'], {}), { PHP_INI_SCAN_DIR: ':/app/ini' });
    assert.deepEqual(phpEnv('/usr/sbin/php-fpm8.2', [], { LAMBDA_TASK_ROOT: task }), {
      LAMBDA_TASK_ROOT: task,
    });
  });

  it('takes the layer’s /opt/lib out of Lambda’s LD_LIBRARY_PATH for a PHP of the system, not for the layer’s', () => {
    const lambda = '/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/task/lib:/opt/lib';
    assert.equal(
      phpEnv('/usr/sbin/php-fpm8.2', [], { LD_LIBRARY_PATH: lambda }).LD_LIBRARY_PATH,
      '/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/task/lib',
    );
    assert.equal(
      phpEnv(join(ours, 'bin', 'php-fpm'), [], { LD_LIBRARY_PATH: lambda }).LD_LIBRARY_PATH,
      lambda,
    );
  });

  it('names the app’s php/conf.d only when it exists', () => {
    assert.equal(appIniDir(task), join(task, 'php', 'conf.d'));
    assert.equal(appIniDir(root), null);
    assert.equal(appIniDir(undefined), null);
  });
});
