import { Readable } from 'node:stream';
import { type CgiHead, CgiHeadParser } from './cgi/response.ts';
import { BadResponseError, type FpmBridgeError } from './errors.ts';
import type { FcgiAddress } from './fastcgi/address.ts';
import type { Exchange, FcgiHandler, FcgiRequest } from './fastcgi/exchange.ts';

/** Anything that runs FastCGI requests: a {@link Pool}, or a balancer over several. */
export interface Dispatcher {
  dispatch(request: FcgiRequest, handler: FcgiHandler): Exchange;
}

export interface CgiCallOptions {
  /** PHP's STDERR output for this request, as it arrives. */
  onStderr?: (data: Buffer) => void;
  /** Largest header block accepted from PHP, in bytes. */
  maxHeaderSize?: number;
}

/** A response whose body streams as PHP writes it. */
export interface StreamedResponse extends CgiHead {
  body: Readable;
  /** Script exit status, known once the body ended. */
  appStatus: number | null;
}

/** A response whose body was collected whole (Lambda's buffered mode). */
export interface BufferedResponse extends CgiHead {
  body: Buffer;
  appStatus: number;
}

/** One request in flight: its response, and a way to abort it (client gone). */
export interface CgiCall<T> {
  response: Promise<T>;
  abort(err?: FpmBridgeError): void;
  /** The php-fpm address the request was last sent to, for the access log; null if it never left the queue. */
  upstream(): FcgiAddress | null;
}

/**
 * Runs a CGI request and resolves once PHP's headers are parsed; the body then streams with backpressure
 * (a slow client pauses reading from php-fpm instead of buffering in memory).
 */
export function streamCgi(
  dispatcher: Dispatcher,
  request: FcgiRequest,
  options: CgiCallOptions = {},
): CgiCall<StreamedResponse> {
  return callCgi(dispatcher, request, options, true);
}

/** Runs a CGI request and resolves with the whole body once END_REQUEST arrived. */
export function bufferCgi(
  dispatcher: Dispatcher,
  request: FcgiRequest,
  options: CgiCallOptions = {},
): CgiCall<BufferedResponse> {
  return callCgi(dispatcher, request, options, false);
}

function callCgi<R extends StreamedResponse | BufferedResponse>(
  dispatcher: Dispatcher,
  request: FcgiRequest,
  options: CgiCallOptions,
  stream: boolean,
): CgiCall<R> {
  const handler = new CgiHandler(options, stream);
  const response = new Promise<R>((resolve, reject) => {
    handler.resolve = resolve as (r: StreamedResponse | BufferedResponse) => void;
    handler.reject = reject;
  });
  handler.exchange = dispatcher.dispatch(request, handler);
  return {
    response,
    abort: (err) => handler.exchange!.abort(err),
    upstream: () => handler.exchange!.connection?.address ?? null,
  };
}

class CgiHandler implements FcgiHandler {
  exchange: Exchange | null = null;
  resolve: ((r: StreamedResponse | BufferedResponse) => void) | null = null;
  reject: ((err: FpmBridgeError) => void) | null = null;
  private readonly parser: CgiHeadParser;
  private stream: Readable | null = null;
  private streamed: StreamedResponse | null = null;
  private readonly chunks: Buffer[] = [];
  private length = 0;

  constructor(
    private readonly options: CgiCallOptions,
    private readonly streaming: boolean,
  ) {
    this.parser = new CgiHeadParser(options.maxHeaderSize);
  }

  onStdout(data: Buffer): boolean {
    let body = data;
    if (this.parser.head === null) {
      let rest: Buffer | null;
      try {
        rest = this.parser.push(data);
      } catch (err) {
        this.exchange!.abort(err as FpmBridgeError);
        return true;
      }
      if (rest === null) return true;
      body = rest;
      if (this.streaming) {
        const exchange = this.exchange!;
        // read() is called when the consumer wants more: resume the connection paused by push() → false.
        this.stream = new Readable({ read: () => exchange.resume() });
        this.streamed = { ...this.parser.head!, body: this.stream, appStatus: null };
        this.resolve!(this.streamed);
      }
    }
    if (body.length === 0) return true;
    if (this.stream !== null) return this.stream.push(body);
    this.chunks.push(body);
    this.length += body.length;
    return true;
  }

  onStderr(data: Buffer): void {
    this.options.onStderr?.(data);
  }

  onEnd(appStatus: number): void {
    const head = this.parser.head;
    if (head === null) {
      this.reject!(
        new BadResponseError(
          this.parser.buffered > 0
            ? 'PHP ended its output in the middle of the response headers'
            : 'PHP sent no response headers at all (empty output — did the script exit before any output, or is REQUEST_METHOD missing?)',
        ),
      );
      return;
    }
    if (this.streamed !== null) {
      this.streamed.appStatus = appStatus;
      this.stream!.push(null);
      return;
    }
    const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length);
    this.resolve!({ ...head, body, appStatus });
  }

  onError(err: FpmBridgeError): void {
    if (this.stream !== null) this.stream.destroy(err);
    else this.reject!(err);
  }
}
