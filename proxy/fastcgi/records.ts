/**
 * FastCGI 1.0 record encoding (https://fastcgi-archives.github.io/FastCGI_Specification.html §3).
 *
 *    0        1        2        3        4        5        6        7
 *  +--------+--------+--------+--------+--------+--------+--------+--------+
 *  |version |  type  |   requestId     |  contentLength  |padding |reserved|
 *  +--------+--------+--------+--------+--------+--------+--------+--------+
 *  | content (contentLength bytes) ...  | padding (paddingLength bytes) ... |
 *
 * contentLength is a uint16, so a record carries at most 65535 bytes; we pad every record to a multiple of
 * eight (the spec's recommendation, what nginx and php-fpm itself do), which leaves 65528 content bytes
 * per record: 65529..65535 would need 1..7 padding bytes and overflow the uint16 sum that HAProxy got
 * wrong (598527673).
 */
import { HeadersTooLargeError } from '../errors.ts';

export const FCGI_VERSION_1 = 1;
export const HEADER_LENGTH = 8;
/** Largest content a padded record carries (a multiple of 8 below 65535). */
export const MAX_RECORD_CONTENT = 65528;
export const NULL_REQUEST_ID = 0;

export const BEGIN_REQUEST = 1;
export const ABORT_REQUEST = 2;
export const END_REQUEST = 3;
export const PARAMS = 4;
export const STDIN = 5;
export const STDOUT = 6;
export const STDERR = 7;
export const DATA = 8;
export const GET_VALUES = 9;
export const GET_VALUES_RESULT = 10;
export const UNKNOWN_TYPE = 11;

export const RECORD_TYPE_NAMES: readonly string[] = [
  'TYPE_0',
  'BEGIN_REQUEST',
  'ABORT_REQUEST',
  'END_REQUEST',
  'PARAMS',
  'STDIN',
  'STDOUT',
  'STDERR',
  'DATA',
  'GET_VALUES',
  'GET_VALUES_RESULT',
  'UNKNOWN_TYPE',
];

/** Record types whose content is a stream closed by an empty record of the same type. */
export function isStreamType(type: number): boolean {
  return type >= PARAMS && type <= DATA;
}

export const ROLE_RESPONDER = 1;
export const ROLE_AUTHORIZER = 2;
export const ROLE_FILTER = 3;
export const FLAG_KEEP_CONN = 1;

export const REQUEST_COMPLETE = 0;
export const CANT_MPX_CONN = 1;
export const OVERLOADED = 2;
export const UNKNOWN_ROLE = 3;

export const MAX_CONNS = 'FCGI_MAX_CONNS';
export const MAX_REQS = 'FCGI_MAX_REQS';
export const MPXS_CONNS = 'FCGI_MPXS_CONNS';

/** Padding that brings `length` to a multiple of 8. */
export function paddingFor(length: number): number {
  return -length & 7;
}

export function writeHeader(
  buf: Buffer,
  offset: number,
  type: number,
  requestId: number,
  contentLength: number,
  paddingLength: number,
): void {
  buf[offset] = FCGI_VERSION_1;
  buf[offset + 1] = type;
  buf[offset + 2] = requestId >> 8;
  buf[offset + 3] = requestId & 0xff;
  buf[offset + 4] = contentLength >> 8;
  buf[offset + 5] = contentLength & 0xff;
  buf[offset + 6] = paddingLength;
  // Reserved byte zeroed on purpose: HAProxy once leaked memory through it (2e6bf0a27).
  buf[offset + 7] = 0;
}

/** Bytes needed to carry `length` content bytes of one stream as padded records (no terminator). */
export function streamRecordsLength(length: number): number {
  const full = Math.floor(length / MAX_RECORD_CONTENT);
  const rest = length - full * MAX_RECORD_CONTENT;
  let total = full * (HEADER_LENGTH + MAX_RECORD_CONTENT);
  if (rest > 0) total += HEADER_LENGTH + rest + paddingFor(rest);
  return total;
}

/**
 * Copies `data` into `buf` at `offset` as stream records of `type`, split at 65528 bytes and padded.
 * Returns the offset after the last record. The terminating empty record is not written.
 */
