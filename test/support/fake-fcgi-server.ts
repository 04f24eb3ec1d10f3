/**
 * A scriptable fake FastCGI server on a Unix socket in a private temp dir. It exists only to inject the faults
 * a real php-fpm will not produce on demand (garbage bytes, truncated records, OVERLOADED, CANT_MPX_CONN,
 * multiplexing, silence); everything php-fpm does produce is tested against php-fpm itself.
 *
 * It reads the client's records with the proxy's own {@link RecordDecoder} and records what arrived: the
 * BEGIN_REQUEST role and flags, the params (decoded with {@link decodePairs}), the stdin bytes and any
 * ABORT_REQUEST. Each test scripts the answer through `onRequest` (called once STDIN ended), `onBegin`
 * (called at BEGIN_REQUEST, before params and body), `onAbort` and `onGetValues`: raw bytes or records
 * through `connection.send`, delays with an async script, an abrupt close with `connection.destroy()`
 * (a Unix socket has no RST: the client sees the same end-of-stream a killed worker leaves), a graceful
 * one with `connection.end()`.
 *
 * @example
 *   const server = await FakeFcgiServer.start({
 *     onRequest: (req) => req.connection.send(encodeEndRequest(req.requestId, 0, OVERLOADED)),
 *   })
 *   const pool = new Pool(server.address, { maxConns: 1 })
 *   // ...
 *   await pool.close()
 *   await server.waitForIdle() // every connection closed
 *   await server.close()
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FcgiAddress } from '../../proxy/fastcgi/address.ts';
import { RecordDecoder, type RecordSink } from '../../proxy/fastcgi/decoder.ts';
import {
  ABORT_REQUEST,
  BEGIN_REQUEST,
  decodePairs,
  encodeEndRequest,
  encodePairs,
  encodeRecord,
  encodeStream,
  encodeStreamEnd,
  FLAG_KEEP_CONN,
  GET_VALUES,
  GET_VALUES_RESULT,
  MPXS_CONNS,
  NULL_REQUEST_ID,
  PARAMS,
  REQUEST_COMPLETE,
  STDERR,
  STDIN,
  STDOUT,
} from '../../proxy/fastcgi/records.ts';

/** What the default `onRequest` answers. */
export const DEFAULT_RESPONSE = 'Content-Type: text/plain\r\n\r\nok';

/** One request as the fake server received it. */
export class FakeRequest {
  /** Position of this request among those on its connection, from 0. */
  readonly index: number;
  /** Params in arrival order, `[name, value, ...]`; null if PARAMS did not decode as whole pairs. */
  params: string[] | null = null;
  /** STDIN bytes received so far (whole once `stdinEnded`). */
  stdin: Buffer = Buffer.alloc(0);
  stdinEnded = false;
  /** An FCGI_ABORT_REQUEST for this request arrived. */
  aborted = false;
  private readonly paramChunks: Buffer[] = [];

  constructor(
    readonly connection: FakeConnection,
    readonly requestId: number,
    readonly role: number,
    readonly flags: number,
  ) {
    this.index = connection.requests.length;
  }

  get keepConn(): boolean {
    return (this.flags & FLAG_KEEP_CONN) !== 0;
  }

  /** The last value of `name` (php-fpm keeps the last of a repeated name), or undefined. */
  param(name: string): string | undefined {
    const p = this.params;
    if (p === null) return undefined;
    let value: string | undefined;
    for (let i = 0; i < p.length; i += 2) if (p[i] === name) value = p[i + 1];
    return value;
  }

  /**
   * Answers the way php-fpm does: STDERR (if any), STDOUT, the empty STDOUT record, END_REQUEST; then closes
   * the connection unless the client asked for FCGI_KEEP_CONN.
   */
  reply(
    stdout: string | Buffer = DEFAULT_RESPONSE,
    options: { appStatus?: number; stderr?: string } = {},
  ): void {
    const id = this.requestId;
    const parts: Buffer[] = [];
    if (options.stderr !== undefined) {
      parts.push(encodeStream(STDERR, id, Buffer.from(options.stderr)), encodeStreamEnd(STDERR, id));
    }
    parts.push(encodeStream(STDOUT, id, typeof stdout === 'string' ? Buffer.from(stdout) : stdout));
    parts.push(encodeStreamEnd(STDOUT, id));
    parts.push(encodeEndRequest(id, options.appStatus ?? 0, REQUEST_COMPLETE));
    this.connection.send(...parts);
    if (!this.keepConn) this.connection.end();
  }

