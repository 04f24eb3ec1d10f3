import { randomBytes } from 'node:crypto';
import { close, createReadStream, createWriteStream, openSync, unlinkSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  BodyError,
  BodyTooLargeError,
  FpmBridgeError,
  RequestTimeoutError,
  SpoolError,
} from '../proxy/errors.ts';

/** Bodies up to this size stay in memory; larger ones go to a temporary file. */
export const SPOOL_MEMORY_LIMIT = 1024 * 1024;
/**
 * A body read into memory is kept as the socket's reads came, not copied into one buffer: a copy and a second
 * megabyte per request doubled the front's garbage collection at 32 uploads. Reads smaller than this are
 * copied into blocks of this size, though: a client trickling a byte per packet would otherwise cost a Buffer
 * object per byte, a hundred times the bytes it sent.
 */
const SMALL_READ = 16 * 1024;
/**
 * A body up to this size is joined into one Buffer: the FastCGI client copies such a body into the request's
 * head (one write) anyway, and may send a Buffer body again on a kept connection php-fpm had closed.
 */
const JOIN_LIMIT = 64 * 1024;
const EMPTY = Buffer.alloc(0);
const NOTHING = () => {};

/** How a body must arrive: at most `maxBodySize` bytes, in `bodyTimeout` ms plus a second per `bodyMinRate` bytes. */
export interface SpoolLimits {
  /** Bytes; 0 = no limit. */
  maxBodySize: number;
  /** ms; 0 = no limit. */
  bodyTimeout: number;
  /** Bytes per second that extend `bodyTimeout`; 0 = it bounds the whole body. */
  bodyMinRate: number;
}

export interface SpooledBody {
  length: number;
  /** The body, once: a Buffer when small or in one piece, else a stream over its pieces or the temporary file. */
  body: Buffer | Readable;
  /** Closes the temporary file, if any. Safe to call more than once. */
  dispose(): void;
}

export function bodyTooLarge(limit: number): BodyTooLargeError {
  return new BodyTooLargeError(`request body is larger than "maxBodySize" (${limit} bytes)`);
}

/**
 * Reads a request body to its end before php-fpm is asked, as nginx does (`fastcgi_request_buffering`):
 * a worker is then taken only for the time PHP needs, never for the time a client takes to upload, so slow
 * clients cannot hold every worker. A chunked body must be read whole anyway: php-fpm reads exactly
 * CONTENT_LENGTH bytes and must be told the length first. Memory stays bounded: a body past
 * {@link SPOOL_MEMORY_LIMIT} (known from `expected`, its Content-Length, or found on the way) goes to a
 * temporary file. A body over `maxBodySize` fails with 413, one that comes too slowly (see
 * {@link SpoolLimits}) with 408; either way nothing is left behind.
 */
