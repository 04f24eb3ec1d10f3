import { connect, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import {
  BodyError,
  ConnectError,
  type FpmBridgeError,
  OverloadedError,
  ProtocolError,
  TimeoutError,
  UnknownRoleError,
  UpstreamClosedError,
} from '../errors.ts';
import { connectOptions, type FcgiAddress, formatAddress } from './address.ts';
import { RecordDecoder, type RecordSink } from './decoder.ts';
import type { Exchange } from './exchange.ts';
import {
  ABORT_REQUEST,
  CANT_MPX_CONN,
  END_REQUEST,
  encodeRecord,
  encodeRequestHead,
  encodeStreamEnd,
  FLAG_KEEP_CONN,
  GET_VALUES_RESULT,
  HEADER_LENGTH,
  MAX_RECORD_CONTENT,
  OVERLOADED,
  paddingFor,
  RECORD_TYPE_NAMES,
  REQUEST_COMPLETE,
  STDERR,
  STDIN,
  STDOUT,
  UNKNOWN_ROLE,
  UNKNOWN_TYPE,
  writeHeader,
} from './records.ts';

/** What a connection tells the pool that owns it. */
export interface ConnectionOwner {
  /** A request slot became free and the connection may take another request. */
  onConnectionFree(conn: Connection): void;
  /** The connection is gone; forget it. */
  onConnectionClosed(conn: Connection): void;
  /** The request never reached a script (see FcgiRequest.retryable, CANT_MPX_CONN): send it again. */
  redispatch(exchange: Exchange): void;
  /** The server answered FCGI_CANT_MPX_CONN: one request per connection from now on. */
  disableMultiplexing(): void;
  /** The socket never connected: the server is unreachable (passive health check). Called once. */
  onConnectFailed(conn: Connection, err: ConnectError): void;
  /** A request completed: the server works (passive health check). */
  onCompleted(): void;
  /** The first byte came back: a worker took this connection (it is not in php-fpm's listen backlog). */
  onAccepted(conn: Connection): void;
  /** A request timed out before any answer: the server may hang (passive health check). */
  onStalled(err: FpmBridgeError): void;
  /**
   * A request whose connection never stood, so php-fpm never saw it and not one body byte was read:
   * return true to have taken it over (sent to another server), false to let it fail with the connect error.
   */
  failover(exchange: Exchange): boolean;
}

export interface ConnectionOptions {
  keepConn: boolean;
  /** Requests in flight at once on this connection: 1 unless the server multiplexes. */
  capacity: number;
  /** ms allowed for connect(); 0 = none. */
  connectTimeout: number;
}

/** Bodies up to this size are copied into the request head so the whole request is one write. */
const INLINE_BODY_LIMIT = 64 * 1024;
const EMPTY = Buffer.alloc(0);
const PADDING = Buffer.alloc(8);
/** Size of a read from php-fpm, as Node's default. */
const READ_SIZE = 64 * 1024;
/**
 * Reads up to this size are copied out of the connection's read buffer; larger ones take it over, wasting
 * at most a quarter of it (a buffered body held as many such reads costs at most a third more memory).
 */
const COPY_LIMIT = 48 * 1024;

/**
 * One socket to a FastCGI server. Sends requests as records and routes the records that come back to the
 * {@link Exchange} they belong to. A connection that broke, or whose state is unknown (a body left half
 * sent, a protocol error), is closed and never handed out again.
 */
export class Connection implements RecordSink {
  readonly socket: Socket;
  /** Requests in flight. */
  active = 0;
  /** Requests completed on this connection. */
  served = 0;
  closed = false;
  /** Listed in the pool's idle stack (managed by the pool). */
  idle = false;
  /** performance.now() when its last request ended (managed by the pool). */
  idleSince = 0;
  /** The pool's count of requests started, when its latest request started (managed by the pool). */
  startSeq = 0;
  /** Requests started after this one's and completed on other connections while it had no byte back. */
  overtaken = 0;
  /**
   * A worker is known to hold it: a byte came back, or the pool proved it (php-fpm accepts connections in
   * order). Until then it may still wait in php-fpm's listen backlog.
   */
  accepted = false;
  capacity: number;
  private readonly decoder = new RecordDecoder(this);
  private readonly slots: (Exchange | undefined)[] = [];
  private connected = false;
  private reusable = true;
  private paused = false;
  private connectTimer: NodeJS.Timeout | null = null;
  private socketError: Error | null = null;
  private readBuffer = Buffer.allocUnsafe(READ_SIZE);

  constructor(
    private readonly owner: ConnectionOwner,
    readonly address: FcgiAddress,
    private readonly options: ConnectionOptions,
  ) {
    this.capacity = options.capacity;
    const socket = connect({
      ...connectOptions(address),
      // Reads land in the connection's own buffer and go straight to the decoder: no 64 KiB allocation per
      // read and no Readable 'data' machinery in between (a measurable share of the CPU per request). Node
      // asks for the buffer again after each read; returning false pauses the socket as pause() would.
      onread: {
        buffer: () => this.readBuffer,
        callback: (n: number, buf: Uint8Array) => {
          this.received(n, buf as Buffer);
          return !this.paused;
        },
      },
    });
    this.socket = socket;
    if (address.kind === 'tcp') socket.setNoDelay(true);
    if (options.connectTimeout > 0) {
      // connect() to a TCP peer that drops SYNs would otherwise wait for the kernel's minutes-long timeout.
      this.connectTimer = setTimeout(() => {
        this.connectTimer = null;
        this.destroy(
          new ConnectError(
            `connecting to php-fpm at ${formatAddress(address)} took longer than ${options.connectTimeout} ms — is it running and listening there?`,
          ),
        );
      }, options.connectTimeout);
    }
    socket.on('connect', () => {
      this.connected = true;
      if (this.connectTimer !== null) {
        clearTimeout(this.connectTimer);
        this.connectTimer = null;
      }
    });
    socket.on('error', (err) => {
      this.socketError = err;
    });
    socket.on('close', () => this.teardown(null));
  }

  private received(n: number, buffer: Buffer): void {
    if (!this.accepted) {
      this.accepted = true;
      this.owner.onAccepted(this);
    }
    // Handlers keep body pieces (a streamed response's queue, a buffered response's chunks), so the decoder
    // needs bytes no later read overwrites: a small read is copied out (cheap, from Node's pool); a large
    // one keeps the buffer, and the next read gets a new one — no copy of big bodies.
    let chunk: Buffer;
    if (n <= COPY_LIMIT) {
      chunk = Buffer.allocUnsafe(n);
      buffer.copy(chunk, 0, 0, n);
    } else {
      chunk = buffer.subarray(0, n);
      this.readBuffer = Buffer.allocUnsafe(READ_SIZE);
    }
    try {
      this.decoder.push(chunk);
    } catch (err) {
      this.destroy(
        err instanceof ProtocolError
          ? err
          : new ProtocolError(`failed to handle a FastCGI record: ${(err as Error).message}`),
      );
    }
  }

  /** Can take one more request now. */
  get available(): boolean {
    return !this.closed && this.reusable && this.active < this.capacity;
  }

  /** Sends the request on this connection. */
  start(ex: Exchange): void {
    let id = 1;
    while (this.slots[id] !== undefined) id++;
    ex.requestId = id;
    ex.connection = this;
    ex.reusedConnection = this.served > 0;
    this.slots[id] = ex;
    this.active++;
    const req = ex.request;
    const body = req.body;
    const inline =
      body === null ? EMPTY : Buffer.isBuffer(body) && body.length <= INLINE_BODY_LIMIT ? body : null;
    let head: Buffer;
    try {
      head = encodeRequestHead(id, this.options.keepConn ? FLAG_KEEP_CONN : 0, req.params, inline);
    } catch (err) {
      this.slots[id] = undefined;
      this.active--;
      ex.connection = null;
      ex.fail(err as FpmBridgeError);
      this.owner.onConnectionFree(this);
      return;
    }
    // EPIPE on the write that carries the whole request: php-fpm had closed the connection already.
    const sent = (err: Error | null | undefined) => {
      if ((err as NodeJS.ErrnoException | null | undefined)?.code === 'EPIPE') ex.unsent = true;
    };
    if (inline !== null) {
      ex.bodySent = true;
      this.socket.write(head, sent);
    } else if (Buffer.isBuffer(body)) {
      this.socket.cork();
      this.socket.write(head);
      this.writeStdin(id, body);
      this.socket.write(encodeStreamEnd(STDIN, id), sent);
      this.socket.uncork();
      ex.bodySent = true;
    } else {
      this.socket.write(head);
      // Not one body byte is read before the connection stands: a request that cannot connect can be
      // sent again elsewhere (after a php-fpm restart) with its body intact.
      if (this.connected) this.pipeBody(ex, body as Readable, req.contentLength ?? 0);
      else this.socket.once('connect', () => this.pipeBody(ex, body as Readable, req.contentLength ?? 0));
    }
  }

  /** Continues reading after a handler asked for a pause. */
  resumeReading(): void {
    if (this.paused && !this.closed) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /**
   * Ends `culprit` with `err`. A multiplexed connection with other requests in flight sends
   * FCGI_ABORT_REQUEST and stays; otherwise the socket is closed (php-fpm ignores ABORT_REQUEST).
   */
  destroy(err: FpmBridgeError, culprit?: Exchange): void {
    // Not a byte by the deadline: a hung server looks like this (a slow script too; both count, as nginx's
    // max_fails counts timeouts).
    if (err instanceof TimeoutError && culprit !== undefined && !culprit.received) this.owner.onStalled(err);
    if (culprit !== undefined && this.capacity > 1 && this.active > 1 && culprit.bodySent && !this.closed) {
      // The slot stays taken until END_REQUEST for it arrives; records for it are drained meanwhile.
      this.socket.write(encodeRecord(ABORT_REQUEST, culprit.requestId, EMPTY));
      culprit.fail(err);
      // If the culprit's unread body had paused the socket, its END_REQUEST (and the other requests'
      // records) could never be read: its records are drained from now on, so read again.
      this.resumeReading();
      return;
    }
    this.teardown(err, culprit);
  }

  /** Closes an idle connection (pool shutdown, keep-conn off). */
  close(): void {
    if (!this.closed) this.teardown(null);
  }

  onStream(type: number, requestId: number, data: Buffer): void {
    // Id 0 is FCGI_NULL_REQUEST_ID, for management records only: stream content there is a broken peer,
    // not a record for "no request" to drop (HAProxy 3ac082b2b).
    if (requestId === 0) this.unexpected(type, requestId);
    const ex = this.slots[requestId];
    if (type === STDOUT) {
      if (ex === undefined || ex.done) return;
      ex.received = true;
      if (!ex.handler.onStdout(data) && !this.paused) {
        this.paused = true;
        this.socket.pause();
      }
    } else if (type === STDERR) {
      if (ex === undefined || ex.done) return;
      ex.received = true;
      ex.handler.onStderr(data);
    } else {
      this.unexpected(type, requestId);
    }
  }

  onStreamEnd(type: number, requestId: number): void {
    // The empty STDOUT/STDERR record is optional in practice; END_REQUEST is what ends a request.
    if (type !== STDOUT && type !== STDERR) this.unexpected(type, requestId);
    else if (requestId === 0) this.unexpected(type, requestId);
  }

  onRecord(type: number, requestId: number, content: Buffer): void {
    if (requestId === 0) {
      // Management answers are expected only on probe connections; ignore them here like HAProxy does.
      if (type === GET_VALUES_RESULT || type === UNKNOWN_TYPE) return;
      this.unexpected(type, requestId);
    }
    if (type !== END_REQUEST) this.unexpected(type, requestId);
    if (content.length < 8) {
      throw new ProtocolError(`FastCGI END_REQUEST record with ${content.length} content bytes (expected 8)`);
    }
    const ex = this.slots[requestId];
    if (ex === undefined) return; // an id we do not use: drain, as HAProxy does
    this.slots[requestId] = undefined;
    this.active--;
    this.served++;
    const appStatus = content.readUInt32BE(0);
    const protocolStatus = content[4]!;
    if (!ex.bodySent) this.reusable = false; // php-fpm still expects the rest of STDIN
    if (!this.options.keepConn) this.reusable = false;
    if (ex.done) {
      // Aborted while multiplexed: the slot was only waiting for this record.
    } else if (protocolStatus === REQUEST_COMPLETE) {
      ex.finish();
      this.owner.onCompleted();
      ex.handler.onEnd(appStatus);
    } else if (protocolStatus === CANT_MPX_CONN) {
      this.capacity = 1;
      this.owner.disableMultiplexing();
      ex.connection = null;
      this.owner.redispatch(ex);
    } else if (protocolStatus === OVERLOADED) {
      this.reusable = false;
      ex.fail(
        new OverloadedError(
          `php-fpm at ${formatAddress(this.address)} answered FCGI_OVERLOADED — it has no capacity for this request`,
        ),
      );
    } else if (protocolStatus === UNKNOWN_ROLE) {
      this.reusable = false;
      ex.fail(
        new UnknownRoleError(
          `the FastCGI server at ${formatAddress(this.address)} does not accept the RESPONDER role — is it php-fpm?`,
        ),
      );
    } else {
      throw new ProtocolError(`FastCGI END_REQUEST with unknown protocolStatus ${protocolStatus}`);
    }
    // A pause was backpressure from a response body; once that response ended (its stream got push(null)
    // and never asks for more) nothing else would resume reading, and the next request on this kept
    // connection would wait forever for records still sitting in the socket.
    this.resumeReading();
    if (!this.reusable && this.active === 0) this.close();
    else if (!this.closed) this.owner.onConnectionFree(this);
  }

  private unexpected(type: number, requestId: number): never {
    const name = RECORD_TYPE_NAMES[type] ?? `type ${type}`;
    throw new ProtocolError(
      `unexpected FastCGI ${name} record for request id ${requestId} from ${formatAddress(this.address)}`,
    );
  }

  /** Writes `data` as STDIN records, split at the record limit and padded. Returns socket.write's verdict. */
  private writeStdin(requestId: number, data: Buffer): boolean {
    let ok = true;
    // Corked: each record's header, content and padding leave in one writev, not three write syscalls.
    this.socket.cork();
    for (let pos = 0; pos < data.length; pos += MAX_RECORD_CONTENT) {
      const piece = data.subarray(pos, pos + MAX_RECORD_CONTENT);
      const pad = paddingFor(piece.length);
      const header = Buffer.allocUnsafe(HEADER_LENGTH);
      writeHeader(header, 0, STDIN, requestId, piece.length, pad);
      this.socket.write(header);
      ok = this.socket.write(piece);
      if (pad > 0) ok = this.socket.write(PADDING.subarray(0, pad));
    }
    this.socket.uncork();
    return ok;
  }

  private pipeBody(ex: Exchange, body: Readable, expected: number): void {
    let sent = 0;
    const cleanup = () => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
      body.off('close', onClose);
      this.socket.off('drain', onDrain);
    };
    const onDrain = () => body.resume();
    const onData = (chunk: Buffer) => {
      if (ex.done || this.closed) {
        cleanup();
        return;
      }
      sent += chunk.length;
      if (sent > expected) {
        cleanup();
        this.destroy(
          new BodyError(`request body is longer than its Content-Length of ${expected} bytes`),
          ex,
        );
        return;
      }
      if (!this.writeStdin(ex.requestId, chunk)) {
        body.pause();
        this.socket.once('drain', onDrain);
      }
    };
    const onEnd = () => {
      cleanup();
      if (ex.done || this.closed) return;
      if (sent !== expected) {
        this.destroy(
          new BodyError(`request body ended after ${sent} of its ${expected} announced bytes`),
          ex,
        );
        return;
      }
      this.socket.write(encodeStreamEnd(STDIN, ex.requestId));
      ex.bodySent = true;
    };
    const onError = (err: Error) => {
      cleanup();
      this.destroy(new BodyError(`reading the request body failed: ${err.message}`, { cause: err }), ex);
    };
    const onClose = () => {
      // A Readable that closes without 'end' (client disconnected mid-upload) never completes the body.
      if (!ex.bodySent) onError(new Error('the body stream closed before its end'));
    };
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onError);
    body.once('close', onClose);
    if (expected === 0 && body.readableEnded) onEnd();
  }

  private teardown(err: FpmBridgeError | null, culprit?: Exchange): void {
    if (this.closed) return;
    this.closed = true;
    this.decoder.stop();
    if (this.connectTimer !== null) {
      clearTimeout(this.connectTimer);
      this.connectTimer = null;
    }
    this.socket.destroy();
    const where = formatAddress(this.address);
    // Never connected (refused, no such socket, connect timeout): php-fpm saw none of these requests.
    let connectErr: ConnectError | null = null;
    if (!this.connected && (err === null || err instanceof ConnectError)) {
      const cause = this.socketError;
      const reason = (cause as NodeJS.ErrnoException | null)?.code ?? 'connection closed';
      connectErr =
        err ??
        new ConnectError(
          `cannot connect to php-fpm at ${where}: ${reason} — is php-fpm running and listening there?`,
          { cause },
        );
      this.owner.onConnectFailed(this, connectErr);
    }
    if (this.active > 0) {
      // A connection-wide error (protocol, connect timeout) ends every request; a culprit's own error only it.
      const shared = culprit === undefined ? err : null;
      for (let id = 1; id < this.slots.length; id++) {
        const ex = this.slots[id];
        if (ex === undefined) continue;
        this.slots[id] = undefined;
        if (ex.done) continue;
        if (ex === culprit && err !== null) {
          ex.fail(err);
        } else if (connectErr !== null) {
          ex.connection = null;
          if (!this.owner.failover(ex)) ex.fail(connectErr);
        } else if (shared !== null) {
          ex.fail(shared);
        } else if (
          !ex.received &&
          !ex.retried &&
          ex.request.retryable === true &&
          (ex.unsent || (ex.reusedConnection && ex.request.resendOnClose === true))
        ) {
          // php-fpm had closed this kept connection before the request was written (a worker that exited
          // after pm.max_requests, or died while idle): no script saw it. Or, where allowed, the kept
          // connection closed before any response byte, which is that same race seen late.
          ex.retried = true;
          ex.connection = null;
          this.owner.redispatch(ex);
        } else {
          ex.fail(
            new UpstreamClosedError(
              ex.received
                ? `php-fpm at ${where} closed the connection in the middle of the response (worker killed or crashed?)`
                : `php-fpm at ${where} closed the connection before answering (worker killed or crashed?)`,
              !ex.received,
              { cause: this.socketError ?? undefined },
            ),
          );
        }
      }
      this.active = 0;
    }
    this.owner.onConnectionClosed(this);
  }
}
