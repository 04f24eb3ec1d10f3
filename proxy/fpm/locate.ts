import { execFile } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { basename, delimiter, dirname, join } from 'node:path';
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

/** `8.4` → [8, 4]; null for an unversioned name whose version nothing says. */
type Version = number[] | null;

/** The version a php-fpm's name carries (`php-fpm8.4`), or the manifest of fpm-bridge's layer it is in. */
function versionOf(path: string): Version {
  const named = NAMES.exec(basename(path))?.[1];
  if (named !== undefined) return named.split('.').map(Number);
  try {
    const manifest = join(dirname(dirname(path)), 'share', 'fpm-bridge', 'layer.json');
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { php: string }).php.split('.').map(Number);
  } catch {
    return null;
  }
}

/** Newer first (8.10 before 8.9); a version nothing says comes last. */
function newer(a: Version, b: Version): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? 1 : -1;
  return (b[0]! - a[0]!) * 1000 + ((b[1] ?? 0) - (a[1] ?? 0));
}

function candidatesIn(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.filter((e) => NAMES.test(e)).map((e) => join(dir, e));
}

/**
 * Finds the php-fpm binary to spawn: `explicit` (config `phpFpmBinary` or `FPM_BRIDGE_PHP_FPM`), else the
 * newest PHP among `php-fpm*` on PATH, `/usr/sbin/php-fpm*` (Debian puts it there, outside a user's PATH)
 * and the Lambda layer's `/opt/bin/php-fpm` (fpm-bridge's layer and Bref's both put it there; on Lambda
 * `/opt/bin` is also on PATH): `php-fpm8.4` before `php-fpm8.2`, a version read from the name or from the
 * manifest of fpm-bridge's layer; for the same version, the first found in that order. Throws a one-line
 * {@link PhpFpmNotFoundError} naming the fix.
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
  const found = [...dirs, ...systemDirs].flatMap(candidatesIn);
  found.push(layerBinary);
  const ranked = [...new Set(found)]
    .filter(executable)
    .map((path, order) => ({ path, order, version: versionOf(path) }))
    .sort((a, b) => newer(a.version, b.version) || a.order - b.order);
  if (ranked.length > 0) return ranked[0]!.path;
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
