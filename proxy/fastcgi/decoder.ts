import { ProtocolError } from '../errors.ts';
import { FCGI_VERSION_1, HEADER_LENGTH, isStreamType } from './records.ts';

/** Receives decoded records. Stream content arrives in pieces as the bytes do; other records whole. */
export interface RecordSink {
  /** A non-empty piece of a stream record (PARAMS, STDIN, STDOUT, STDERR, DATA). */
  onStream(type: number, requestId: number, data: Buffer): void;
  /** The empty record that ends a stream. */
  onStreamEnd(type: number, requestId: number): void;
  /** A whole non-stream record (BEGIN_REQUEST, END_REQUEST, GET_VALUES*, UNKNOWN_TYPE, ...). */
  onRecord(type: number, requestId: number, content: Buffer): void;
}

const HEADER = 0;
const CONTENT = 1;
const PADDING = 2;

/**
 * Incremental FastCGI record decoder: correct for any split of the input (a header cut at any byte, a
 * record spread over many reads), copying only to reassemble a split header or a split non-stream
 * record. Stream content is handed on as sub-slices of the input chunk.
 *
 * Throws {@link ProtocolError} on a version other than 1; which types and request ids are acceptable is
 * the sink's business. Call {@link stop} from a sink to drop the rest of the current chunk.
 */
export class RecordDecoder {
  private state = HEADER;
  private readonly header = Buffer.allocUnsafe(HEADER_LENGTH);
  private headerFill = 0;
  private type = 0;
  private requestId = 0;
  private contentLeft = 0;
  private paddingLeft = 0;
  private stream = false;
  private record: Buffer | null = null;
  private recordFill = 0;
  private stopped = false;

  constructor(private readonly sink: RecordSink) {}

  /** Stops decoding; later `push` calls are ignored. */
  stop(): void {
    this.stopped = true;
  }

  /** True when the decoder sits between records (a close here loses no partial record). */
  get atBoundary(): boolean {
    return this.state === HEADER && this.headerFill === 0;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    const len = chunk.length;
    while (pos < len && !this.stopped) {
      if (this.state === HEADER) {
        if (this.headerFill === 0 && len - pos >= HEADER_LENGTH) {
          this.startRecord(chunk, pos);
          pos += HEADER_LENGTH;
        } else {
          const n = Math.min(HEADER_LENGTH - this.headerFill, len - pos);
          chunk.copy(this.header, this.headerFill, pos, pos + n);
          this.headerFill += n;
          pos += n;
          if (this.headerFill < HEADER_LENGTH) return;
          this.headerFill = 0;
          this.startRecord(this.header, 0);
        }
      } else if (this.state === CONTENT) {
        const n = Math.min(this.contentLeft, len - pos);
        this.contentLeft -= n;
        if (this.stream) {
          const piece = chunk.subarray(pos, pos + n);
          pos += n;
          if (this.contentLeft === 0) this.state = this.paddingLeft > 0 ? PADDING : HEADER;
          this.sink.onStream(this.type, this.requestId, piece);
        } else if (this.record === null && this.contentLeft === 0) {
          // Whole record inside this chunk: hand out a slice, no copy.
          const content = chunk.subarray(pos, pos + n);
          pos += n;
          this.state = this.paddingLeft > 0 ? PADDING : HEADER;
          this.sink.onRecord(this.type, this.requestId, content);
        } else {
          if (this.record === null) {
            this.record = Buffer.allocUnsafe(n + this.contentLeft);
            this.recordFill = 0;
          }
          chunk.copy(this.record, this.recordFill, pos, pos + n);
          this.recordFill += n;
          pos += n;
          if (this.contentLeft === 0) {
            const content = this.record;
            this.record = null;
            this.state = this.paddingLeft > 0 ? PADDING : HEADER;
            this.sink.onRecord(this.type, this.requestId, content);
          }
        }
      } else {
        const n = Math.min(this.paddingLeft, len - pos);
        this.paddingLeft -= n;
        pos += n;
        if (this.paddingLeft === 0) this.state = HEADER;
      }
    }
  }

  private startRecord(src: Buffer, at: number): void {
    const version = src[at]!;
    if (version !== FCGI_VERSION_1) {
      this.stopped = true;
      throw new ProtocolError(
        `FastCGI record with version ${version} (expected 1): the upstream is not a FastCGI server or the stream is corrupt`,
      );
    }
    this.type = src[at + 1]!;
    this.requestId = (src[at + 2]! << 8) | src[at + 3]!;
    this.contentLeft = (src[at + 4]! << 8) | src[at + 5]!;
    this.paddingLeft = src[at + 6]!;
    this.stream = isStreamType(this.type);
    if (this.contentLeft > 0) {
      this.state = CONTENT;
      return;
    }
    this.state = this.paddingLeft > 0 ? PADDING : HEADER;
    if (this.stream) this.sink.onStreamEnd(this.type, this.requestId);
    else this.sink.onRecord(this.type, this.requestId, EMPTY);
  }
}

const EMPTY = Buffer.alloc(0);
