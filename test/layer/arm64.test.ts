// The arm64 layer, run under qemu-user-static in the same kind of sandbox as the x86_64 one. Another full
// build (about 45 MB more to download), so it runs only when asked: FPM_BRIDGE_TEST_ARM64=1.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildLayer, type LayerReport } from '../../layer/build.ts';
import { BUILT_IN, CLI_BUILT_IN, DEFAULT_EXTENSIONS, EXTENSIONS } from '../../layer/extensions.ts';

const QEMU = '/usr/bin/qemu-aarch64-static';
const skip =
  process.env.FPM_BRIDGE_TEST_ARM64 !== '1'
    ? 'set FPM_BRIDGE_TEST_ARM64=1 to build and run the arm64 layer'
    : existsSync(QEMU)
      ? false
      : `${QEMU} is missing: apt-get install qemu-user-static`;

describe('the arm64 layer under qemu-user-static', { skip }, () => {
  const work = mkdtempSync(join(tmpdir(), 'fpm-bridge-layer-arm64-'));
  const layer = join(work, 'opt');
  let report: LayerReport;

  before(async () => {
    report = await buildLayer({
      out: join(work, 'out'),
      php: '8.2',
      extensions: [...DEFAULT_EXTENSIONS],
      arch: 'arm64',
      cacheDir: join(tmpdir(), 'fpm-bridge-layer-cache'),
    });
    mkdirSync(layer);
    assert.equal(spawnSync('unzip', ['-q', report.zip, '-d', layer]).status, 0);
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  /** Runs an arm64 binary of the layer: qemu, static, is the only host file in the sandbox. */
  function run(command: string[]) {
    return spawnSync(
      'bwrap',
      [
        ...['--unshare-all', '--die-with-parent', '--ro-bind', layer, '/opt', '--ro-bind', QEMU, '/qemu'],
        ...['--tmpfs', '/tmp', '--proc', '/proc', '--dev', '/dev', '--clearenv'],
        ...['--setenv', 'PHPRC', '/opt/etc/php', '--setenv', 'PHP_INI_SCAN_DIR', '/opt/etc/php/conf.d'],
        '/qemu',
        ...command,
      ],
      { encoding: 'utf8', timeout: 120_000 },
    );
  }

  it('is built from aarch64 binaries with their own loader', () => {
    assert.ok(existsSync(join(layer, 'lib/ld-linux-aarch64.so.1')));
  });

  it('php -m lists the chosen extensions and the built-in ones', () => {
    const r = run(['/opt/bin/php', '-m']);
    assert.equal(r.stderr, '');
    const names = (text: string) =>
      [...new Set(text.split('\n').filter((l) => l !== '' && !l.startsWith('[')))].sort();
    const chosen = report.extensions.shared.map((n) => EXTENSIONS[n]!.module);
    assert.deepEqual(names(r.stdout), names([...BUILT_IN, ...CLI_BUILT_IN, ...chosen].join('\n')));
  });

  it('knows the time zones, and php-fpm accepts its config', () => {
    const date = run([
      '/opt/bin/php',
      '-r',
      'echo (new DateTime("2024-07-01 12:00:00", new DateTimeZone("Europe/Paris")))->format(DATE_ATOM);',
    ]);
    assert.equal(date.stdout, '2024-07-01T12:00:00+02:00');
    const fpm = run(['/opt/bin/php-fpm', '-t', '-F', '-O', '-R', '--fpm-config', '/opt/etc/php-fpm.conf']);
    assert.equal(fpm.status, 0, fpm.stderr);
  });
});
