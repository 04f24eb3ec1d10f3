import { createReadStream, createWriteStream, mkdtempSync, rmSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { BodyError, BodyTooLargeError } from '../proxy/errors.ts';

/** Chunked bodies up to this size stay in memory; larger ones go to a temporary file. */
export const SPOOL_MEMORY_LIMIT = 1024 * 1024;

export interface SpooledBody {
  length: number;
  /** The body, once: a Buffer when it stayed in memory, else a stream over the temporary file. */
  body: Buffer | Readable;
  /** Removes the temporary file, if any. Safe to call more than once. */
  dispose(): void;
}

export function bodyTooLarge(limit: number): BodyTooLargeError {
  return new BodyTooLargeError(`request body is larger than "maxBodySize" (${limit} bytes)`);
}

/**
 * Reads a body of unknown length (Transfer-Encoding: chunked) to its end, because php-fpm reads exactly
 * CONTENT_LENGTH bytes and must be told the length first. Memory stays bounded: past
 * {@link SPOOL_MEMORY_LIMIT} the bytes go to a file in a private temporary directory.
 */
export function spoolBody(req: Readable, limit: number): Promise<SpooledBody> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let dir: string | null = null;
    let file: WriteStream | null = null;
    const dispose = () => {
      if (dir !== null) rmSync(dir, { recursive: true, force: true });
      dir = null;
    };
    let failed = false;
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      req.off('data', onData);
      req.off('end', onEnd);
      file?.destroy();
      dispose();
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (limit > 0 && size > limit) {
        req.resume();
        fail(bodyTooLarge(limit));
        return;
      }
      if (file === null && size <= SPOOL_MEMORY_LIMIT) {
        chunks.push(chunk);
        return;
      }
      if (file === null) {
        dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-body-'));
        file = createWriteStream(join(dir, 'body'));
        file.on('error', (err) =>
          fail(new BodyError(`spooling the request body failed: ${err.message}`, { cause: err })),
        );
        for (const c of chunks) file.write(c);
        chunks.length = 0;
      }
      if (!file.write(chunk)) {
        req.pause();
        file.once('drain', () => req.resume());
      }
    };
    req.on('data', onData);
    req.once('error', (err) =>
      fail(new BodyError(`reading the request body failed: ${err.message}`, { cause: err })),
    );
    const onEnd = () => {
      if (file === null) {
        resolve({ length: size, body: Buffer.concat(chunks, size), dispose });
        return;
      }
      const path = join(dir!, 'body');
      file.end(() => {
        const body = createReadStream(path);
        body.once('close', dispose);
        resolve({ length: size, body, dispose });
      });
    };
    req.once('end', onEnd);
  });
}
