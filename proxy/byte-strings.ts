import { isUtf8 } from 'node:buffer';

/**
 * Byte strings: what the core passes bytes from the wire as — one character per byte (latin1), the way
 * node:net hands them over and FastCGI PARAMS carry them back out. A request's target and header values stay
 * byte strings from the front to php-fpm, so PHP gets the bytes the client sent, UTF-8 or not, as nginx
 * passes them. Text (configuration, a Lambda event's JSON) becomes a byte string by its UTF-8 encoding
 * ({@link byteString}); a byte string becomes text where text is needed, as a Lambda result's JSON
 * ({@link headerText}).
 */

/**
 * The UTF-8 bytes of `text` as a byte string; `text` itself when it is ASCII, as it mostly is.
 *
 * @example byteString('/café') // '/caf\xc3\xa9'
 */
export function byteString(text: string): string {
  return isAscii(text) ? text : Buffer.from(text, 'utf8').toString('latin1');
}

/**
 * A header value or a target held as bytes as the text those bytes are: UTF-8 when they are valid UTF-8
 * (what browsers and PHP send: `filename="café.txt"`, a non-ASCII redirect), else ISO-8859-1, HTTP's
 * historical header charset. For where a value must be text rather than bytes: Lambda results, which are
 * JSON, and log lines.
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

/**
 * Every character below 0x80: exactly then is its UTF-8 encoding as long as the string. Node's native count
 * is a tenth of a JavaScript loop's cost on a Lambda context's JSON (350 characters: 0.1 µs, not 1 µs).
 */
function isAscii(s: string): boolean {
  return Buffer.byteLength(s, 'utf8') === s.length;
}
