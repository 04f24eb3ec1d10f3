/**
 * HTTP field syntax (RFC 9110 §5), for requests and responses alike: header lists, tokens, comma-separated
 * lists and the whitespace around them. Headers are flat `[name, value, ...]` lists in arrival order, values
 * one character per byte as they came (as `IncomingMessage.rawHeaders` has them).
 *
 * Only SP and HTAB are whitespace here (RFC 9110 §5.6.3). String.prototype.trim also strips U+00A0 (byte
 * 0xA0 read as latin1), U+2000… and U+FEFF: trimmed with it, `Transfer-Encoding: chunked\xA0` would read as
 * chunked where llhttp, nginx and HAProxy refuse it, and a proxy in front could frame the body otherwise.
 */

/** SP or HTAB: the optional whitespace (OWS) around field values and list items. */
export function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** `s` without leading and trailing SP and HTAB; nothing else is whitespace in HTTP. */
export function trimOws(s: string): string {
  let from = 0;
  let to = s.length;
  while (from < to && isOws(s.charCodeAt(from))) from++;
  while (to > from && isOws(s.charCodeAt(to - 1))) to--;
  return from === 0 && to === s.length ? s : s.slice(from, to);
}

/**
 * The items of a comma-separated field value (RFC 9110 §5.6.1), without the OWS around them, empty ones
 * dropped.
 *
 * @example listItems(' gzip ,, chunked') // ['gzip', 'chunked']
 */
export function listItems(value: string | undefined): string[] {
  const items: string[] = [];
  if (value === undefined) return items;
  let start = 0;
  while (start <= value.length) {
    let end = value.indexOf(',', start);
    if (end < 0) end = value.length;
    let from = start;
    let to = end;
    while (from < to && isOws(value.charCodeAt(from))) from++;
    while (to > from && isOws(value.charCodeAt(to - 1))) to--;
    if (to > from) items.push(value.slice(from, to));
    start = end + 1;
  }
  return items;
}

// RFC 9110 token characters (§5.6.2), indexed by byte: what methods, header names and codings consist of.
const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TOKEN[c.charCodeAt(0)] = 1;
}

/** Byte or character code `c` may appear in a token. */
export function isTokenChar(c: number): boolean {
  return TOKEN[c] === 1;
}

/** `s` is an RFC 9110 token (§5.6.2): what a method or a header name consists of. */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (TOKEN[s.charCodeAt(i)] !== 1) return false;
  return true;
}

const MONTHS = 'JanFebMarAprMayJunJulAugSepOctNovDec';
const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const MONTH = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '(\\d\\d):(\\d\\d):(\\d\\d)';
// RFC 9110 §5.6.7: IMF-fixdate, and the two obsolete forms a recipient must read too.
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d\\d) ${MONTH} (\\d{4}) ${TIME} GMT$`);
const RFC850_DATE = new RegExp(
  `^(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, (\\d\\d)-${MONTH}-(\\d\\d) ${TIME} GMT$`,
);
const ASCTIME_DATE = new RegExp(`^${DAY} ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`);

/**
 * An HTTP-date (RFC 9110 §5.6.7) as milliseconds since the epoch, or NaN when `value` is none. Date.parse
 * would read far more ("2030", "1", "Jan 1 2001") as a date, and a precondition on such a value must be
 * ignored (RFC 9110 §13.1.3), as nginx's ngx_parse_http_time ignores it.
 *
 * @example parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT') // 784111777000
 */
export function parseHttpDate(value: string): number {
  const v = trimOws(value);
  let m = IMF_FIXDATE.exec(v);
  if (m !== null) return utc(Number(m[3]), m[2]!, m[1]!, m[4]!, m[5]!, m[6]!);
  m = RFC850_DATE.exec(v);
  if (m !== null) {
    // A two-digit year more than 50 years ahead is in the past century (RFC 9110 §5.6.7).
    const now = new Date().getUTCFullYear();
    let year = now - (now % 100) + Number(m[3]);
    if (year > now + 50) year -= 100;
    return utc(year, m[2]!, m[1]!, m[4]!, m[5]!, m[6]!);
  }
  m = ASCTIME_DATE.exec(v);
  if (m !== null) return utc(Number(m[6]), m[1]!, m[2]!, m[3]!, m[4]!, m[5]!);
  return Number.NaN;
}

function utc(year: number, month: string, day: string, h: string, m: string, s: string): number {
  const d = Number(day);
  const t = Date.UTC(year, MONTHS.indexOf(month) / 3, d, Number(h), Number(m), Number(s));
  // Date.UTC carries "31 Feb" into March and 24:00 into the next day: such a date is none.
  const back = new Date(t);
  const exact =
    back.getUTCDate() === d && back.getUTCHours() === Number(h) && back.getUTCMinutes() === Number(m);
  return exact && back.getUTCSeconds() === Number(s) ? t : Number.NaN;
}

/** The first value of header `lower` (a lower-case name) in a flat `[name, value, ...]` list, any case. */
export function headerValue(headers: readonly string[], lower: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i]!.toLowerCase() === lower) return headers[i + 1];
  return undefined;
}

/** Every value of header `lower` in a flat list, in order. */
export function headerValues(headers: readonly string[], lower: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < headers.length; i += 2)
    if (headers[i]!.toLowerCase() === lower) values.push(headers[i + 1]!);
  return values;
}

/** Every value of header `lower` in a flat list, joined as one field (RFC 9110 §5.3); undefined if none. */
export function headerField(headers: readonly string[], lower: string): string | undefined {
  const values = headerValues(headers, lower);
  return values.length === 0 ? undefined : values.join(', ');
}

/** A header object (`{ 'Content-Type': 'text/plain' }`) as a flat `[name, value, ...]` list. */
export function flatHeaders(headers: Readonly<Record<string, string | number>>): string[] {
  return Object.entries(headers).flatMap(([name, value]) => [name, String(value)]);
}

/** A flat list without header `lower`. */
export function withoutHeader(headers: readonly string[], lower: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.toLowerCase() !== lower) out.push(headers[i]!, headers[i + 1]!);
  }
  return out;
}
