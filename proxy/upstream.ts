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
  /**
   * The whole body when PHP had already finished by the time its headers were in (most small responses
   * arrive in one read), else null. A front can send it in one write; `body` then streams the same bytes.
   */
  whole: Buffer | null;
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
  /** Streaming: END_REQUEST's app status once it came before the response was handed out. */
  private ended: number | null = null;

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
      // The rest of this read (often the whole body and END_REQUEST) is decoded before microtasks run: a
      // response that turns out finished by then needs no Readable at all. One that is not yet gets until
      // the end of this event-loop turn: php-fpm's next reads may already be in (a 100 KiB body comes in two
      // 64 KiB reads), and a response finished by then still leaves in one write — a fifth less CPU per
      // 100 KiB response than streaming it in pieces.
      if (this.streaming)
        queueMicrotask(() => {
          if (this.ended !== null) this.handOut();
          else setImmediate(() => this.handOut());
        });
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
    if (this.streaming) {
      this.ended = appStatus;
      return;
    }
    // A literal, not `{ ...head }`: V8 builds a new hidden class for each spread's result here, a few µs a
    // response (seen in perf as map transitions under onRecord).
    this.resolve!({
      status: head.status,
      statusText: head.statusText,
      headers: head.headers,
      body: this.collected(),
      appStatus,
    });
  }

  onError(err: FpmBridgeError): void {
    if (this.stream !== null) this.stream.destroy(err);
    else this.reject!(err);
  }

  /** Streaming: resolves with the response once the read that completed its head has been decoded. */
  private handOut(): void {
    // Failed meanwhile (the promise is already rejected).
    if (this.exchange!.done && this.ended === null) return;
    const head = this.parser.head!;
    if (this.ended !== null) {
      this.resolve!(new FinishedResponse(head, this.collected(), this.ended));
      return;
    }
    const exchange = this.exchange!;
    // read() is called when the consumer wants more: resume the connection paused by push() → false.
    this.stream = new Readable({ read: () => exchange.resume() });
    for (const chunk of this.chunks) this.stream.push(chunk);
    this.chunks.length = 0;
    this.streamed = {
      status: head.status,
      statusText: head.statusText,
      headers: head.headers,
      body: this.stream,
      appStatus: null,
      whole: null,
    };
    this.resolve!(this.streamed);
  }

  private collected(): Buffer {
    return this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length);
  }
}

/**
 * A streamed response PHP had finished before it was handed out: its body is `whole`, and the Readable that
 * `body` promises is only built if someone asks for it (constructing one is a few µs a request).
 */
class FinishedResponse implements StreamedResponse {
  readonly status: number;
  readonly statusText: string;
  readonly headers: string[];
  private stream: Readable | null = null;

  constructor(
    head: CgiHead,
    readonly whole: Buffer,
    readonly appStatus: number,
  ) {
    this.status = head.status;
    this.statusText = head.statusText;
    this.headers = head.headers;
  }

  get body(): Readable {
    if (this.stream === null) {
      this.stream = new Readable({ read() {} });
      if (this.whole.length > 0) this.stream.push(this.whole);
      this.stream.push(null);
    }
    return this.stream;
  }
}