  /** @internal */
  addParams(data: Buffer): void {
    this.paramChunks.push(Buffer.from(data));
  }

  /** @internal */
  endParams(): void {
    this.params = decodePairs(Buffer.concat(this.paramChunks));
  }

  /** @internal */
  addStdin(data: Buffer): void {
    this.stdin = Buffer.concat([this.stdin, data]);
  }
}

/** A record the client sent that is not stream content: BEGIN_REQUEST, ABORT_REQUEST, GET_VALUES, stream ends. */
export interface ReceivedRecord {
  type: number;
  requestId: number;
  content: Buffer;
}

/** One accepted client connection. */
export class FakeConnection {
  /** Position of this connection among all the server accepted, from 0. */
  readonly index: number;
  readonly requests: FakeRequest[] = [];
  /** Whole records and stream ends, in arrival order. */
  readonly records: ReceivedRecord[] = [];
  /** Set when the client's bytes did not decode (the connection is then destroyed). */
  decodeError: Error | null = null;
  closed = false;
  private readonly live = new Map<number, FakeRequest>();

  constructor(
    readonly server: FakeFcgiServer,
    readonly socket: Socket,
  ) {
    this.index = server.connections.length;
    const decoder = new RecordDecoder(this.sink());
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk);
      } catch (err) {
        this.decodeError = err as Error;
        socket.destroy();
      }
    });
    // The client closing first makes writes fail with EPIPE; that is part of what the tests provoke.
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      server.changed();
    });
  }

  /** Writes raw bytes (or whole records built with encodeRecord / encodeEndRequest). */
  send(...chunks: Uint8Array[]): void {
    if (this.closed || this.socket.destroyed) return;
    for (const c of chunks) this.socket.write(c);
  }

  /** STDOUT records for `requestId` (not the empty terminator). */
  stdout(requestId: number, data: string | Buffer): void {
    this.send(encodeStream(STDOUT, requestId, typeof data === 'string' ? Buffer.from(data) : data));
  }

  /** END_REQUEST for `requestId`. */
  endRequest(requestId: number, appStatus = 0, protocolStatus = REQUEST_COMPLETE): void {
    this.send(encodeEndRequest(requestId, appStatus, protocolStatus));
  }

  /** FCGI_GET_VALUES_RESULT with the given `[name, value, ...]` pairs. */
  getValuesResult(pairs: readonly string[]): void {
    this.send(encodeRecord(GET_VALUES_RESULT, NULL_REQUEST_ID, encodePairs(pairs)));
  }

  /** Graceful close (FIN) once written data is flushed. */
  end(): void {
    if (!this.closed) this.socket.end();
  }

  /** Abrupt close: what the client sees when a worker is killed. */
  destroy(): void {
    this.socket.destroy();
  }

  private sink(): RecordSink {
    return {
      onStream: (type, requestId, data) => {
        const req = this.live.get(requestId);
        if (req === undefined) return;
        if (type === PARAMS) req.addParams(data);
        else if (type === STDIN) req.addStdin(data);
      },
      onStreamEnd: (type, requestId) => {
        this.records.push({ type, requestId, content: Buffer.alloc(0) });
        const req = this.live.get(requestId);
        if (req === undefined) return;
        if (type === PARAMS) {
          req.endParams();
        } else if (type === STDIN) {
          req.stdinEnded = true;
          this.live.delete(requestId);
          this.server.changed();
          this.server.run('onRequest', req);
        }
      },
      onRecord: (type, requestId, content) => {
        this.records.push({ type, requestId, content: Buffer.from(content) });
        if (type === BEGIN_REQUEST) {
          const req = new FakeRequest(this, requestId, content.readUInt16BE(0), content[2]!);
          this.requests.push(req);
          this.server.requests.push(req);
          this.live.set(requestId, req);
          this.server.changed();
          this.server.run('onBegin', req);
        } else if (type === ABORT_REQUEST) {
          const req = this.live.get(requestId) ?? this.requests.findLast((r) => r.requestId === requestId);
          if (req !== undefined) {
            req.aborted = true;
            this.server.run('onAbort', req);
          }
          this.server.changed();
        } else if (type === GET_VALUES && requestId === NULL_REQUEST_ID) {
          const pairs = decodePairs(content) ?? [];
          const names = pairs.filter((_, i) => i % 2 === 0);
          this.server.getValuesAsked.push(names);
          this.server.changed();
          this.server.options.onGetValues(names, this);
        }
      },
    };
  }
}

