import { tmpdir } from 'node:os';
import type { Readable } from 'node:stream';
import type { Bridge } from '../proxy/bridge.ts';
import { AbortedError, BadResponseError, type FpmBridgeError, SpoolError } from '../proxy/errors.ts';
import type { FrontResponse } from './http1/exchange.ts';
import { ResponseBuffer } from './response-buffer.ts';

/** Logs why a response body went wrong after its head was sent; a client that left is no failure. */
export function bodyFailed(bridge: Bridge, requestId: string, err: Error): void {
  if (err instanceof AbortedError) return;
  bridge.log.error(
    { requestId, code: (err as FpmBridgeError).code, err: err.message },
    'response body failed',
  );
}

/**
 * Copies a response body to the client. Does what stream.pipeline would for this one pair, without the
 * AbortController and end-of-stream listeners pipeline sets up for every response: a tenth of the proxy's
 * CPU per request. With `declared` (PHP's Content-Length), bytes past it are dropped and a body that ends
 * short of it closes the connection, so the client's framing holds.
 *
 * A client slower than PHP: with `bufferLimit` > 0, what it has not taken yet is held (see
 * {@link ResponseBuffer}) up to that many bytes, so PHP finishes and its worker serves others meanwhile;
 * past it, or with 0, the body waits for the client, and reading from php-fpm with it (backpressure).
 */
export function pump(
  body: Readable,
  res: FrontResponse,
  declared: number | null,
  onError: (err: Error) => void,
  bufferLimit = 0,
): void {
  const buffering = bufferLimit > 0;
  /** Made the first time the client falls behind: most responses never need it. */
  let held: ResponseBuffer | null = null;
  /** The client's side is full: new bytes are held (or the body paused) until it drains. */
  let blocked = false;
  let bodyEnded = false;
  // PHP flushes its output every output_buffering bytes (4 KiB by default), so one read from php-fpm holds
  // many STDOUT records, each a 'data' event here: corked until the tick ends, they leave in one writev
  // instead of one write syscall (and one chunk) each.
  let corked = false;
  const uncork = () => {
    corked = false;
    res.uncork();
  };
  const cork = () => {
    if (!corked) {
      corked = true;
      res.cork();
      process.nextTick(uncork);
    }
  };
  const fail = (err: Error) => {
    res.off('drain', onDrain);
    held?.dispose();
    onError(err);
    res.destroy();
  };
  const finish = () => {
    res.off('drain', onDrain);
    held?.dispose();
    if (declared !== null && sent !== declared) {
      onError(new BadResponseError(lengthMismatch(sent, declared)));
      // Short: the client must see the body end early, not wait for bytes that never come.
      if (sent < declared) {
        res.destroy();
        return;
      }
    }
    res.end();
  };
  const onDrain = () => {
    if (!buffering) {
      body.resume();
      return;
    }
    blocked = false;
    if (held === null) return;
    cork();
    try {
      for (let chunk = held.take(); chunk !== null; chunk = held.take()) {
        if (!res.write(chunk)) {
          blocked = true;
          break;
        }
      }
    } catch (err) {
      fail(heldFailed('reading back', err as Error));
      body.destroy();
      return;
    }
    if (held.size <= bufferLimit) body.resume();
    if (!blocked && bodyEnded) finish();
  };
  let left = declared ?? Number.POSITIVE_INFINITY;
  let sent = 0;
  body.on('data', (chunk: Buffer) => {
    sent += chunk.length;
    if (left === 0) return; // past PHP's Content-Length: read on so PHP finishes, send nothing
    const part = chunk.length > left ? chunk.subarray(0, left) : chunk;
    left -= part.length;
    if (blocked && buffering) {
      held ??= new ResponseBuffer();
      try {
        held.add(part);
      } catch (err) {
        fail(heldFailed('writing', err as Error));
        body.destroy();
        return;
      }
      if (held.size > bufferLimit) body.pause();
      return;
    }
    cork();
    if (!res.write(part)) {
      blocked = true;
      if (!buffering) body.pause();
    }
  });
  res.on('drain', onDrain);
  body.once('end', () => {
    bodyEnded = true;
    // Held bytes still to send: the last drain finishes.
    if (held === null || held.size === 0) finish();
  });
  body.once('error', fail);
  // The client went away: drop what the body still buffers (the request itself is aborted by handle()).
  res.once('close', () => {
    held?.dispose();
    if (!body.readableEnded) body.destroy();
  });
}

function heldFailed(what: string, err: Error): SpoolError {
  return new SpoolError(
    `${what} the response held for a slow client in ${tmpdir()} failed: ${err.message} — is there room, and may fpm-bridge write there (TMPDIR)?`,
    { cause: err },
  );
}

export function lengthMismatch(sent: number, declared: number): string {
  return sent > declared
    ? `PHP sent ${sent} body bytes after "Content-Length: ${declared}"; the client got the first ${declared}`
    : `PHP's body ended after ${sent} of the ${declared} bytes its Content-Length announced; the connection was closed`;
}
