import type { Readable } from 'node:stream';
import type { Bridge } from '../proxy/bridge.ts';
import { AbortedError, BadResponseError, type FpmBridgeError } from '../proxy/errors.ts';
import type { FrontResponse } from './http1/exchange.ts';

/** Logs why a response body went wrong after its head was sent; a client that left is no failure. */
export function bodyFailed(bridge: Bridge, requestId: string, err: Error): void {
  if (err instanceof AbortedError) return;
  bridge.log.error(
    { requestId, code: (err as FpmBridgeError).code, err: err.message },
    'response body failed',
  );
}

/**
 * Copies a response body to the client with backpressure (a slow client pauses the body, which pauses
 * reading from php-fpm). Does what stream.pipeline would for this one pair, without the AbortController
 * and end-of-stream listeners pipeline sets up for every response: a tenth of the proxy's CPU per request.
 * With `declared` (PHP's Content-Length), bytes past it are dropped and a body that ends short of it
 * closes the connection, so the client's framing holds.
 */
export function pump(
  body: Readable,
  res: FrontResponse,
  declared: number | null,
  onError: (err: Error) => void,
): void {
  const onDrain = () => body.resume();
  // PHP flushes its output every output_buffering bytes (4 KiB by default), so one read from php-fpm holds
  // many STDOUT records, each a 'data' event here: corked until the tick ends, they leave in one writev
  // instead of one write syscall (and one chunk) each.
  let corked = false;
  const uncork = () => {
    corked = false;
    res.uncork();
  };
  let left = declared ?? Number.POSITIVE_INFINITY;
  let sent = 0;
  body.on('data', (chunk: Buffer) => {
    sent += chunk.length;
    if (left === 0) return; // past PHP's Content-Length: read on so PHP finishes, send nothing
    const part = chunk.length > left ? chunk.subarray(0, left) : chunk;
    left -= part.length;
    if (!corked) {
      corked = true;
      res.cork();
      process.nextTick(uncork);
    }
    if (!res.write(part)) body.pause();
  });
  res.on('drain', onDrain);
  body.once('end', () => {
    res.off('drain', onDrain);
    if (declared !== null && sent !== declared) {
      onError(new BadResponseError(lengthMismatch(sent, declared)));
      // Short: the client must see the body end early, not wait for bytes that never come.
      if (sent < declared) {
        res.destroy();
        return;
      }
    }
    res.end();
  });
  body.once('error', (err) => {
    res.off('drain', onDrain);
    onError(err);
    res.destroy();
  });
  // The client went away: drop what the body still buffers (the request itself is aborted by handle()).
  res.once('close', () => {
    if (!body.readableEnded) body.destroy();
  });
}

export function lengthMismatch(sent: number, declared: number): string {
  return sent > declared
    ? `PHP sent ${sent} body bytes after "Content-Length: ${declared}"; the client got the first ${declared}`
    : `PHP's body ended after ${sent} of the ${declared} bytes its Content-Length announced; the connection was closed`;
}