export function writeStreamRecords(
  buf: Buffer,
  offset: number,
  type: number,
  requestId: number,
  data: Uint8Array,
): number {
  let pos = 0;
  while (pos < data.length) {
    const n = Math.min(MAX_RECORD_CONTENT, data.length - pos);
    const pad = paddingFor(n);
    writeHeader(buf, offset, type, requestId, n, pad);
    offset += HEADER_LENGTH;
    buf.set(data.subarray(pos, pos + n), offset);
    offset += n;
    if (pad > 0) {
      buf.fill(0, offset, offset + pad);
      offset += pad;
    }
    pos += n;
  }
  return offset;
}

/** Stream records of `type` for `data`, as one new buffer (no terminator). */
export function encodeStream(type: number, requestId: number, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(streamRecordsLength(data.length));
  writeStreamRecords(out, 0, type, requestId, data);
  return out;
}

/** The empty record that closes a stream (PARAMS, STDIN, ...). */
export function encodeStreamEnd(type: number, requestId: number): Buffer {
  const out = Buffer.allocUnsafe(HEADER_LENGTH);
  writeHeader(out, 0, type, requestId, 0, 0);
  return out;
}

/** BEGIN_REQUEST body: role(2) flags(1) reserved(5). */
export function writeBeginRequest(
  buf: Buffer,
  offset: number,
  requestId: number,
  role: number,
  flags: number,
) {
  writeHeader(buf, offset, BEGIN_REQUEST, requestId, 8, 0);
  buf[offset + 8] = role >> 8;
  buf[offset + 9] = role & 0xff;
  buf[offset + 10] = flags;
  buf.fill(0, offset + 11, offset + 16);
}

/** Length-prefix size of a name-value pair component: 1 byte below 128, else 4 bytes with the high bit. */
function lengthSize(n: number): number {
  return n < 128 ? 1 : 4;
}

function writeLength(buf: Buffer, offset: number, n: number): number {
  if (n < 128) {
    buf[offset] = n;
    return offset + 1;
  }
  buf.writeUInt32BE((n | 0x80000000) >>> 0, offset);
  return offset + 4;
}

/**
 * The request head as one buffer: BEGIN_REQUEST, PARAMS records split between pairs (never inside one: php-fpm
 * cannot reassemble a pair), the empty PARAMS record, then, when `body` is given, its STDIN records and the
 * empty STDIN record. One write per request on the hot path.
 *
 * `params` is a flat list `[name, value, name, value, ...]` of byte strings (one character per byte, see
 * proxy/byte-strings.ts): PARAMS carry bytes, and PHP must get those the client sent, UTF-8 or not.
 * Throws {@link HeadersTooLargeError} if one pair exceeds what a record can carry.
 */
export function encodeRequestHead(
  requestId: number,
  flags: number,
  params: readonly string[],
  body: Uint8Array | null,
): Buffer {
  const count = params.length;
  let total = 16; // BEGIN_REQUEST
  let recordContent = 0;
  for (let i = 0; i < count; i += 2) {
    const nl = params[i]!.length;
    const vl = params[i + 1]!.length;
    const pair = lengthSize(nl) + lengthSize(vl) + nl + vl;
    if (pair > MAX_RECORD_CONTENT) {
      throw new HeadersTooLargeError(
        `request header or param "${params[i]!.slice(0, 64)}" is ${pair} bytes once encoded; a FastCGI record carries at most ${MAX_RECORD_CONTENT} — shorten it`,
      );
    }
    if (recordContent + pair > MAX_RECORD_CONTENT) {
      total += HEADER_LENGTH + recordContent + paddingFor(recordContent);
      recordContent = 0;
    }
    recordContent += pair;
  }
  if (recordContent > 0) total += HEADER_LENGTH + recordContent + paddingFor(recordContent);
  total += HEADER_LENGTH; // empty PARAMS
  if (body !== null) total += streamRecordsLength(body.length) + HEADER_LENGTH;

  const buf = Buffer.allocUnsafe(total);
  writeBeginRequest(buf, 0, requestId, ROLE_RESPONDER, flags);
  let offset = 16;
  let headerAt = offset;
  offset += HEADER_LENGTH;
  recordContent = 0;
  for (let i = 0; i < count; i += 2) {
    const name = params[i]!;
    const value = params[i + 1]!;
    const pair = lengthSize(name.length) + lengthSize(value.length) + name.length + value.length;
    if (recordContent + pair > MAX_RECORD_CONTENT) {
      offset = closeRecord(buf, headerAt, requestId, recordContent);
      headerAt = offset;
      offset += HEADER_LENGTH;
      recordContent = 0;
    }
    offset = writeLength(buf, offset, name.length);
    offset = writeLength(buf, offset, value.length);
    offset = writeBytes(buf, offset, name);
    offset = writeBytes(buf, offset, value);
    recordContent += pair;
  }
  if (recordContent > 0) {
    offset = closeRecord(buf, headerAt, requestId, recordContent);
  } else {
    offset = headerAt;
  }
  writeHeader(buf, offset, PARAMS, requestId, 0, 0);
  offset += HEADER_LENGTH;
  if (body !== null) {
    offset = writeStreamRecords(buf, offset, STDIN, requestId, body);
    writeHeader(buf, offset, STDIN, requestId, 0, 0);
  }
  return buf;
}

