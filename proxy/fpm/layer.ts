import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The ini directory of an fpm-bridge layer that `binary` belongs to: `<prefix>/etc/php` when `binary` is
 * `<prefix>/bin/<name>` and `<prefix>/etc/php/php.ini` exists (`/opt/etc/php` on Lambda), else null.
 */
export function layerIniDir(binary: string): string | null {
  const dir = join(dirname(dirname(binary)), 'etc', 'php');
  return existsSync(join(dir, 'php.ini')) ? dir : null;
}

/**
 * The environment to start `binary` (php-fpm or php) with, so that PHP reads the right ini files.
 *
 * - A layer's binaries are Debian's, compiled to read `/etc/php/8.2/…`: they get `PHPRC=<layer>/etc/php`
 *   (unless PHPRC is set) and `PHP_INI_SCAN_DIR` = the layer's `conf.d` (the extensions), then any
 *   PHP_INI_SCAN_DIR already set, then `extraDirs`. No empty entry: the compiled-in dir is the host's, whose
 *   extensions would not match the layer's PHP. PHP's children (`exec('php …')` from a script) inherit it.
 * - Any other php-fpm keeps its compiled-in scan dir (the leading `:`) and gets `extraDirs` after it.
 *
 * @example
 *   phpEnv('/opt/bin/php-fpm', ['/var/task/php/conf.d'], {})
 *   // { PHPRC: '/opt/etc/php', PHP_INI_SCAN_DIR: '/opt/etc/php/conf.d:/var/task/php/conf.d' }
 */
export function phpEnv(
  binary: string,
  extraDirs: readonly string[],
  env: NodeJS.ProcessEnv,
): NodeJS.ProcessEnv {
  const out = { ...env };
  const layer = layerIniDir(binary);
  if (layer !== null) {
    out.PHPRC = env.PHPRC ?? layer;
    const given = (env.PHP_INI_SCAN_DIR ?? '').split(':').filter((d) => d !== '');
    out.PHP_INI_SCAN_DIR = [join(layer, 'conf.d'), ...given, ...extraDirs].join(':');
  } else if (extraDirs.length > 0) {
    out.PHP_INI_SCAN_DIR = `${env.PHP_INI_SCAN_DIR ?? ''}:${extraDirs.join(':')}`;
  }
  return out;
}
