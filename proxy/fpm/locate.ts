import { execFile } from 'node:child_process';
import { accessSync, constants, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { PhpFpmNotFoundError } from '../errors.ts';
import { phpEnv } from './layer.ts';

const NAMES = /^php-fpm(\d+(?:\.\d+)?)?$/;

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `php-fpm8.4` sorts before `php-fpm8.2` (8.10 before 8.9), and unversioned `php-fpm` last. */
function newestFirst(a: string, b: string): number {
  const va = NAMES.exec(a)?.[1]?.split('.').map(Number);
  const vb = NAMES.exec(b)?.[1]?.split('.').map(Number);
  if (va === undefined) return vb === undefined ? 0 : 1;
  if (vb === undefined) return -1;
  return (vb[0]! - va[0]!) * 1000 + ((vb[1] ?? 0) - (va[1] ?? 0));
}

function findIn(dir: string): string | null {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return null;
  }
  const found = entries.filter((e) => NAMES.test(e)).sort(newestFirst);
  for (const name of found) if (executable(join(dir, name))) return join(dir, name);
  return null;
}

/**
 * Finds the php-fpm binary to spawn: `explicit` (config `phpFpmBinary` or `FPM_BRIDGE_PHP_FPM`), then
 * `php-fpm*` on PATH, then `/usr/sbin/php-fpm*` (Debian puts it there, outside a user's PATH) — in each
 * directory the newest version (`php-fpm8.4` before `php-fpm8.2`) —, then the
 * Lambda layer's `/opt/bin/php-fpm` (fpm-bridge's layer and Bref's both put it there; on Lambda `/opt/bin` is
 * also on PATH). Throws a one-line {@link PhpFpmNotFoundError} naming the fix.
 */
export function locatePhpFpm(
  explicit?: string,
  env: NodeJS.ProcessEnv = process.env,
  systemDirs: readonly string[] = ['/usr/sbin', '/usr/local/sbin'],
  layerBinary = '/opt/bin/php-fpm',
): string {
  if (explicit !== undefined && explicit !== '') {
    if (executable(explicit)) return explicit;
    throw new PhpFpmNotFoundError(
      `php-fpm binary "${explicit}" (from "phpFpmBinary" or FPM_BRIDGE_PHP_FPM) does not exist or is not executable`,
    );
  }
  const dirs = (env.PATH ?? '').split(delimiter).filter((d) => d !== '');
  for (const dir of [...dirs, ...systemDirs]) {
    const hit = findIn(dir);
    if (hit !== null) return hit;
  }
  if (executable(layerBinary)) return layerBinary;
  throw new PhpFpmNotFoundError(
    'php-fpm not found (looked at FPM_BRIDGE_PHP_FPM, PATH, /usr/sbin/php-fpm*, /usr/local/sbin/php-fpm*, /opt/bin/php-fpm) — install it with "apt-get install php8.4-fpm" (Debian 13; "php8.2-fpm" on Debian 12) or point FPM_BRIDGE_PHP_FPM at the binary',
  );
}

/**
 * The PHP version `binary` (php-fpm or php) reports with `-v` (`8.4.28`), or null when it cannot say. One
 * process start, for `serve`'s startup line; the Lambda handler never asks.
 */
export function phpVersion(binary: string): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(binary, ['-v'], { env: phpEnv(binary, [], process.env), timeout: 10_000 }, (err, stdout) =>
      resolve(err === null ? (/^PHP (\S+)/.exec(stdout)?.[1] ?? null) : null),
    );
  });
}
