import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { flatHeaders, headerField } from '../../proxy/header-fields.ts';
import { reasonPhrase } from '../../proxy/status.ts';
import type { RequestHead } from './head.ts';

/** One request on a connection, as the front's handler sees it. */
export class FrontRequest {
  readonly method: string;
  /** The request target as sent (one character per byte). */
  readonly url: string;
  readonly httpVersion: '1.0' | '1.1';
  readonly rawHeaders: string[];
  /** The Content-Length the client declared; null without one. */
  readonly contentLength: number | null;
  readonly chunked: boolean;
  /** `Expect: 100-continue`: the client sends the body once it has a 100 (see {@link FrontResponse.writeContinue}). */
  readonly expectContinue: boolean;
  /**
   * The body: a Buffer when it had arrived whole with the head, a stream while it comes in, null when the
   * request has none.
   */
  body: Buffer | Readable | null = null;
  /** The whole request, body included, has been read. */
  complete = false;

  constructor(
    head: RequestHead,
    readonly socket: Socket,
  ) {
    this.method = head.method;
    this.url = head.target;
    this.httpVersion = head.minor === 1 ? '1.1' : '1.0';
    this.rawHeaders = head.rawHeaders;
    this.contentLength = head.contentLength;
    this.chunked = head.chunked;
    this.expectContinue = head.expectContinue;
  }

  /** A header's value, several of the same name joined with ", "; undefined when absent. */
  header(lower: string): string | undefined {
    return headerField(this.rawHeaders, lower);
  }
}

/** What a {@link FrontResponse} needs from its connection. */
export interface ResponseSink {
  readonly socket: Socket;
  /** The connection closes after this response (the client asked, or the server is closing). */
  closing(): boolean;
  /** Sends `100 Continue` once. */
  writeContinue(): void;
  /** The response is complete: written out (`flushed`) or cut short. */
  responseEnded(res: FrontResponse, keepOpen: boolean): void;
}

type HeaderInput = readonly string[] | Readonly<Record<string, string | number>>;

/** A header value may not carry a line break or NUL: that would let it start a header of its own. */
const BAD_VALUE = /[\r\n\0]/;
/** Bodies up to this size leave with their head in one buffer: a copy is cheaper than a writev. */
const JOIN_LIMIT = 16 * 1024;

enum Framing {
  /** No body: HEAD, 1xx, 204, 304. */
  None,
  Length,
  Chunked,
  /** HTTP/1.0 without a length: the body ends when the connection closes. */
  Close,
}

let dateSecond = 0;
let dateHeader = '';
/** The Date header line (RFC 9110 §6.6.1), formatted once a second. */
function date(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateHeader = `Date: ${new Date(now).toUTCString()}\r\n`;
  }
  return dateHeader;
}

/**
 * The response to one {@link FrontRequest}: a head, then a body framed by Content-Length, chunked coding or
 * (HTTP/1.0) the connection's end. Emits 'drain' when the socket takes more after write() returned false,
 * and 'close' once: after the response was written out, or when the connection went away before.
 */
export class FrontResponse extends EventEmitter {
  statusCode = 200;
  headersSent = false;
  /** Every byte of the response has been handed to the operating system. */
  writableFinished = false;
  private ended = false;
  private isClosed = false;
  private framing = Framing.None;
  private keepOpen = true;

  constructor(
    private readonly sink: ResponseSink,
    private readonly head: boolean,
    private readonly minor: number,
  ) {
    super();
  }

  /** Sends `100 Continue`: the client may send the body it holds back. */
  writeContinue(): void {
    if (!this.headersSent) this.sink.writeContinue();
  }