export interface FakeServerOptions {
  /** Called when a request's STDIN ended. Default: `req.reply()` (200 "ok"). */
  onRequest: (req: FakeRequest) => void | Promise<void>;
  /** Called at BEGIN_REQUEST, before params and body arrive. Default: nothing. */
  onBegin: (req: FakeRequest) => void | Promise<void>;
  /** Called when FCGI_ABORT_REQUEST arrives for a request. Default: nothing (php-fpm ignores it). */
  onAbort: (req: FakeRequest) => void | Promise<void>;
  /**
   * Called for FCGI_GET_VALUES with the names asked. Default: php-fpm 8.2's answer, `FCGI_MPXS_CONNS=0`
   * only, then the connection is closed.
   */
  onGetValues: (names: string[], conn: FakeConnection) => void;
}

/** The fake server. Create with {@link FakeFcgiServer.start}; always {@link close} it. */
export class FakeFcgiServer {
  readonly options: FakeServerOptions;
  readonly dir: string;
  readonly path: string;
  readonly address: FcgiAddress;
  /** Every connection ever accepted, in order. */
  readonly connections: FakeConnection[] = [];
  /** Every request ever begun, in order of BEGIN_REQUEST. */
  readonly requests: FakeRequest[] = [];
  /** Names asked by each FCGI_GET_VALUES. */
  readonly getValuesAsked: string[][] = [];
  /** Errors thrown by a script (a failing script is a broken test, asserted empty by the suites). */
  readonly scriptErrors: unknown[] = [];
  private readonly server: Server;
  private waiters: { check: () => boolean; resolve: () => void }[] = [];

  private constructor(options: Partial<FakeServerOptions>, path?: string) {
    this.options = {
      onRequest: (req) => req.reply(),
      onBegin: () => {},
      onAbort: () => {},
      onGetValues: (_names, conn) => {
        conn.getValuesResult([MPXS_CONNS, '0']);
        conn.end();
      },
      ...options,
    };
    this.dir = mkdtempSync(join(tmpdir(), 'fake-fcgi-'));
    this.path = path ?? join(this.dir, 'fcgi.sock');
    this.address = { kind: 'unix', path: this.path };
    this.server = createServer((socket) => {
      this.connections.push(new FakeConnection(this, socket));
      this.changed();
    });
  }

  /** Starts listening, on a socket in a private temp dir or at `path` (a socket a client already targets). */
  static async start(options: Partial<FakeServerOptions> = {}, path?: string): Promise<FakeFcgiServer> {
    const server = new FakeFcgiServer(options, path);
    await new Promise<void>((resolve, reject) => {
      server.server.once('error', reject);
      server.server.listen(server.path, () => resolve());
    });
    return server;
  }

  /** Connections the client has not closed yet (and the server has not either). */
  get openConnections(): number {
    let n = 0;
    for (const c of this.connections) if (!c.closed) n++;
    return n;
  }

  /** Resolves once `check()` holds; re-checked after every connection, record or close. */
  waitFor(check: () => boolean): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ check, resolve }));
  }

  /** Resolves once `n` requests have fully arrived (STDIN ended), returning them. */
  async waitForRequests(n: number): Promise<FakeRequest[]> {
    const complete = () => this.requests.filter((r) => r.stdinEnded);
    await this.waitFor(() => complete().length >= n);
    return complete();
  }

  /** Resolves once every connection is closed. */
  waitForIdle(): Promise<void> {
    return this.waitFor(() => this.openConnections === 0);
  }

  /** Stops listening, destroys what is still open and removes the temp dir. */
  async close(): Promise<void> {
    for (const c of this.connections) c.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** @internal Re-evaluates waiters. */
  changed(): void {
    if (this.waiters.length === 0) return;
    const pending = this.waiters;
    this.waiters = [];
    for (const w of pending) {
      if (w.check()) w.resolve();
      else this.waiters.push(w);
    }
  }

  /** @internal Runs a script hook, keeping what it throws for the test to see. */
  run(hook: 'onRequest' | 'onBegin' | 'onAbort', req: FakeRequest): void {
    try {
      const result = this.options[hook](req);
      if (result instanceof Promise) result.catch((err: unknown) => this.scriptErrors.push(err));
    } catch (err) {
      this.scriptErrors.push(err);
    }
  }
}
