import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Where Lambda layers' shared libraries are, for the layer's own programs only. */
const LAYER_LIB = '/opt/lib';

/** Where a Lambda layer's PHP reads its ini files, for the layouts fpm-bridge knows. */
export interface LayerIni {
  /** `fpm-bridge`: built by `fpm-bridge layer build`; `bref`: Bref's PHP layer (v2 php-XX-fpm, v3 php-XX). */
  kind: 'fpm-bridge' | 'bref';
  /** The layer's conf.d, first in PHP_INI_SCAN_DIR. */
  scanDir: string;
}

/**
 * The ini layout of the layer that `binary` (`<prefix>/bin/php-fpm` or `<prefix>/bin/php`) belongs to, or
 * null for any other PHP:
 *
 * - fpm-bridge's layer: `<prefix>/share/fpm-bridge/layer.json` names its PHP version; its binaries read
 *   `<prefix>/php/<version>/cli/` (php) or `…/fpm/` (php-fpm): php.ini and conf.d, by themselves (no PHPRC).
 * - Bref's layer: `<prefix>/bref/etc/php/conf.d` exists. Bref compiles PHP with that scan dir (and
 *   `/var/task/php/conf.d`) and config path `/opt/bref/etc/php`, so no PHPRC is needed.
 */
export function layerIni(binary: string): LayerIni | null {
  const prefix = dirname(dirname(binary));
  const manifest = join(prefix, 'share', 'fpm-bridge', 'layer.json');
  if (existsSync(manifest)) {
    const { php } = JSON.parse(readFileSync(manifest, 'utf8')) as { php: string };
    const sapi = basename(binary).startsWith('php-fpm') ? 'fpm' : 'cli';
    return { kind: 'fpm-bridge', scanDir: join(prefix, 'php', php, sapi, 'conf.d') };
  }
  const bref = join(prefix, 'bref', 'etc', 'php', 'conf.d');
  if (existsSync(bref)) return { kind: 'bref', scanDir: bref };
  return null;
}

/**
 * The app's own ini directory, as Bref has it: `php/conf.d` in the task root, when it exists.
 *
 * @example
 *   appIniDir('/var/task')  // '/var/task/php/conf.d' (if the app has one), else null
 */
export function appIniDir(taskRoot: string | undefined): string | null {
  if (taskRoot === undefined || taskRoot === '') return null;
  const dir = join(taskRoot, 'php', 'conf.d');
  return existsSync(dir) ? dir : null;
}

/**
 * The environment to start `binary` (php-fpm or php) with, so that PHP reads the right ini files.
 *
 * - A layer's binary ({@link layerIni}) gets PHP_INI_SCAN_DIR = the layer's `conf.d` (its extensions and
 *   settings), then any PHP_INI_SCAN_DIR already set, then the app's `php/conf.d` under LAMBDA_TASK_ROOT
 *   ({@link appIniDir}), then `extraDirs`, each once — later files override earlier ones. Its php.ini it
 *   finds by itself. No empty entry: the compiled-in scan
 *   dir is the host's (Debian) or the same dirs again (Bref, whose extension lines would then load twice).
 *   PHP's children (`exec('php …')` from a script) inherit it.
 * - Any other php-fpm keeps its compiled-in scan dir (the leading `:`) and gets `extraDirs` after it, and
 *   `/opt/lib` leaves its LD_LIBRARY_PATH.
 *
 * @example
 *   phpEnv('/opt/bin/php-fpm', [], { LAMBDA_TASK_ROOT: '/var/task' })
 *   // { PHP_INI_SCAN_DIR: '/opt/php/8.4/fpm/conf.d:/var/task/php/conf.d', … }
 */
export function phpEnv(
  binary: string,
  extraDirs: readonly string[],
  env: NodeJS.ProcessEnv,
): NodeJS.ProcessEnv {
  const out = { ...env };
  const layer = layerIni(binary);
  if (layer !== null) {
    const given = (env.PHP_INI_SCAN_DIR ?? '').split(':').filter((d) => d !== '');
    const app = appIniDir(env.LAMBDA_TASK_ROOT);
    const dirs = [layer.scanDir, ...given, ...(app === null ? [] : [app]), ...extraDirs];
    out.PHP_INI_SCAN_DIR = [...new Set(dirs)].join(':');
  } else {
    if (extraDirs.length > 0) out.PHP_INI_SCAN_DIR = `${env.PHP_INI_SCAN_DIR ?? ''}:${extraDirs.join(':')}`;
    // Lambda's LD_LIBRARY_PATH (and serverless-offline's copy of it) names the layer's /opt/lib, whose glibc
    // is not the system's: a PHP of the system must not load from there (the layer's own find it by RPATH).
    const paths = env.LD_LIBRARY_PATH?.split(':');
    if (paths?.includes(LAYER_LIB)) out.LD_LIBRARY_PATH = paths.filter((p) => p !== LAYER_LIB).join(':');
  }
  return out;
}
