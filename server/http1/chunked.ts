import { BadRequestError } from '../../proxy/errors.ts';
import { isOws } from '../../proxy/header-fields.ts';

enum State {
  Size,
  /** Whitespace after the size: only more of it, `;` or the line end may follow. */
  SizeBlank,
  Extension,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  Trailer,
  TrailerLf,
}

/** A chunk-size line (size and extensions) longer than this is refused: nobody needs more. */
const MAX_SIZE_LINE = 4096;
/** Hex digits of a chunk size: 13 reach 2^52, within a safe integer. */
const MAX_SIZE_DIGITS = 13;

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/**
 * Decodes a request body in chunked transfer coding (RFC 9112 §7.1) as it arrives, in pieces of any size.
 * Strict like the head parser: CRLF line ends only, a size of hex digits (then only whitespace before `;`
 * or the line end), extensions of visible characters
 * (ignored), trailer fields (dropped) within `maxTrailerSize` bytes. Body bytes are handed on as slices of
 * the input, not copied.
 */
export class ChunkedDecoder {
  private state = State.Size;
  private size = 0;
  private digits = 0;
  private lineLength = 0;
  /** Bytes of the chunk being read still to come. */
  private left = 0;
  private trailerBytes = 0;
  /** Bytes on the current trailer line, to tell the empty line that ends the body from a field. */
  private trailerLine = 0;
  done = false;

  constructor(private readonly maxTrailerSize: number) {}

  /**
   * Decodes `data`, calling `onData` with each piece of body. Returns the offset in `data` just past the
   * body's end, or -1 when the body goes on in the next data.
   */
  push(data: Buffer, onData: (chunk: Buffer) => void): number {
    let i = 0;
    const n = data.length;
    while (i < n) {
      switch (this.state) {
        case State.Data: {
          const take = Math.min(this.left, n - i);
          onData(data.subarray(i, i + take));
          i += take;
          this.left -= take;
          if (this.left === 0) this.state = State.DataCr;
          continue;
        }
        case State.Size: {
          const c = data[i]!;
          const v = hexValue(c);
          if (v >= 0) {
            if (++this.digits > MAX_SIZE_DIGITS) throw bad('chunk size too large');
            this.size = this.size * 16 + v;
          } else if (this.digits === 0) {
            throw bad('chunk size is not a hex number');
          } else if (c === 0x3b) {
            this.state = State.Extension;
          } else if (isOws(c)) {
            this.state = State.SizeBlank;
          } else if (c === 0x0d) {
            this.state = State.SizeLf;
          } else {
            throw bad('chunk size is not a hex number');
          }
          this.sizeLine();
          i++;
          continue;
        }
        case State.SizeBlank: {
          const c = data[i]!;
          if (c === 0x3b) this.state = State.Extension;
          else if (c === 0x0d) this.state = State.SizeLf;
          else if (!isOws(c)) throw bad('chunk size is not a hex number');
          this.sizeLine();
          i++;
          continue;
        }
        case State.Extension: {
          const c = data[i]!;
          if (c === 0x0d) this.state = State.SizeLf;
          else if ((c < 0x20 && c !== 0x09) || c === 0x7f)
            throw bad('control character in a chunk extension');
          this.sizeLine();
          i++;
          continue;
        }
        case State.SizeLf:
          if (data[i] !== 0x0a) throw bad('chunk size line not ended by CRLF');
          i++;
          if (this.size === 0) {
            this.state = State.Trailer;
            this.trailerLine = 0;
          } else {
            this.left = this.size;
            this.state = State.Data;
          }
          this.size = 0;
          this.digits = 0;
          this.lineLength = 0;
          continue;
        case State.DataCr:
          if (data[i] !== 0x0d) throw bad('chunk data not followed by CRLF');
          this.state = State.DataLf;
          i++;
          continue;
        case State.DataLf:
          if (data[i] !== 0x0a) throw bad('chunk data not followed by CRLF');
          this.state = State.Size;
          i++;
          continue;
        case State.Trailer: {
          const c = data[i]!;
          i++;
          if (++this.trailerBytes > this.maxTrailerSize) throw bad('chunked trailer fields too large');
          if (c === 0x0d) {
            this.state = State.TrailerLf;
          } else if ((c < 0x20 && c !== 0x09) || c === 0x7f) {
            throw bad('control character in a chunked trailer field');
          } else {
            this.trailerLine++;
          }
          continue;
        }
        case State.TrailerLf:
          if (data[i] !== 0x0a) throw bad('chunked trailer line not ended by CRLF');
          i++;
          if (this.trailerLine === 0) {
            this.done = true;
            return i;
          }
          this.trailerLine = 0;
          this.state = State.Trailer;
          continue;
      }
    }
    return -1;
  }

  private sizeLine(): void {
    if (++this.lineLength > MAX_SIZE_LINE) throw bad('chunk size line too long');
  }
}

function bad(message: string): BadRequestError {
  return new BadRequestError(`malformed chunked request body: ${message}`);
}
