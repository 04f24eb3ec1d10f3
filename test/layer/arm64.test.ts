// The arm64 layers, run under qemu-user-static in the same kind of sandbox as the x86_64 ones. Full builds
// (about 45 MB more to download per PHP version), so they run only when asked: FPM_BRIDGE_TEST_ARM64=1.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PHP_VERSIONS } from '../../layer/build.ts';
import { buildTestLayer, expectedModules, inSandbox, moduleNames, type TestLayer } from '../support/layer.ts';

const QEMU = '/usr/bin/qemu-aarch64-static';
const skip =
  process.env.FPM_BRIDGE_TEST_ARM64 !== '1'
    ? 'set FPM_BRIDGE_TEST_ARM64=1 to build and run the arm64 layers'
    : existsSync(QEMU)
      ? false
      : `${QEMU} is missing: apt-get install qemu-user-static`;

const work = mkdtempSync(join(tmpdir(), 'fpm-bridge-layer-arm64-'));
after(() => rmSync(work, { recursive: true, force: true }));

for (const version of PHP_VERSIONS) {
  describe(`the PHP ${version} arm64 layer under qemu-user-static`, { skip }, () => {
    let layer: TestLayer;
    const run = (command: string[]) => inSandbox(layer.dir, command, { qemu: QEMU });

    before(async () => {
      layer = await buildTestLayer(work, { php: version, arch: 'arm64' });
    });

    it('is built from aarch64 binaries with their own loader', () => {
      assert.ok(existsSync(join(layer.dir, 'lib/ld-linux-aarch64.so.1')));
    });

    it('php -m lists the chosen extensions and the built-in ones with no environment set', () => {
      const r = run(['/opt/bin/php', '-m']);
      assert.equal(r.stderr, '');
      assert.deepEqual(moduleNames(r.stdout), expectedModules(layer.report, 'cli'));
    });

    it('knows the time zones, leaves AVIF encoding out, and php-fpm finds its config', () => {
      const date = run([
        '/opt/bin/php',
        '-r',
        'echo (new DateTime("2024-07-01 12:00:00", new DateTimeZone("Europe/Paris")))->format(DATE_ATOM), " ", var_export(function_exists("imageavif"), true);',
      ]);
      assert.equal(date.stdout, '2024-07-01T12:00:00+02:00 false');
      const fpm = run(['/opt/bin/php-fpm', '-t', '-R']);
      assert.equal(fpm.status, 0, fpm.stderr);
    });
  });
}
