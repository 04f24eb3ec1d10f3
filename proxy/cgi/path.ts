import { BadRequestError, NotFoundError } from '../errors.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes and normalises the URL path used to find a script or file. `raw` is a byte string (see
 * proxy/byte-strings.ts): bytes sent raw and bytes sent percent-encoded decode alike, as UTF-8 text. The
 * result always starts with `/`, has no `.`/`..` segments and no empty segments, and keeps a trailing slash.
 *
 * - CR, LF or NUL anywhere, raw or percent-encoded → 400. A `%0a` is what CVE-2019-11043 fed to nginx's
 *   `fastcgi_split_path_info` to break php-fpm's PATH_INFO arithmetic; NUL once made PHP run non-PHP files.
 * - Bad percent-encoding or bytes that are not UTF-8 → 400.
 * - A `..` that would climb above the root, or a backslash → 404: the path can never leave the docroot.
 *
 * @example decodePath('/a/./b/../c%20d.php') // '/a/c d.php'
 */
export function decodePath(raw: string): string {
  if (raw.charCodeAt(0) !== 0x2f) {
    throw new BadRequestError(`request path "${printable(raw.slice(0, 80))}" does not start with "/"`);
  }
  let plain = true;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x25 /* % */ || c === 0x5c /* \ */ || c < 0x20 || c >= 0x7f) {
      plain = false;
      break;
    }
    // "//" and a segment starting with "." (".", "..", or a dotfile) need the full treatment.
    if (c === 0x2f && (raw.charCodeAt(i + 1) === 0x2f || raw.charCodeAt(i + 1) === 0x2e)) {
      plain = false;
      break;
    }
  }
  if (plain) return raw;
  const decoded = bytesToText(raw);
  for (let i = 0; i < decoded.length; i++) {
    const c = decoded.charCodeAt(i);
    if (c === 0x0a || c === 0x0d || c === 0) {
      throw new BadRequestError(
        `request path contains a ${c === 0 ? 'NUL' : c === 0x0a ? 'line feed' : 'carriage return'} (raw "${printable(raw.slice(0, 80))}"); such paths are refused (CVE-2019-11043)`,
      );
    }
    if (c === 0x5c) {
      throw new NotFoundError(`request path "${printable(raw.slice(0, 80))}" contains a backslash`);
    }
  }
  return normalise(decoded, raw);
}

/** The path's bytes, raw and percent-encoded alike, as the UTF-8 text they are. */
function bytesToText(raw: string): string {
  const bytes = Buffer.allocUnsafe(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x25) {
      const hi = hex(raw.charCodeAt(i + 1));
      const lo = hex(raw.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) {
        throw new BadRequestError(
          `request path "${printable(raw.slice(0, 80))}" has an invalid percent-encoding at "${raw.slice(i, i + 3)}"`,
        );
      }
      bytes[n++] = (hi << 4) | lo;
      i += 2;
    } else {
      bytes[n++] = c;
    }
  }
  try {
    return utf8.decode(bytes.subarray(0, n));
  } catch {
    throw new BadRequestError(`request path "${printable(raw.slice(0, 80))}" does not decode to UTF-8`);
  }
}

function hex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

function normalise(path: string, raw: string): string {
  const parts = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) {
    const seg = parts[i]!;
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length === 0) {
        throw new NotFoundError(
          `request path "${printable(raw.slice(0, 80))}" climbs above the document root`,
        );
      }
      out.pop();
      continue;
    }
    out.push(seg);
  }
  const last = parts[parts.length - 1];
  const trailing = out.length > 0 && (last === '' || last === '.' || last === '..');
  return `/${out.join('/')}${trailing ? '/' : ''}`;
}

/** Replaces control characters for messages and logs (no log injection through a path). */
export function printable(s: string): string {
  return s.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
