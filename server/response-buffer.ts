import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Response bytes a slow client has not taken yet stay in memory up to this much; past it they go to a file. */
export const RESPONSE_MEMORY_LIMIT = 256 * 1024;
/** What is read back from the file at a time. */
const READ_BLOCK = 64 * 1024;

/**
 * The part of a response the client has not taken yet, so that php-fpm's worker is free once PHP is done
 * rather than once a slow client has read it all, as nginx's `fastcgi_buffering` does: in memory up to
 * {@link RESPONSE_MEMORY_LIMIT}, then in a temporary file that is unlinked as soon as it is open (gone
 * with its descriptor, whatever happens). Bytes leave in the order they came: memory holds the oldest, the
 * file what came after memory was full.
 *
 * The file is read and written synchronously, at positions: only a client slower than its response uses it,
 * the writes land in the page cache, and one descriptor with explicit offsets keeps the order without a
 * queue of pending callbacks.
 */
export class ResponseBuffer {
  private readonly chunks: Buffer[] = [];
  private head = 0;
  private memory = 0;
  private fd = -1;
  private written = 0;
  private read = 0;

  /** Bytes held, in memory and in the file. */
  get size(): number {
    return this.memory + this.written - this.read;
  }

  /** Bytes held in the file. */
  get inFile(): number {
    return this.written - this.read;
  }

  /** Holds `chunk` after everything held before. Throws if the temporary file cannot be written. */
  add(chunk: Buffer): void {
    if (this.inFile === 0 && this.memory + chunk.length <= RESPONSE_MEMORY_LIMIT) {
      this.chunks.push(chunk);
      this.memory += chunk.length;
      return;
    }
    if (this.fd < 0) this.fd = openUnlinked();
    let at = 0;
    while (at < chunk.length) at += writeSync(this.fd, chunk, at, chunk.length - at, this.written + at);
    this.written += chunk.length;
  }

  /** The oldest bytes held, which the caller now owns; null when nothing is held. */
  take(): Buffer | null {
    if (this.head < this.chunks.length) {
      const chunk = this.chunks[this.head]!;
      this.chunks[this.head++] = EMPTY;
      this.memory -= chunk.length;
      if (this.head === this.chunks.length) {
        this.chunks.length = 0;
        this.head = 0;
      }
      return chunk;
    }
    if (this.inFile === 0) return null;
    const block = Buffer.allocUnsafe(Math.min(READ_BLOCK, this.inFile));
    const n = readSync(this.fd, block, 0, block.length, this.read);
    this.read += n;
    // All read back: the file starts over, so that memory takes the next bytes again.
    if (this.read === this.written) this.read = this.written = 0;
    return n === block.length ? block : block.subarray(0, n);
  }

  /** Drops what is held and closes the file. Safe to call more than once. */
  dispose(): void {
    this.chunks.length = 0;
    this.head = this.memory = this.written = this.read = 0;
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

const EMPTY = Buffer.alloc(0);

/** A new file in TMPDIR, open for reading and writing, whose name is already gone. */
function openUnlinked(): number {
  const path = join(tmpdir(), `fpm-bridge-response-${randomBytes(8).toString('hex')}`);
  const fd = openSync(path, 'wx+', 0o600);
  unlinkSync(path);
  return fd;
}