/**
 * Strings up to this many characters are copied by a JS loop (every CGI name, most values): cheaper than a
 * call into C++ per string. Longer ones go through buf.write, whose per-call cost is amortised.
 */
const SHORT_STRING = 64;

/** Writes byte string `s` at `offset`; returns the offset after it. */
function writeBytes(buf: Buffer, offset: number, s: string): number {
  const n = s.length;
  if (n > SHORT_STRING) return offset + buf.write(s, offset, n, 'latin1');
  for (let i = 0; i < n; i++) buf[offset + i] = s.charCodeAt(i);
  return offset + n;
}

function closeRecord(buf: Buffer, headerAt: number, requestId: number, content: number): number {
  const pad = paddingFor(content);
  writeHeader(buf, headerAt, PARAMS, requestId, content, pad);
  const end = headerAt + HEADER_LENGTH + content;
  if (pad > 0) buf.fill(0, end, end + pad);
  return end + pad;
}

/** Name-value pairs body (GET_VALUES, GET_VALUES_RESULT, PARAMS content) for small management records. */
export function encodePairs(pairs: readonly string[]): Buffer {
  let size = 0;
  for (let i = 0; i < pairs.length; i++) {
    const n = Buffer.byteLength(pairs[i]!, 'utf8');
    size += lengthSize(n) + n;
  }
  const buf = Buffer.allocUnsafe(size);
  let offset = 0;
  for (let i = 0; i < pairs.length; i += 2) {
    const nl = Buffer.byteLength(pairs[i]!, 'utf8');
    const vl = Buffer.byteLength(pairs[i + 1]!, 'utf8');
    offset = writeLength(buf, offset, nl);
    offset = writeLength(buf, offset, vl);
    offset += buf.write(pairs[i]!, offset, nl, 'utf8');
    offset += buf.write(pairs[i + 1]!, offset, vl, 'utf8');
  }
  return buf;
}

/**
 * Decodes name-value pairs. Returns `null` when the content is not a whole number of well-formed pairs
 * (a truncated length or a length pointing past the end — the out-of-bounds read HAProxy fixed in 96286b2a8).
 */
export function decodePairs(content: Buffer): string[] | null {
  const out: string[] = [];
  let pos = 0;
  while (pos < content.length) {
    const lens = [0, 0];
    for (let k = 0; k < 2; k++) {
      if (pos >= content.length) return null;
      const b = content[pos]!;
      if (b < 128) {
        lens[k] = b;
        pos += 1;
      } else {
        if (pos + 4 > content.length) return null;
        lens[k] = content.readUInt32BE(pos) & 0x7fffffff;
        pos += 4;
      }
    }
    const end = pos + lens[0]! + lens[1]!;
    if (end > content.length) return null;
    out.push(content.toString('utf8', pos, pos + lens[0]!), content.toString('utf8', pos + lens[0]!, end));
    pos = end;
  }
  return out;
}

/** A whole management or single record with its content (used for GET_VALUES and by test servers). */
export function encodeRecord(type: number, requestId: number, content: Uint8Array): Buffer {
  const pad = paddingFor(content.length);
  const buf = Buffer.allocUnsafe(HEADER_LENGTH + content.length + pad);
  writeHeader(buf, 0, type, requestId, content.length, pad);
  buf.set(content, HEADER_LENGTH);
  buf.fill(0, HEADER_LENGTH + content.length);
  return buf;
}

/** END_REQUEST body: appStatus(4) protocolStatus(1) reserved(3). */
export function encodeEndRequest(requestId: number, appStatus: number, protocolStatus: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt32BE(appStatus >>> 0, 0);
  body[4] = protocolStatus;
  return encodeRecord(END_REQUEST, requestId, body);
}