  writeHead(status: number, reason?: string | HeaderInput, headers?: HeaderInput): this {
    if (this.headersSent) throw new Error('response headers already sent');
    let phrase: string;
    let fields: HeaderInput | undefined;
    if (typeof reason === 'string') {
      phrase = reason;
      fields = headers;
    } else {
      phrase = reasonPhrase(status);
      fields = reason;
    }
    if (!Number.isInteger(status) || status < 100 || status > 999 || BAD_VALUE.test(phrase))
      throw new TypeError(`invalid response status line "${status} ${phrase.slice(0, 40)}"`);
    let text = `HTTP/1.1 ${status} ${phrase}\r\n`;
    let length = -1;
    let close = this.sink.closing();
    /** The handler's headers say Connection: close already. */
    let said = false;
    /** The handler's headers carry a Date: PHP's (Laravel and Symfony always send one) stands alone. */
    let dated = false;
    // PHP's headers come as a flat list (the hot path); the front's own answers as an object.
    const flat: readonly string[] =
      fields === undefined
        ? []
        : Array.isArray(fields)
          ? fields
          : flatHeaders(fields as Readonly<Record<string, string | number>>);
    for (let i = 0; i < flat.length; i += 2) {
      const name = flat[i]!;
      const value = flat[i + 1]!;
      if (BAD_VALUE.test(value) || BAD_VALUE.test(name))
        throw new TypeError(`invalid character in response header "${name}"`);
      text += `${name}: ${value}\r\n`;
      if (name.length === 14 && name.toLowerCase() === 'content-length') length = Number(value);
      else if (name.length === 10 && name.toLowerCase() === 'connection' && /close/i.test(value)) said = true;
      else if (name.length === 4 && name.toLowerCase() === 'date') dated = true;
    }
    // One Date (RFC 9110 §6.6.1): nginx too sends the upstream's instead of its own.
    if (!dated) text += date();
    if (this.head || status < 200 || status === 204 || status === 304) {
      this.framing = Framing.None;
    } else if (length >= 0) {
      this.framing = Framing.Length;
    } else if (this.minor === 1) {
      this.framing = Framing.Chunked;
      text += 'Transfer-Encoding: chunked\r\n';
    } else {
      this.framing = Framing.Close;
      close = true;
    }
    if (close && !said) text += 'Connection: close\r\n';
    else if (!close && !said && this.minor === 0) text += 'Connection: keep-alive\r\n';
    this.keepOpen = !close && !said;
    this.statusCode = status;
    this.headersSent = true;
    this.pendingHead = `${text}\r\n`;
    return this;
  }

  /** The head not yet written: it leaves with the first body bytes. */
  private pendingHead: string | null = null;

  write(chunk: Buffer | string): boolean {
    if (this.ended) return false;
    if (!this.headersSent) this.writeHead(this.statusCode);
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    return this.send(data, false);
  }

  end(chunk?: Buffer | string): void {
    if (this.ended) return;
    if (!this.headersSent) this.writeHead(this.statusCode);
    this.ended = true;
    const data = chunk === undefined ? null : typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.send(data, true);
  }

  /** The response's life is over: written out, or its connection gone. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Cuts the connection: the client sees the response end early. */
  destroy(): void {
    this.sink.socket.destroy();
  }

  cork(): void {
    this.sink.socket.cork();
  }

  uncork(): void {
    this.sink.socket.uncork();
  }

  private send(data: Buffer | null, last: boolean): boolean {
    const socket = this.sink.socket;
    if (socket.destroyed) return false;
    const head = this.pendingHead;
    this.pendingHead = null;
    const body = data !== null && data.length > 0 && this.framing !== Framing.None ? data : null;
    const done = last ? () => this.finished() : undefined;
    if (this.framing === Framing.Chunked) {
      let prefix = head ?? '';
      if (body !== null) prefix += `${body.length.toString(16)}\r\n`;
      const suffix = last ? (body !== null ? '\r\n0\r\n\r\n' : '0\r\n\r\n') : body !== null ? '\r\n' : '';
      if (body === null) {
        if (prefix === '' && suffix === '') return true;
        return socket.write(prefix + suffix, 'latin1', done);
      }
      socket.cork();
      socket.write(prefix, 'latin1');
      socket.write(body);
      const ok = socket.write(suffix, 'latin1', done);
      socket.uncork();
      return ok;
    }
    if (head === null) {
      if (body !== null) return socket.write(body, done);
      if (done !== undefined) socket.write('', 'latin1', done);
      return true;
    }
    if (body === null) return socket.write(head, 'latin1', done);
    if (body.length <= JOIN_LIMIT) {
      const out = Buffer.allocUnsafe(head.length + body.length);
      out.write(head, 0, 'latin1');
      body.copy(out, head.length);
      return socket.write(out, done);
    }
    socket.cork();
    socket.write(head, 'latin1');
    const ok = socket.write(body, done);
    socket.uncork();
    return ok;
  }

  private finished(): void {
    if (this.isClosed) return;
    this.writableFinished = true;
    this.close();
    this.sink.responseEnded(this, this.keepOpen);
  }

  /** Ends the response's life: 'close' once, whether it was written out or the connection went away. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.emit('close');
  }
}
