import { ClientClosedError, type ConnectError, type FpmBridgeError, QueueFullError } from '../errors.ts';
import { type FcgiAddress, formatAddress } from './address.ts';
import { Connection, type ConnectionOwner } from './connection.ts';
import { Exchange, type FcgiHandler, type FcgiRequest } from './exchange.ts';
import { getValues } from './management.ts';

export interface PoolOptions {
  /**
   * Connections open at once. php-fpm pins one worker per kept connection, so this must not exceed the
   * pool's worker count (pm.max_children), or kept connections starve everyone else.
   */
  maxConns: number;
  /** Send FCGI_KEEP_CONN and reuse connections. */
  keepConn: boolean;
  /** Allow several requests per connection (only if `getValues` is off; otherwise the server decides). */
  mpxsConns: boolean;
  /** Requests per connection at once when multiplexing. */
  maxReqs: number;
  /** Ask the server with FCGI_GET_VALUES before the first request. */
  getValues: boolean;
  /** ms for connect(); 0 = none. */
  connectTimeout: number;
  /** Requests allowed to wait for a connection; more → 503. */
  queueLimit: number;
  /** ms a request may wait for a connection; longer → 503. 0 = no limit. */
  queueTimeout: number;
}

export const DEFAULT_POOL_OPTIONS: PoolOptions = {
  maxConns: 5,
  keepConn: true,
  mpxsConns: false,
  maxReqs: 1,
  getValues: false,
  connectTimeout: 5000,
  queueLimit: 1024,
  queueTimeout: 30_000,
};

/**
 * Told how connecting to the pool's server goes (the passive health check) and offered the requests that
 * could not connect, to send them elsewhere: the {@link Balancer} over several servers.
 */
export interface PoolObserver {
  connectFailed(pool: Pool, err: ConnectError): void;
  /** Takes over a request php-fpm never saw (its connection never stood); false = let it fail. */
  failover(pool: Pool, exchange: Exchange): boolean;
  /** The pool has a free connection and nothing waiting: a request queued elsewhere can run here now. */
  idle(pool: Pool): void;
  /** A request completed on this pool's server. */
  completed(pool: Pool): void;
  /** A request timed out on this pool's server before any answer. */
  stalled(pool: Pool, err: FpmBridgeError): void;
}

export interface PoolStats {
  connections: number;
  active: number;
  queued: number;
}

/**
 * Connections to one FastCGI server, at most `maxConns`, with a FIFO wait queue in front of them: when every
 * connection is busy a request waits here (bounded in length and time) rather than in php-fpm's listen
 * backlog, which is how HAProxy and nginx with keep-alive end up starving clients.
 *
 * @example
 *   const pool = new Pool(parseAddress('unix:/tmp/fpm.sock'), { maxConns: 4 })
 *   const exchange = pool.dispatch({ params, body: null }, handler)
 */
export class Pool implements ConnectionOwner {
  readonly options: PoolOptions;
  /** Set by a balancer: connect results and requests to fail over; null for a pool on its own. */
  observer: PoolObserver | null = null;
  private readonly connections = new Set<Connection>();
  /** Connections that can take a request now; the most recently freed last (warm worker first). */
  private readonly idle: Connection[] = [];
  private readonly queue: (Exchange | undefined)[] = [];
  private queueHead = 0;
  private waiting = 0;
  private perConnection: number;
  private settings: 'unknown' | 'probing' | 'ready';
  private closed = false;
  private drained: (() => void) | null = null;

  constructor(
    readonly address: FcgiAddress,
    options: Partial<PoolOptions> = {},
  ) {
    this.options = { ...DEFAULT_POOL_OPTIONS, ...options };
    this.perConnection = this.options.mpxsConns ? Math.max(1, this.options.maxReqs) : 1;
    this.settings = this.options.getValues ? 'unknown' : 'ready';
  }

