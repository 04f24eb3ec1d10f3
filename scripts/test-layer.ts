// Builds the PHP layer a test run mounts at /opt (scripts/test.mjs): `node --import tsx scripts/test-layer.ts
// 8.4 DIR` unzips into DIR the default extensions plus mysqli (WordPress's), for this machine's architecture,
// from the packages cached where the layer tests keep them.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildLayer } from '../layer/build.ts';
import { DEFAULT_EXTENSIONS } from '../layer/extensions.ts';
import { LAYER_CACHE } from '../test/support/layer.ts';

const [php, dir] = process.argv.slice(2);
if (php === undefined || dir === undefined) throw new Error('usage: test-layer.ts PHP_VERSION DIR');
const out = mkdtempSync(join(tmpdir(), 'fpm-bridge-test-layer-'));
try {
  const report = await buildLayer({
    out,
    php,
    extensions: [...DEFAULT_EXTENSIONS, 'mysqli'],
    arch: process.arch === 'arm64' ? 'arm64' : 'x86_64',
    cacheDir: LAYER_CACHE,
  });
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  execFileSync('unzip', ['-q', report.zip, '-d', dir]);
  process.stdout.write(`PHP ${report.phpPackageVersion} layer in ${dir}\n`);
} finally {
  rmSync(out, { recursive: true, force: true });
}