export function spoolBody(req: Readable, expected: number | null, limits: SpoolLimits): Promise<SpooledBody> {
  return new Promise((resolve, reject) => {
    const { maxBodySize, bodyTimeout, bodyMinRate } = limits;
    const chunks: Buffer[] = [];
    /** The block small reads are copied into, the last of `chunks` while it has room. */
    let block: Buffer | null = null;
    let blockUsed = 0;
    let size = 0;
    let file: SpoolFile | null = null;
    const started = performance.now();
    let timer: NodeJS.Timeout | null = null;
    let done = false;
    const finish = () => {
      done = true;
      if (timer !== null) clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    const fail = (err: FpmBridgeError) => {
      if (done) return;
      finish();
      file?.dispose();
      reject(err);
    };
    // One timer for the whole body, not one per read: it checks the pace when it fires and, if the client
    // kept it, sleeps until the deadline the bytes received since have earned.
    const allowed = () => bodyTimeout + (bodyMinRate > 0 ? (size * 1000) / bodyMinRate : 0);
    const check = () => {
      const elapsed = performance.now() - started;
      const left = allowed() - elapsed;
      if (left > 0) {
        timer = setTimeout(check, left);
        return;
      }
      timer = null;
      fail(tooSlow(size, expected, elapsed, limits));
    };
    if (bodyTimeout > 0) timer = setTimeout(check, bodyTimeout);
    const keep = (piece: Buffer) => {
      if (piece.length >= SMALL_READ) {
        chunks.push(piece);
        block = null;
        return;
      }
      if (block === null || blockUsed + piece.length > block.length) {
        block = Buffer.allocUnsafe(SMALL_READ);
        blockUsed = 0;
        chunks.push(block);
      }
      piece.copy(block, blockUsed);
      blockUsed += piece.length;
      chunks[chunks.length - 1] = block.subarray(0, blockUsed);
    };
    const toFile = () => {
      try {
        file = new SpoolFile();
      } catch (err) {
        fail(spoolFailed(err as Error));
        return null;
      }
      file.writer.on('error', (err) => fail(spoolFailed(err)));
      for (const c of chunks) file.writer.write(c);
      chunks.length = 0;
      block = null;
      return file;
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (maxBodySize > 0 && size > maxBodySize) {
        req.resume();
        fail(bodyTooLarge(maxBodySize));
        return;
      }
      if (file === null && size <= SPOOL_MEMORY_LIMIT) {
        keep(chunk);
        return;
      }
      const f = file ?? toFile();
      if (f === null) return;
      if (!f.writer.write(chunk)) {
        req.pause();
        f.writer.once('drain', () => req.resume());
      }
    };
    // The engine fails the body with what went wrong (malformed chunked coding, the client gone), already
    // an error with its status.
    const onError = (err: Error) =>
      fail(
        err instanceof FpmBridgeError
          ? err
          : new BodyError(`reading the request body failed: ${err.message}`, { cause: err }),
      );
    const onEnd = () => {
      // The client's part is done: the pace no longer counts while the file is flushed.
      if (timer !== null) clearTimeout(timer);
      timer = null;
      if (file === null) {
        finish();
        resolve({ length: size, body: inMemory(chunks, size), dispose: NOTHING });
        return;
      }
      const f = file;
      f.writer.end(() => {
        if (done) return;
        finish();
        resolve({ length: size, body: f.reader(), dispose: () => f.dispose() });
      });
    };
    req.on('data', onData);
    req.once('error', onError);
    req.once('end', onEnd);
    // A body known to be larger than memory allows goes to the file from its first byte.
    if (expected !== null && expected > SPOOL_MEMORY_LIMIT) toFile();
  });
}

/** The body read into memory: one Buffer when small or in one piece, else a stream over its pieces. */
function inMemory(chunks: Buffer[], size: number): Buffer | Readable {
  if (chunks.length <= 1) return chunks[0] ?? EMPTY;
  if (size <= JOIN_LIMIT) return Buffer.concat(chunks, size);
  const body = new Readable({ read() {} });
  for (const c of chunks) body.push(c);
  body.push(null);
  return body;
}

/**
 * A temporary file with no name: it is unlinked as soon as it is open, so whatever happens — a client that
 * leaves, an error, a crash, SIGKILL — the system frees it with the last descriptor, and no other process
 * can open it meanwhile. It is opened twice, for writing and for reading back from the start; each stream
 * closes its descriptor itself, after any read or write in flight (closing a descriptor under a pending
 * write could let the write land in a file opened since under the same number).
 */
class SpoolFile {
  readonly writer: WriteStream;
  private readFd: number;
  private stream: Readable | null = null;

  constructor() {
    const path = join(tmpdir(), `fpm-bridge-body-${randomBytes(8).toString('hex')}`);
    const fd = openSync(path, 'wx', 0o600);
    try {
      this.readFd = openSync(path, 'r');
    } catch (err) {
      close(fd, () => {});
      throw err;
    } finally {
      unlinkSync(path);
    }
    this.writer = createWriteStream('', { fd });
  }

  /** The body from its first byte; the stream closes the file once read or destroyed. */
  reader(): Readable {
    this.stream = createReadStream('', { fd: this.readFd, start: 0 });
    this.readFd = -1;
    return this.stream;
  }

  dispose(): void {
    this.writer.destroy();
    if (this.stream !== null) this.stream.destroy();
    else if (this.readFd >= 0) close(this.readFd, () => {});
    this.readFd = -1;
  }
}

function spoolFailed(err: Error): SpoolError {
  return new SpoolError(
    `writing the request body to a temporary file in ${tmpdir()} failed: ${err.message} — is there room, and may fpm-bridge write there (TMPDIR)?`,
    { cause: err },
  );
}

function tooSlow(
  size: number,
  expected: number | null,
  elapsed: number,
  { bodyTimeout, bodyMinRate }: SpoolLimits,
): RequestTimeoutError {
  const of = expected === null ? '' : ` of ${expected}`;
  const pace = bodyMinRate > 0 ? ` plus 1 s per "bodyMinRate" (${bodyMinRate}) bytes` : '';
  return new RequestTimeoutError(
    `the request body came too slowly: ${size}${of} bytes in ${Math.round(elapsed)} ms, allowed "bodyTimeout" (${bodyTimeout} ms)${pace}`,
  );
}
