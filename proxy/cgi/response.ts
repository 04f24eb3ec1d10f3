import { BadResponseError } from '../errors.ts';
import { isOws, isTokenChar } from '../header-fields.ts';
import { reasonPhrase } from '../status.ts';
import { printable } from './path.ts';

/** The CGI response head (RFC 3875 §6) as a front needs it. */
export interface CgiHead {
  status: number;
  statusText: string;
  /** Flat `[name, value, ...]` in arrival order; repeated names (Set-Cookie) stay separate entries. */
  headers: string[];
}

export const DEFAULT_MAX_HEADER_SIZE = 64 * 1024;

const LF = 0x0a;
const CR = 0x0d;

/**
 * Incremental parser for the header block php-fpm writes at the start of STDOUT. The block may arrive
 * split across any number of STDOUT records (PHP splits headers over 8 KiB, h2o#958), with CRLF or bare LF
 * line ends. `Status:` sets the code (and is removed), `Location:` without `Status:` means 302 whatever
 * the order (HAProxy ca79ed5ee), repeated headers are kept apart.
 *
 * @example
 *   const p = new CgiHeadParser()
 *   const rest = p.push(Buffer.from('Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope'))
 *   // p.head → { status: 404, statusText: 'Not Found', headers: ['Content-Type', 'text/plain'] }; rest → 'nope'
 */
export class CgiHeadParser {
  head: CgiHead | null = null;
  private pending: Buffer | null = null;

  constructor(private readonly maxSize = DEFAULT_MAX_HEADER_SIZE) {}

