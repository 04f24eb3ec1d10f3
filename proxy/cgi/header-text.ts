import { isUtf8 } from 'node:buffer';

/**
 * Header values as node:http and the CGI head parser hold them — one character per byte (latin1), so that
 * they leave byte for byte through node:http — as the text those bytes are: UTF-8 when they are valid UTF-8
 * (what browsers and PHP send: `filename="café.txt"`, a non-ASCII redirect), else ISO-8859-1, HTTP's
 * historical header charset. For where a value must be text rather than bytes: PHP's params, which the
 * FastCGI encoder writes as UTF-8, and Lambda results, which are JSON.
 *
 * @example
 *   headerText('Zo\xc3\xab')  // 'Zoë'
 *   headerText('caf\xe9')     // 'café' (not UTF-8: read as ISO-8859-1)
 */
export function headerText(value: string): string {
  if (isAscii(value)) return value;
  const bytes = Buffer.from(value, 'latin1');
  return isUtf8(bytes) ? bytes.toString('utf8') : value;
}

/** A flat `[name, value, ...]` list with every value as {@link headerText}; the same list when all are ASCII. */
export function headersAsText(flat: string[]): string[] {
  for (let i = 1; i < flat.length; i += 2) {
    if (isAscii(flat[i]!)) continue;
    const out = flat.slice();
    for (let j = i; j < out.length; j += 2) out[j] = headerText(out[j]!);
    return out;
  }
  return flat;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}
