import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import {
  BadRequestError,
  BodyError,
  type FpmBridgeError,
  HeadersTooLargeError,
  NotImplementedError,
  RequestTimeoutError,
} from '../../proxy/errors.ts';
import { errorText } from '../../proxy/status.ts';
import { ChunkedDecoder } from './chunked.ts';
import { FrontRequest, FrontResponse, type ResponseSink } from './exchange.ts';
import { parseRequestHead } from './head.ts';

export interface HttpLimits {
  /** Largest request head (request line and headers) in bytes; larger → 431. */
  maxHeaderSize: number;
  /** Time a client has from the first byte of a request head to its end; past it → 408. */
  headersTimeout: number;
  /** A connection silent this long while a request is in progress is closed; 0 = never. */
  idleTimeout: number;
  /** An idle connection between requests is closed after this long; 0 = never. */
  keepAliveTimeout: number;
}

export type RequestListener = (req: FrontRequest, res: FrontResponse) => void;

/** Called for a request the connection refuses itself (malformed, too large, too slow). */
export type RefusalListener = (err: FpmBridgeError, socket: Socket) => void;

enum State {
  /** Waiting for (the rest of) a request head. */
  Head,
  /** Reading the current request's body. */
  Body,
  /** The request is read; its response is not finished. */
  Answering,
  /** Closing: nothing more is read. */
  Closed,
}

/** Longest a closing connection reads and drops what the client still sends. */
const LINGER = 5000;
/** Pipelined bytes held beyond this while a response is in progress pause the socket. */
const PIPELINE_LIMIT = 64 * 1024;
const EMPTY = Buffer.alloc(0);

/**
 * One client connection speaking HTTP/1.1: parses request heads, frames their bodies (Content-Length or
 * chunked), hands each request to the listener and answers them one after the other (pipelined requests wait
 * their turn). Enforces the head size and time limits and the idle timeouts.
 */
export class HttpConnection implements ResponseSink {
  private state = State.Head;
  /** Bytes received and not yet parsed. */
  private pending: Buffer = EMPTY;
  /** How far `pending` has been searched for the head's end. */
  private scanned = 0;
  private headTimer: NodeJS.Timeout | null = null;
  private lingerTimer: NodeJS.Timeout | null = null;
  /** The buffer `pending` grows in when a head or pipelined requests come in pieces, and its used bytes. */
  private store: Buffer | null = null;
  private stored = 0;
  private req: FrontRequest | null = null;
  private res: FrontResponse | null = null;
  private bodyStream: Readable | null = null;
  /** Body bytes still to come (Content-Length framing). */
  private bodyLeft = 0;
  private chunked: ChunkedDecoder | null = null;
  /** The response ended before the body was read: the rest is read and dropped. */
  private discarding = false;
  private keepAlive = true;
  private responseDone = false;
  /** 100 Continue was sent for the current request. */
  private continued = false;
  private paused = false;
  private timeout = -1;
  /** The server asked connections to close after their current response. */
  shuttingDown = false;