  get stats(): PoolStats {
    let active = 0;
    for (const c of this.connections) active += c.active;
    return { connections: this.connections.size, active, queued: this.waiting };
  }

  /** Requests in flight plus those waiting: what a least-outstanding-requests balancer compares. */
  get outstanding(): number {
    const s = this.stats;
    return s.active + s.queued;
  }

  /** Sends a request as soon as a connection is free. The returned exchange can be aborted. */
  dispatch(request: FcgiRequest, handler: FcgiHandler): Exchange {
    const ex = new Exchange(request, handler);
    if (this.closed) {
      ex.fail(new ClientClosedError(`the connection pool to ${formatAddress(this.address)} is closed`));
      return ex;
    }
    if (this.waiting === 0 && this.settings === 'ready') {
      const conn = this.popIdle() ?? this.open();
      if (conn !== null) {
        conn.start(ex);
        this.makeIdle(conn);
        return ex;
      }
    }
    this.enqueue(ex, false);
    if (this.settings === 'unknown') this.probe();
    return ex;
  }

  /** Stops taking requests; waiting ones fail, running ones finish, then connections close. */
  close(): Promise<void> {
    this.closed = true;
    while (this.waiting > 0) {
      const ex = this.shift()!;
      ex.fail(
        new ClientClosedError(
          `the connection pool to ${formatAddress(this.address)} closed while the request waited`,
        ),
      );
    }
    // Closing removes a connection from `idle` (onConnectionClosed), so iterate over a copy.
    for (const c of [...this.idle]) c.close();
    this.idle.length = 0;
    if (this.stats.active === 0) {
      for (const c of this.connections) c.close();
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.drained = resolve;
    });
  }

  /** Closes every connection now, failing what runs on them. */
  destroy(): void {
    void this.close();
    for (const c of [...this.connections]) c.close();
  }

  onConnectionFree(conn: Connection): void {
    if (this.closed) {
      if (conn.active === 0) conn.close();
      return;
    }
    while (this.waiting > 0 && conn.available) conn.start(this.shift()!);
    this.makeIdle(conn);
    if (this.waiting === 0 && conn.available) this.observer?.idle(this);
  }

  /** Requests waiting in this pool's queue. */
  get queued(): number {
    return this.waiting;
  }

  /** Takes the request that has waited longest out of the queue, to run it elsewhere; null if none waits. */
  takeQueued(): Exchange | null {
    return this.shift();
  }

  onConnectionClosed(conn: Connection): void {
    this.connections.delete(conn);
    if (conn.idle) {
      conn.idle = false;
      this.idle.splice(this.idle.indexOf(conn), 1);
    }
    if (this.closed) {
      if (this.drained !== null && this.stats.active === 0) {
        for (const c of this.connections) c.close();
        const done = this.drained;
        this.drained = null;
        done();
      }
      return;
    }
    this.pump();
  }

  redispatch(ex: Exchange): void {
    if (ex.done) return;
    this.enqueue(ex, true);
    if (this.settings === 'unknown') this.probe();
    else this.pump();
  }

  onConnectFailed(_conn: Connection, err: ConnectError): void {
    if (!this.closed) this.observer?.connectFailed(this, err);
  }

  onCompleted(): void {
    this.observer?.completed(this);
  }

  onStalled(err: FpmBridgeError): void {
    if (!this.closed) this.observer?.stalled(this, err);
  }

  failover(ex: Exchange): boolean {
    return !this.closed && this.observer !== null && this.observer.failover(this, ex);
  }

  disableMultiplexing(): void {
    this.perConnection = 1;
  }

  /** Lists a connection that can take a request, once. */
  private makeIdle(conn: Connection): void {
    if (conn.available && !conn.idle) {
      conn.idle = true;
      this.idle.push(conn);
    }
  }

  private popIdle(): Connection | null {
    while (this.idle.length > 0) {
      const conn = this.idle.pop()!;
      conn.idle = false;
      if (conn.available) return conn;
    }
    return null;
  }

  private open(): Connection | null {
    if (this.connections.size >= this.options.maxConns) return null;
    const conn = new Connection(this, this.address, {
      keepConn: this.options.keepConn,
      capacity: this.perConnection,
      connectTimeout: this.options.connectTimeout,
    });
    this.connections.add(conn);
    return conn;
  }

  private enqueue(ex: Exchange, first: boolean): void {
    if (!first && this.waiting >= this.options.queueLimit) {
      ex.fail(
        new QueueFullError(
          `${this.waiting} requests already wait for php-fpm at ${formatAddress(this.address)} (queue limit ${this.options.queueLimit}) — add workers or raise "queueLimit"`,
        ),
      );
      return;
    }
    if (first) {
      if (this.queueHead > 0) this.queue[--this.queueHead] = ex;
      else this.queue.unshift(ex);
    } else {
      this.queue.push(ex);
    }
    this.waiting++;
    const timeout = this.options.queueTimeout;
    // Bounds the wait for a free worker; the request's own deadline (FcgiRequest.timeout) still runs too.
    ex.queueTimer =
      timeout > 0
        ? setTimeout(() => {
            ex.queueTimer = null;
            ex.dequeue = null;
            this.remove(ex);
            ex.fail(
              new QueueFullError(
                `no php-fpm worker at ${formatAddress(this.address)} became free within ${timeout} ms — add workers or raise "queueTimeout"`,
              ),
            );
          }, timeout)
        : null;
    ex.dequeue = () => {
      if (ex.queueTimer !== null) clearTimeout(ex.queueTimer);
      ex.queueTimer = null;
      this.remove(ex);
    };
  }

  private remove(ex: Exchange): void {
    const at = this.queue.indexOf(ex, this.queueHead);
    if (at < 0) return;
    this.queue.splice(at, 1);
    this.waiting--;
  }

  private shift(): Exchange | null {
    if (this.waiting === 0) return null;
    const ex = this.queue[this.queueHead]!;
    this.queue[this.queueHead] = undefined;
    this.queueHead++;
    this.waiting--;
    if (this.waiting === 0 || this.queueHead > 1024) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
    ex.dequeue = null;
    if (ex.queueTimer !== null) {
      clearTimeout(ex.queueTimer);
      ex.queueTimer = null;
    }
    return ex;
  }

  private pump(): void {
    if (this.settings !== 'ready' || this.closed) return;
    while (this.waiting > 0) {
      const next = this.queue[this.queueHead]!;
      // A retried request goes to a new connection: the idle ones may be as stale as the one that failed.
      const conn = (next.retried ? null : this.popIdle()) ?? this.open();
      if (conn === null) return;
      const ex = this.shift()!;
      conn.start(ex);
      this.makeIdle(conn);
    }
  }

  private probe(): void {
    this.settings = 'probing';
    // A server that ignores GET_VALUES never answers: wait one second at most before falling back.
    getValues(this.address, Math.min(this.options.connectTimeout || 1000, 1000)).then(
      (values) => {
        if (values.maxConns !== undefined) {
          this.options.maxConns = Math.min(this.options.maxConns, values.maxConns);
        }
        // As HAProxy does with get-values: the server's FCGI_MAX_REQS sets the requests per connection.
        this.perConnection =
          values.mpxsConns === true ? Math.max(1, values.maxReqs ?? this.options.maxReqs) : 1;
        this.settings = 'ready';
        this.pump();
      },
      (err: FpmBridgeError) => {
        // Fall back to one request per connection, as HAProxy does when the server ignores GET_VALUES.
        this.perConnection = 1;
        this.settings = 'ready';
        if (err.code === 'FPM_BRIDGE_ERR_CONNECT') {
          while (this.waiting > 0) this.shift()!.fail(err);
          this.settings = 'unknown';
          return;
        }
        this.pump();
      },
    );
  }
}
