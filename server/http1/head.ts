import { printable as escaped } from '../../proxy/cgi/path.ts';
import {
  BadRequestError,
  ExpectationFailedError,
  HttpVersionError,
  NotImplementedError,
} from '../../proxy/errors.ts';
import { isOws, isToken, listItems } from '../../proxy/header-fields.ts';

/** A request head as the client sent it, its framing decided (RFC 9112 §6). */
export interface RequestHead {
  method: string;
  /** The request target, one character per byte as sent. */
  target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: number;
  /** Names and values in turn, as sent (one character per byte, surrounding whitespace trimmed). */
  rawHeaders: string[];
  /** The body's length from Content-Length; null with none (or with chunked). */
  contentLength: number | null;
  /** The body comes in chunked transfer coding. */
  chunked: boolean;
  /** The client may send another request on this connection. */
  keepAlive: boolean;
  /** `Expect: 100-continue`: the client waits for a 100 before it sends the body. */
  expectContinue: boolean;
}

/** A header value holds no control character but HTAB (RFC 9110 §5.5); obs-text (0x80–0xFF) is allowed. */
const BAD_VALUE = /[\0-\x08\x0a-\x1f\x7f]/;
/** A request target is visible characters only: no space, no control character (RFC 9112 §3.2). */
const BAD_TARGET = /[\0-\x20\x7f]/;
const VERSION = /^HTTP\/(\d)\.(\d)$/;
const DIGITS = /^\d+$/;

function bad(message: string): BadRequestError {
  return new BadRequestError(message);
}

/**
 * Parses a request head: `text` is its bytes one character each, from the request line up to, not
 * including, the empty line. Strict where leniency lets two parsers disagree about where a request ends
 * (request smuggling): lines end in CRLF only, no whitespace before a header's colon, no line folding, one
 * Content-Length of digits only, never Content-Length beside Transfer-Encoding, chunked last.
 */
export function parseRequestHead(text: string): RequestHead {
  let lineEnd = text.indexOf('\r\n');
  if (lineEnd < 0) lineEnd = text.length;
  const line = text.slice(0, lineEnd);
  const sp1 = line.indexOf(' ');
  const sp2 = line.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || line.indexOf(' ', sp2 + 1) >= 0)
    throw bad(`malformed request line "${printable(line)}": expected METHOD TARGET HTTP/1.1`);
  const method = line.slice(0, sp1);
  const target = line.slice(sp1 + 1, sp2);
  const version = VERSION.exec(line.slice(sp2 + 1));
  if (!isToken(method)) throw bad(`invalid method "${printable(method)}"`);
  if (target.length === 0 || BAD_TARGET.test(target))
    throw bad(`invalid request target "${printable(target)}"`);
  if (version === null) throw bad(`malformed HTTP version "${printable(line.slice(sp2 + 1))}"`);
  if (version[1] !== '1' || (version[2] !== '0' && version[2] !== '1'))
    throw new HttpVersionError(`HTTP/${version[1]}.${version[2]} is not supported: use HTTP/1.1`);
  const minor = version[2] === '1' ? 1 : 0;

  const rawHeaders: string[] = [];
  let contentLength: number | null = null;
  let codings: string | null = null;
  let connection = '';
  let expect: string | null = null;
  let hosts = 0;
  let at = lineEnd + 2;
  while (at < text.length) {
    let end = text.indexOf('\r\n', at);
    if (end < 0) end = text.length;
    if (isOws(text.charCodeAt(at))) throw bad('obsolete line folding in the request headers');
    const colon = text.indexOf(':', at);
    if (colon < 0 || colon > end) throw bad(`malformed header line "${printable(text.slice(at, end))}"`);
    const name = text.slice(at, colon);
    if (!isToken(name)) throw bad(`invalid header name "${printable(name)}"`);
    let from = colon + 1;
    let to = end;
    while (from < to && isOws(text.charCodeAt(from))) from++;
    while (to > from && isOws(text.charCodeAt(to - 1))) to--;
    const value = text.slice(from, to);
    if (BAD_VALUE.test(value)) throw bad(`control character in the value of header "${name}"`);
    rawHeaders.push(name, value);
    at = end + 2;
    // Only the framing headers are looked at here; the core reads the others.
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'host') hosts++;
        break;
      case 6:
        if (name.toLowerCase() === 'expect') expect = expect === null ? value : `${expect}, ${value}`;
        break;
      case 10:
        if (name.toLowerCase() === 'connection') connection += `,${value.toLowerCase()}`;
        break;
      case 14:
        if (name.toLowerCase() === 'content-length') {
          if (contentLength !== null) throw bad('more than one Content-Length header');
          if (!DIGITS.test(value)) throw bad(`invalid Content-Length "${printable(value)}"`);
          contentLength = Number(value);
          if (!Number.isSafeInteger(contentLength)) throw bad(`Content-Length ${value} is too large`);
        }
        break;
      case 17:
        if (name.toLowerCase() === 'transfer-encoding')
          codings = codings === null ? value : `${codings}, ${value}`;
        break;
    }
  }
  if (minor === 1 && hosts === 0) throw bad('HTTP/1.1 request without a Host header');

  let chunked = false;
  if (codings !== null) {
    if (minor === 0) throw bad('Transfer-Encoding in an HTTP/1.0 request');
    if (contentLength !== null) throw bad('both Content-Length and Transfer-Encoding');
    const list = listItems(codings.toLowerCase());
    // The final coding must be chunked, or the body's end is unknown (RFC 9112 §6.3): refused.
    if (list.at(-1) !== 'chunked') throw bad(`request body in "Transfer-Encoding: ${printable(codings)}"`);
    if (list.length > 1)
      throw new NotImplementedError(
        `request body in "Transfer-Encoding: ${printable(codings).slice(0, 40)}": only chunked is understood`,
      );
    chunked = true;
  }
  let expectContinue = false;
  if (expect !== null) {
    if (expect.toLowerCase() !== '100-continue')
      throw new ExpectationFailedError(`"Expect: ${printable(expect)}" cannot be met: only 100-continue is`);
    // An HTTP/1.0 client does not know 100 (RFC 9110 §10.1.1): ignored.
    expectContinue = minor === 1;
  }
  const options = listItems(connection);
  const keepAlive = minor === 1 ? !options.includes('close') : options.includes('keep-alive');
  return { method, target, minor, rawHeaders, contentLength, chunked, keepAlive, expectContinue };
}

/** Text for an error message: cut at 80 characters, control characters shown as escapes. */
function printable(s: string): string {
  return escaped(s.slice(0, 80));
}