  constructor(
    readonly socket: Socket,
    private readonly limits: HttpLimits,
    private readonly onRequest: RequestListener,
    private readonly onRefused: RefusalListener,
    private readonly onGone: (conn: HttpConnection) => void,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (data: Buffer) => this.received(data));
    socket.on('drain', () => this.res?.emit('drain'));
    socket.on('error', () => {});
    socket.on('timeout', () => this.timedOut());
    socket.once('close', () => this.gone());
    this.setTimeout(limits.headersTimeout);
  }

  /** No request in progress and nothing of the next received: closing now loses nothing. */
  get idle(): boolean {
    return this.state === State.Head && this.pending.length === 0;
  }

  /**
   * The connection closes after the current response: the client or PHP asked, the server is stopping, or
   * the client waits for a 100 Continue that never came — the body it holds back would be read as the next
   * request.
   */
  closing(): boolean {
    const req = this.req;
    return (
      !this.keepAlive ||
      this.shuttingDown ||
      (req?.expectContinue === true && !this.continued && !req.complete)
    );
  }

  writeContinue(): void {
    if (this.continued) return;
    this.continued = true;
    this.socket.write('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
  }

  private setTimeout(ms: number): void {
    if (ms === this.timeout) return;
    this.timeout = ms;
    this.socket.setTimeout(ms);
  }

  private received(data: Buffer): void {
    switch (this.state) {
      case State.Body:
        this.bodyData(data);
        return;
      case State.Closed:
        return;
      default:
        this.append(data);
        if (this.state === State.Head) this.parse();
        else if (this.pending.length > PIPELINE_LIMIT) this.pause();
    }
  }

  /**
   * Adds received bytes to `pending`. A head or pipelined requests arriving in many small reads are copied
   * into one buffer that grows by doubling, so a client trickling bytes costs linear time, not quadratic.
   */
  private append(data: Buffer): void {
    const p = this.pending;
    if (p.length === 0) {
      this.pending = data;
      this.store = null;
      return;
    }
    const store = this.store;
    if (
      store !== null &&
      p.buffer === store.buffer &&
      p.byteOffset + p.length === store.byteOffset + this.stored &&
      this.stored + data.length <= store.length
    ) {
      data.copy(store, this.stored);
      this.stored += data.length;
      this.pending = store.subarray(p.byteOffset - store.byteOffset, this.stored);
      return;
    }
    const next = Buffer.allocUnsafeSlow(Math.max(4096, 2 * (p.length + data.length)));
    p.copy(next, 0);
    data.copy(next, p.length);
    this.store = next;
    this.stored = p.length + data.length;
    this.pending = next.subarray(0, this.stored);
  }

  /**
   * The socket saw no traffic for the current timeout. A head left half sent is answered 408; a client
   * silent mid-upload, or not reading mid-download, is cut. Waiting for PHP is not the client's silence:
   * the request's own `timeout` bounds that.
   */
  private timedOut(): void {
    if (this.state === State.Head && this.pending.length > 0) {
      this.refuse(headersTimedOut(this.limits.headersTimeout));
      return;
    }
    if (this.state === State.Answering && this.socket.writableLength === 0) return;
    // Paused mid-upload because PHP does not read yet: the silence is ours, not the client's.
    if (this.state === State.Body && this.paused) return;
    this.socket.destroy();
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  private resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket.resume();
  }

  /** From the first byte of a request head (or the empty lines before it): headersTimeout runs. */
  private startHeadTimer(): void {
    if (this.headTimer !== null) return;
    this.headTimer = setTimeout(
      () => this.refuse(headersTimedOut(this.limits.headersTimeout)),
      this.limits.headersTimeout,
    );
    this.headTimer.unref();
  }

  /** Looks for a complete request head in `pending` and starts the request. */
  private parse(): void {
    let buf = this.pending;
    // A client may send empty lines before a request (RFC 9112 §2.2). They count for headersTimeout like
    // the head they precede, or a client sending nothing else would keep the connection for ever.
    let start = 0;
    while (start + 1 < buf.length && buf[start] === 0x0d && buf[start + 1] === 0x0a) start += 2;
    if (start > 0) {
      buf = buf.subarray(start);
      this.pending = buf;
      this.scanned = 0;
      this.startHeadTimer();
    }
    const from = Math.max(0, this.scanned - 3);
    const end = buf.indexOf('\r\n\r\n', from, 'latin1');
    if (end < 0) {
      this.scanned = buf.length;
      if (buf.length > this.limits.maxHeaderSize) this.refuse(headTooLarge(this.limits.maxHeaderSize));
      else if (bareLf(buf, from))
        this.refuse(new BadRequestError('a line of the request head ends in LF without CR'));
      else if (buf.length > 0) this.startHeadTimer();
      return;
    }
    this.clearHeadTimer();
    this.scanned = 0;
    if (end + 2 > this.limits.maxHeaderSize) {
      this.refuse(headTooLarge(this.limits.maxHeaderSize));
      return;
    }
    let head: ReturnType<typeof parseRequestHead>;
    try {
      head = parseRequestHead(buf.toString('latin1', 0, end));
      if (head.method === 'CONNECT')
        throw new NotImplementedError('CONNECT (a tunnel) is not something a PHP front does');
    } catch (err) {
      this.refuse(err as FpmBridgeError);
      return;
    }
    const rest = buf.subarray(end + 4);
    const req = new FrontRequest(head, this.socket);
    const res = new FrontResponse(this, head.method === 'HEAD', head.minor);
    this.req = req;
    this.res = res;
    this.keepAlive = head.keepAlive;
    this.responseDone = false;
    this.discarding = false;
    this.continued = false;
    this.setTimeout(this.limits.idleTimeout);
    const length = head.contentLength ?? 0;
    if (head.chunked || length > rest.length) {
      // The body streams to the handler as it comes; 100 Continue is the handler's to send (it may refuse
      // the body instead).
      if (head.chunked) this.chunked = new ChunkedDecoder(this.limits.maxHeaderSize);
      else this.bodyLeft = length;
      this.pending = EMPTY;
      this.state = State.Body;
      this.bodyStream = new Readable({ read: () => this.resume() });
      req.body = this.bodyStream;
      this.onRequest(req, res);
      if (rest.length > 0 && this.state === State.Body) this.bodyData(rest);
      return;
    }
    // No body, or the whole body came with the head: no stream needed.
    if (length > 0) req.body = rest.subarray(0, length);
    req.complete = true;
    this.pending = rest.subarray(length);
    this.state = State.Answering;
    this.onRequest(req, res);
  }

  private bodyData(data: Buffer): void {
    if (this.chunked !== null) {
      let end: number;
      try {
        end = this.chunked.push(data, (piece) => this.bodyPiece(piece));
      } catch (err) {
        this.bodyFailed(err as FpmBridgeError);
        return;
      }
      if (end >= 0) this.bodyEnded(data.subarray(end));
      return;
    }
    if (data.length < this.bodyLeft) {
      this.bodyLeft -= data.length;
      this.bodyPiece(data);
      return;
    }
    const last = this.bodyLeft;
    this.bodyLeft = 0;
    this.bodyPiece(last === data.length ? data : data.subarray(0, last));
    this.bodyEnded(data.subarray(last));
  }

  private bodyPiece(piece: Buffer): void {
    if (this.discarding || piece.length === 0) return;
    if (!this.bodyStream!.push(piece)) this.pause();
  }

  private bodyEnded(rest: Buffer): void {
    this.chunked = null;
    this.req!.complete = true;
    this.state = State.Answering;
    if (!this.discarding) this.bodyStream!.push(null);
    this.bodyStream = null;
    this.pending = rest;
    if (this.responseDone) this.next();
    else if (rest.length > PIPELINE_LIMIT) this.pause();
  }

  /** The body broke (bad chunked coding): the handler's stream fails, and the connection closes. */
  private bodyFailed(err: FpmBridgeError): void {
    this.keepAlive = false;
    this.state = State.Closed;
    failBody(this.bodyStream, err);
    this.bodyStream = null;
    if (this.responseDone) this.socket.destroy();
  }

  responseEnded(res: FrontResponse, keepOpen: boolean): void {
    if (res !== this.res) return;
    this.responseDone = true;
    if (!keepOpen) this.keepAlive = false;
    if (this.state === State.Body) {
      // Answered before the body was read (a refusal, a static file): read the rest and drop it, so the
      // next request is found — or close when the connection will not be reused anyway.
      this.bodyStream?.destroy();
      this.bodyStream = null;
      if (!this.keepAlive) {
        this.close();
        return;
      }
      this.discarding = true;
      this.resume();
      return;
    }
    if (this.state === State.Answering) this.next();
    else this.close();
  }

  /** The response is out and the request read: on to the next request, or close. */
  private next(): void {
    this.req = null;
    this.res = null;
    if (!this.keepAlive || this.shuttingDown) {
      this.close();
      return;
    }
    this.state = State.Head;
    this.setTimeout(this.limits.keepAliveTimeout);
    this.resume();
    if (this.pending.length > 0) this.parse();
  }

  /**
   * Ends the connection once what was written is out. What the client still sends is read and dropped (so
   * its FIN is seen), for at most {@link LINGER} ms: a client that keeps sending cannot hold the connection.
   */
  close(): void {
    if (this.state === State.Closed && this.lingerTimer !== null) return;
    this.state = State.Closed;
    this.clearHeadTimer();
    this.socket.end();
    this.resume();
    this.lingerTimer = setTimeout(() => this.socket.destroy(), Math.min(LINGER, this.limits.headersTimeout));
    this.lingerTimer.unref();
  }

  private clearHeadTimer(): void {
    if (this.headTimer !== null) clearTimeout(this.headTimer);
    this.headTimer = null;
  }

  /** Answers a request refused before it reached the handler (as any response: Date, Connection: close), and closes. */
  private refuse(err: FpmBridgeError): void {
    if (this.state === State.Closed) return;
    this.onRefused(err, this.socket);
    this.keepAlive = false;
    const text = errorText(err.statusCode);
    new FrontResponse(this, false, 1)
      .writeHead(err.statusCode, {
        'Content-Type': 'text/plain; charset=utf-8',
        'Content-Length': text.length,
      })
      .end(text);
    this.close();
  }

  private gone(): void {
    this.clearHeadTimer();
    if (this.lingerTimer !== null) clearTimeout(this.lingerTimer);
    this.lingerTimer = null;
    this.state = State.Closed;
    if (this.bodyStream !== null) {
      failBody(
        this.bodyStream,
        new BodyError('the client closed the connection before the whole body was sent'),
      );
      this.bodyStream = null;
    }
    this.res?.close();
    this.onGone(this);
  }
}

/** Fails a body stream for whoever reads it; a stream nobody reads is only closed (no uncaught error). */
function failBody(stream: Readable | null, err: Error): void {
  if (stream === null) return;
  if (stream.listenerCount('error') > 0) stream.destroy(err);
  else stream.destroy();
}

/**
 * `buf` holds, from `from` on, an LF not preceded by CR: a head in bare-LF lines would never show the
 * CRLFCRLF that ends it, so it is refused now rather than after headersTimeout.
 */
function bareLf(buf: Buffer, from: number): boolean {
  for (let i = buf.indexOf(0x0a, from); i >= 0; i = buf.indexOf(0x0a, i + 1)) {
    if (i === 0 || buf[i - 1] !== 0x0d) return true;
  }
  return false;
}

function headersTimedOut(limit: number): RequestTimeoutError {
  return new RequestTimeoutError(`the request headers took longer than "headersTimeout" (${limit} ms)`);
}

function headTooLarge(limit: number): HeadersTooLargeError {
  return new HeadersTooLargeError(`the request head is larger than "maxHeaderSize" (${limit} bytes)`);
}
