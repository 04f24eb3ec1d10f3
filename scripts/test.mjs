// Runs every test file under test/ with Node's built-in runner (TypeScript through tsx), in one run, so one
// summary counts them all. Node 20's --test does not expand globs, so the files are listed here.
//
// The suites under test/php-8.4/ run the handler, serve and real-application tests again on PHP 8.4 from
// fpm-bridge's own layer: this script builds it and, as root, runs the tests in a private mount namespace
// where the layer lies over /opt (where its binaries expect it). Without root those suites say they skip.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function find(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || entry.name === 'fixtures') continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...find(path));
    else if (entry.name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

/** The layer's PHP unpacked into a directory, or null (with the reason printed) when it cannot be had. */
function layerPhp(version) {
  if (process.getuid?.() !== 0) {
    process.stderr.write(
      `test.mjs: not root, so PHP ${version} from the layer is not mounted at /opt; its suites skip\n`,
    );
    return null;
  }
  const dir = join(tmpdir(), `fpm-bridge-test-php-${version}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/test-layer.ts', version, dir], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return r.status === 0 ? dir : null;
}

/**
 * The example apps' vendor/ from Debian 13's packages, brought up to date once per run for their suites
 * (examples/*, test/apps/{laravel,symfony}); the packages are cached as the layer tests' are. A failure is
 * printed, and the suites then install vendor/ themselves or fail saying why.
 */
function frameworks() {
  const cache = join(tmpdir(), 'fpm-bridge-frameworks-cache');
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/frameworks.ts', '--cache', cache], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (r.status !== 0)
    process.stderr.write('test.mjs: npm run frameworks failed; the example apps’ suites will say why\n');
}

const only = process.argv.slice(2);
const files = only.length > 0 ? only : find('test').sort();
if (files.some((f) => /laravel|symfony|examples/.test(f))) frameworks();
let command = [process.execPath, '--import', 'tsx', '--test', '--test-reporter=spec', ...files];
const layer = files.some((f) => f.includes('php-8.4')) ? layerPhp('8.4') : null;
if (layer !== null) {
  // Over the host's /opt, not instead of it: whatever the machine keeps there stays visible.
  const mount = 'mkdir -p /opt && mount -t overlay overlay -o "lowerdir=$0:/opt" /opt && exec "$@"';
  command = ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', mount, layer, ...command];
}
const result = spawnSync(command[0], command.slice(1), { stdio: 'inherit' });
process.exit(result.status ?? 1);
