// Runs every test file under test/ with Node's built-in runner (TypeScript through tsx), in one run, so one
// summary counts them all. Node 20's --test does not expand globs, so the files are listed here.
//
// The suites under test/php-8.4/ run the handler, serve and real-application tests again on PHP 8.4 from
// fpm-bridge's own layer: this script builds it and, as root, runs the tests in a private mount namespace
// where the layer lies over /opt (where its binaries expect it). Without root those suites say they skip.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
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

/** The newest Debian php-fpm of the host (`/usr/sbin/php-fpm8.2`), or null. */
function hostPhpFpm() {
  const names = readdirSync('/usr/sbin').filter((n) => /^php-fpm\d+\.\d+$/.test(n));
  const version = (n) => n.slice('php-fpm'.length).split('.').map(Number);
  names.sort((a, b) => version(b)[0] - version(a)[0] || version(b)[1] - version(a)[1]);
  return names.length > 0 ? `/usr/sbin/${names[0]}` : null;
}

/**
 * The layer's PHP unpacked into a directory of this run (another checkout's run may be using its own), or null
 * (with the reason printed) when it cannot be had.
 */
function layerPhp(version) {
  if (process.getuid?.() !== 0) {
    process.stderr.write(
      `test.mjs: not root, so PHP ${version} from the layer is not mounted at /opt; its suites skip\n`,
    );
    return null;
  }
  const dir = mkdtempSync(join(tmpdir(), `fpm-bridge-test-php-${version}-`));
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/test-layer.ts', version, dir], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (r.status === 0) return dir;
  rmSync(dir, { recursive: true, force: true });
  return null;
}

const only = process.argv.slice(2);
const files = only.length > 0 ? only : find('test').sort();
let command = [process.execPath, '--import', 'tsx', '--test', '--test-reporter=spec', ...files];
const layer = files.some((f) => f.includes('php-8.4')) ? layerPhp('8.4') : null;
const env = { ...process.env };
if (layer !== null) {
  // The other suites stay on the host's own PHP: with the layer at /opt, php-fpm would be found there first.
  const host = hostPhpFpm();
  if (env.FPM_BRIDGE_PHP_FPM === undefined && host !== null) env.FPM_BRIDGE_PHP_FPM = host;
  // Over the host's /opt, not instead of it: whatever the machine keeps there stays visible.
  const mount = 'mkdir -p /opt && mount -t overlay overlay -o "lowerdir=$0:/opt" /opt && exec "$@"';
  command = ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', mount, layer, ...command];
}
const result = spawnSync(command[0], command.slice(1), { stdio: 'inherit', env });
if (layer !== null) rmSync(layer, { recursive: true, force: true });
process.exit(result.status ?? 1);