  /**
   * Feeds STDOUT bytes. Returns null while the head is incomplete; once complete, the body bytes that
   * followed it in this chunk (possibly empty). Throws {@link BadResponseError} on a malformed or oversized head.
   */
  push(chunk: Buffer): Buffer | null {
    let data = chunk;
    let searchFrom = 0;
    if (this.pending !== null) {
      // Resume the search a little before the join so a terminator split across chunks is found.
      searchFrom = Math.max(0, this.pending.length - 2);
      data = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    const end = findHeadEnd(data, searchFrom);
    if (end < 0) {
      if (data.length > this.maxSize) throw tooLarge(this.maxSize);
      this.pending = data;
      return null;
    }
    if (end > this.maxSize) throw tooLarge(this.maxSize);
    this.head = parseHead(data, end);
    return data.subarray(end);
  }

  /** Bytes received that did not make a complete head (for the "ended before headers" error). */
  get buffered(): number {
    return this.pending?.length ?? 0;
  }
}

function tooLarge(max: number): BadResponseError {
  return new BadResponseError(
    `PHP sent more than ${max} bytes of response headers without ending them — raise "maxResponseHeaderSize" or send fewer headers`,
  );
}

/** Offset just past the empty line that ends the head (`\n\n` or `\n\r\n`), or -1. */
function findHeadEnd(buf: Buffer, from: number): number {
  // No header lines at all: the block is just the empty line.
  if (buf[0] === LF) return 1;
  if (buf[0] === CR && buf[1] === LF) return 2;
  let i = buf.indexOf(LF, from);
  while (i >= 0) {
    const next = buf[i + 1];
    if (next === LF) return i + 2;
    if (next === CR && buf[i + 2] === LF) return i + 3;
    if (next === undefined || (next === CR && i + 2 >= buf.length)) return -1;
    i = buf.indexOf(LF, i + 1);
  }
  return -1;
}

function parseHead(buf: Buffer, end: number): CgiHead {
  const headers: string[] = [];
  let status = 0;
  let statusText = '';
  let location = false;
  let contentLength: string | null = null;
  let pos = 0;
  // A body that starts at once (end is just the empty line) has no header lines at all.
  const stop = end - (buf[end - 2] === CR ? 2 : 1);
  while (pos < stop) {
    let eol = buf.indexOf(LF, pos);
    if (eol < 0 || eol > stop) eol = stop;
    const lineEnd = eol > pos && buf[eol - 1] === CR ? eol - 1 : eol;
    if (isOws(buf[pos]!)) {
      throw new BadResponseError(
        'PHP sent a folded (obs-fold) response header line; headers must fit on one line',
      );
    }
    let colon = pos;
    while (colon < lineEnd && isTokenChar(buf[colon]!)) colon++;
    if (colon === pos || colon >= lineEnd || buf[colon] !== 0x3a) {
      throw new BadResponseError(
        `PHP sent a malformed response header line "${printable(buf.toString('latin1', pos, Math.min(lineEnd, pos + 80)))}" (expected "Name: value")`,
      );
    }
    const name = buf.toString('latin1', pos, colon);
    let vs = colon + 1;
    let ve = lineEnd;
    while (vs < ve && isOws(buf[vs]!)) vs++;
    while (ve > vs && isOws(buf[ve - 1]!)) ve--;
    pos = eol + 1;
    if (hasControl(buf, vs, ve)) continue; // dropped: no header injection through PHP's output
    const value = buf.toString('latin1', vs, ve);
    if (name.length === 6 && name.toLowerCase() === 'status') {
      const m = /^([1-9]\d\d)(?:[ \t]+(.*))?$/.exec(value);
      if (m === null) {
        throw new BadResponseError(
          `PHP sent an invalid "Status: ${printable(value.slice(0, 40))}" header (expected a 3-digit code)`,
        );
      }
      status = Number(m[1]);
      // A 1xx is interim (RFC 9110 §15.2): sent as the final status, the client would wait for another one.
      if (status < 200) {
        throw new BadResponseError(
          `PHP sent "Status: ${status}", an interim status, as its response status (expected 200-599)`,
        );
      }
      // RFC 9110 §15: status codes run from 100 to 599; clients treat others as malformed.
      if (status > 599) {
        throw new BadResponseError(
          `PHP sent "Status: ${status}", which is no HTTP status (expected 200-599)`,
        );
      }
      statusText = m[2] ?? '';
      continue;
    }
    if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') {
      throw new BadResponseError(
        `PHP set "Transfer-Encoding: ${printable(value.slice(0, 40))}"; the front frames the body itself — remove that header() call`,
      );
    }
    if (name.length === 14 && name.toLowerCase() === 'content-length') {
      // The front frames the body by it: a wrong or doubled one would desync a kept connection (RFC 9112 §6.3).
      if (!/^\d{1,15}$/.test(value)) {
        throw new BadResponseError(
          `PHP sent an invalid "Content-Length: ${printable(value.slice(0, 40))}" (expected a number of bytes)`,
        );
      }
      if (contentLength !== null && contentLength !== value) {
        throw new BadResponseError(
          `PHP sent two different Content-Length headers (${contentLength} and ${value})`,
        );
      }
      if (contentLength !== null) continue;
      contentLength = value;
    }
    // Hop-by-hop (RFC 9110 §7.6.1): about PHP's connection to php-fpm, not the client's. nginx drops them too.
    if (
      (name.length === 10 && name.toLowerCase() === 'connection') ||
      (name.length === 10 && name.toLowerCase() === 'keep-alive')
    ) {
      continue;
    }
    if (name.length === 8 && name.toLowerCase() === 'location') location = true;
    headers.push(name, value);
  }
  if (status === 204 && contentLength !== null) {
    // RFC 9110 §8.6: a 204 carries no Content-Length.
    const at = headers.findIndex((h, i) => i % 2 === 0 && h.toLowerCase() === 'content-length');
    headers.splice(at, 2);
  }
  if (status === 0) status = location ? 302 : 200;
  if (statusText === '') statusText = reasonPhrase(status);
  return { status, statusText, headers };
}

function hasControl(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = buf[i]!;
    // Control characters other than HTAB are invalid in a field value (RFC 9110 §5.5) and CR/LF would split it.
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}
