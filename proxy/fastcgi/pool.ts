import { performance } from 'node:perf_hooks';
import { Deadlines } from '../deadlines.ts';
import {
  ClientClosedError,
  type ConnectError,
  type FpmBridgeError,
  QueueFullError,
  TimeoutError,
} from '../errors.ts';
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
  /**
   * ms a kept connection may stay idle; then it is closed. php-fpm's worker counts the wait for the next
   * request on a kept connection as part of that request (its clock starts when it begins to wait,
   * fpm_request.c), so an idle connection runs into request_terminate_timeout and gets its worker killed;
   * and a pm=dynamic or ondemand pool cannot retire a worker held by one.
   */
  keepConnTimeout: number;
  /**
   * The server's pool size is unknown (an address given, not the php-fpm fpm-bridge spawned): watch for
   * connections php-fpm leaves in its listen backlog because every worker is held by another kept
   * connection, free a worker for them and lower the limit to what it serves (see {@link Pool}).
   */
  findLimit: boolean;
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
  keepConnTimeout: 5000,
  findLimit: false,
};

/** ms a free worker takes at most to answer the FCGI_GET_VALUES of a backlog check. */
const BACKLOG_PROBE_MS = 1000;
/** First wait before a lowered limit is tried one higher; it doubles after each failed try, up to the last. */
const RAISE_MIN_MS = 1000;
const RAISE_MAX_MS = 60_000;
/**
 * First pause in backlog checks after one found a worker free (a slow new connection, not the backlog); it
 * doubles while they keep finding one, up to the last, so that a pool as large as `maxConns` does not pay a
 * check each time it opens a connection.
 */
const CHECK_PAUSE_MIN_MS = 1000;
const CHECK_PAUSE_MAX_MS = 30_000;

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
  /** php-fpm was found serving `to` connections at once: the pool's limit went down from `from`. */
  limited(pool: Pool, from: number, to: number): void;
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
 * With `findLimit`, a `maxConns` above the pool's worker count heals itself. php-fpm pins a worker to each
 * kept connection, so a connection beyond the worker count waits in php-fpm's listen backlog for good, and so
 * does the request sent on it. Such a connection has never had a byte back while others complete requests;
 * so does a new connection whose first script is merely slow, so the suspicion is checked: the connection
 * that just completed is closed instead of reused (its worker goes back to accept() and takes the oldest
 * connection in the backlog), then an FCGI_GET_VALUES probe connects (and no other connection opens until it
 * is answered or a second has passed). php-fpm accepts connections in order: a probe answered means a worker
 * was free, so nothing older waited in the backlog (and checks pause a while, longer each time one finds
 * nothing); a probe unanswered means every worker holds one of our connections, and the limit becomes the
 * number known to hold one. Connections beyond it are closed as they come free, each freeing a worker for one
 * still waiting. The limit is tried one higher again later (a pm=dynamic pool grows, another client lets go
 * of workers), when requests wait for a connection: one new connection at a time, after 1 s, doubling after
 * each try that starved, up to a minute.
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
  /** The deadline of each request in the queue (queueTimeout). */
  private readonly queueDeadlines = new Deadlines<Exchange>((ex) => this.queueTimedOut(ex));
  private queueHead = 0;
  private waiting = 0;
  private perConnection: number;
  private settings: 'unknown' | 'probing' | 'ready';
  private closed = false;
  private drained: (() => void) | null = null;
  /** Closes the connections idle longer than `keepConnTimeout`; armed while one is idle. */
  private idleTimer: NodeJS.Timeout | null = null;
  /** Set while the pool closes connections itself: each close must not start queued requests meanwhile. */
  private retiring = false;
  /** Requests started so far: orders them across connections (Connection.startSeq). */
  private started = 0;
  /** See {@link limit}: lowered when php-fpm serves fewer connections (see the class comment). */
  private currentLimit: number;
  /** Open connections no worker is known to hold yet (Connection.accepted). */
  private unaccepted = 0;
  /** A backlog check is under way. */
  private checking = false;
  /** performance.now() before which no backlog check starts, and the pause after the next one finds nothing. */
  private checkAt = 0;
  private checkPause = CHECK_PAUSE_MIN_MS;
  /** The connection opened one past a lowered limit to try it, until it is accepted or found waiting. */
  private trial: Connection | null = null;
  /** A connection holding a worker closed while the trial waited: that worker may be the one it got. */
  private trialBlurred = false;
  /** performance.now() from which the limit may be tried one higher, and the wait after the next failure. */
  private raiseAt = 0;
  private raiseDelay = RAISE_MIN_MS;

  constructor(
    readonly address: FcgiAddress,
    options: Partial<PoolOptions> = {},
  ) {
    this.options = { ...DEFAULT_POOL_OPTIONS, ...options };
    this.currentLimit = this.options.maxConns;
    this.perConnection = this.options.mpxsConns ? Math.max(1, this.options.maxReqs) : 1;
    this.settings = this.options.getValues ? 'unknown' : 'ready';
  }

  get stats(): PoolStats {
    let active = 0;
    for (const c of this.connections) active += c.active;
    return { connections: this.connections.size, active, queued: this.waiting };
  }

  /** Connections the pool opens at most now: `maxConns`, or fewer once php-fpm was found serving fewer. */
  get limit(): number {
    return this.currentLimit;
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
        this.send(conn, ex);
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
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
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
    // A connection that completed a request holds a worker: past the limit, or with another connection that
    // may wait in php-fpm's backlog, that worker is what the waiting one needs (see the class comment).
    if (conn.accepted && conn.active === 0 && this.findsLimit && !this.checking) {
      if (this.connections.size > this.currentLimit) {
        conn.close();
        return;
      }
      if (this.unaccepted > 0 && this.suspect(conn) && performance.now() >= this.checkAt) {
        this.checkBacklog(conn);
        return;
      }
    }
    while (this.waiting > 0 && conn.available) this.send(conn, this.shift()!);
    // Requests still wait: the moment to try a lowered limit one higher (nothing else opens connections
    // while a queue keeps every connection busy).
    if (this.waiting > 0 && this.currentLimit < this.options.maxConns) this.pump();
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
    if (!conn.accepted) this.unaccepted--;
    else if (this.trial !== null) this.trialBlurred = true;
    if (conn === this.trial) this.untried();
    if (this.closed) {
      if (this.drained !== null && this.stats.active === 0) {
        for (const c of this.connections) c.close();
        const done = this.drained;
        this.drained = null;
        done();
      }
      return;
    }
    if (!this.retiring) this.pump();
  }

  onAccepted(conn: Connection): void {
    this.unaccepted--;
    // During a check its worker may be the one the check let go: then only the check's outcome tells.
    if (conn === this.trial && !this.checking) {
      if (this.trialBlurred) this.untried();
      else this.raised();
    }
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

  private send(conn: Connection, ex: Exchange): void {
    conn.startSeq = ++this.started;
    conn.start(ex);
  }

  /**
   * `freed` completed a request: may a connection with no byte back wait in php-fpm's backlog? A new
   * connection's first answer takes a script's time, so while requests wait for a connection, only one
   * overtaken by as many requests as there are connections known to hold a worker is suspect (each of them
   * ran a request it started later); with none waiting, `freed` would sit idle, and any is.
   */
  private suspect(freed: Connection): boolean {
    const enough = this.waiting === 0 ? 0 : this.connections.size - this.unaccepted;
    let found = false;
    for (const c of this.connections) {
      if (c.accepted || c.active === 0) continue;
      if (freed.startSeq > c.startSeq) c.overtaken++;
      if (c.overtaken >= enough) found = true;
    }
    return found;
  }

  /**
   * The backlog can be watched: php-fpm pins a worker to a connection only when it is kept, and a server
   * that multiplexes is no php-fpm.
   */
  private get findsLimit(): boolean {
    return this.options.findLimit && this.options.keepConn && this.perConnection === 1;
  }

  /** Lists a connection that can take a request, once; one with none running starts its idle time. */
  private makeIdle(conn: Connection): void {
    if (!conn.available) return;
    if (!conn.idle) {
      conn.idle = true;
      this.idle.push(conn);
    }
    if (conn.active === 0) {
      conn.idleSince = performance.now();
      if (this.idleTimer === null) this.armIdleTimer(this.options.keepConnTimeout);
    }
  }

  private popIdle(): Connection | null {
    while (this.idle.length > 0) {
      const conn = this.idle.pop()!;
      conn.idle = false;
      if (!conn.available) continue;
      // Idle past the bound (a timer that ran late, a process that was frozen): php-fpm's clock for the next
      // request on it has run that long already.
      if (conn.active === 0 && performance.now() - conn.idleSince >= this.options.keepConnTimeout) {
        this.retiring = true;
        conn.close();
        this.retiring = false;
        continue;
      }
      return conn;
    }
    return null;
  }

  /** One timer for the whole pool, due when the longest-idle connection reaches `keepConnTimeout`. */
  private armIdleTimer(delay: number): void {
    this.idleTimer = setTimeout(() => this.closeIdle(), delay);
    // Never keeps the process alive on its own.
    this.idleTimer.unref();
  }

  /** Closes the connections idle for `keepConnTimeout` (see PoolOptions.keepConnTimeout). */
  private closeIdle(): void {
    this.idleTimer = null;
    const now = performance.now();
    const timeout = this.options.keepConnTimeout;
    let next = Number.POSITIVE_INFINITY;
    // Closing removes a connection from `idle` (onConnectionClosed), so iterate over a copy.
    for (const conn of [...this.idle]) {
      if (conn.active > 0) continue; // multiplexed, with requests still running
      const left = conn.idleSince + timeout - now;
      if (left <= 0) conn.close();
      else next = Math.min(next, left);
    }
    if (next !== Number.POSITIVE_INFINITY) this.armIdleTimer(next);
  }

  private open(): Connection | null {
    // While a backlog check runs, a new connection would queue behind the ones in question and blur the answer.
    if (this.checking) return null;
    let trial = false;
    if (this.connections.size >= this.currentLimit) {
      if (!this.mayRaise()) return null;
      this.currentLimit++;
      trial = true;
    }
    const conn = new Connection(this, this.address, {
      keepConn: this.options.keepConn,
      capacity: this.perConnection,
      connectTimeout: this.options.connectTimeout,
    });
    this.connections.add(conn);
    this.unaccepted++;
    if (trial) {
      this.trial = conn;
      this.trialBlurred = false;
    }
    return conn;
  }

  /**
   * A lowered limit may be tried one higher now: requests wait for a connection (the caller needs one), each
   * open connection is known to hold a worker (so the new one's fate is its own) and the wait is over.
   */
  private mayRaise(): boolean {
    return (
      this.currentLimit < this.options.maxConns &&
      this.connections.size === this.currentLimit &&
      this.unaccepted === 0 &&
      this.trial === null &&
      performance.now() >= Math.max(this.raiseAt, this.checkAt)
    );
  }

  /**
   * `released` completed a request while another connection has had no byte back: it may wait in php-fpm's
   * listen backlog. Closes `released` so that its worker takes the oldest connection there, then finds out
   * with a probe whether any worker is free (see the class comment).
   */
  private checkBacklog(released: Connection): void {
    this.checking = true;
    const opened = this.connections.size;
    released.close();
    const suspects: Connection[] = [];
    for (const c of this.connections) if (!c.accepted) suspects.push(c);
    getValues(this.address, BACKLOG_PROBE_MS).then(
      () => {
        // A worker took the probe, so every connection that was older has one too.
        for (const c of suspects) this.accept(c);
        this.checkAt = performance.now() + this.checkPause;
        this.checkPause = Math.min(this.checkPause * 2, CHECK_PAUSE_MAX_MS);
        // Proven: a worker for each connection open before the release (the probe had the released one's).
        if (this.trial !== null) {
          if (opened >= this.currentLimit) this.raised();
          else this.untried();
        }
        this.checked(this.currentLimit);
      },
      (err: FpmBridgeError) => {
        if (!(err instanceof TimeoutError)) {
          // Refused or broken: says nothing about the backlog, nor about a trial that got a worker meanwhile.
          if (this.trial?.accepted) this.untried();
          this.checked(this.currentLimit);
          return;
        }
        // No worker free though one was just let go: each holds one of our connections.
        this.checkPause = CHECK_PAUSE_MIN_MS;
        const before = this.currentLimit;
        let served = 0;
        for (const c of this.connections) if (c.accepted) served++;
        served = Math.max(1, served);
        if (this.trial !== null || served < before) {
          this.trial = null;
          this.raiseAt = performance.now() + this.raiseDelay;
          this.raiseDelay = Math.min(this.raiseDelay * 2, RAISE_MAX_MS);
        }
        if (served < before && !this.closed) this.observer?.limited(this, before, served);
        this.checked(Math.min(before, served));
      },
    );
  }

  private checked(limit: number): void {
    this.checking = false;
    this.currentLimit = limit;
    if (this.closed) return;
    // Idle connections past the limit hold the workers that those still in the backlog need.
    this.retiring = true;
    for (let i = 0; i < this.idle.length && this.connections.size > limit; ) {
      const conn = this.idle[i]!;
      if (conn.active === 0) conn.close();
      else i++;
    }
    this.retiring = false;
    this.pump();
  }

  /**
   * The trial showed nothing (it closed unanswered, or got a worker one of our own connections had let go):
   * back to the proven limit, and another try after the same wait. The trial stays open as any other.
   */
  private untried(): void {
    this.trial = null;
    this.currentLimit--;
    this.raiseAt = performance.now() + this.raiseDelay;
  }

  /** php-fpm had a worker for the trial connection: the higher limit stays, and the next may be tried now. */
  private raised(): void {
    this.trial = null;
    this.raiseAt = 0;
    this.raiseDelay = RAISE_MIN_MS;
  }

  /** A backlog check proved that a worker holds `conn`. */
  private accept(conn: Connection): void {
    if (conn.accepted || conn.closed) return;
    conn.accepted = true;
    this.onAccepted(conn);
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
    ex.queuedIn = this;
    // Bounds the wait for a free worker; the request's own deadline (FcgiRequest.timeout) still runs too.
    if (this.options.queueTimeout > 0) this.queueDeadlines.add(ex, this.options.queueTimeout);
  }

  /** Takes a waiting request out of the queue (it was aborted). */
  unqueue(ex: Exchange): void {
    if (ex.queuedIn !== this) return;
    ex.queuedIn = null;
    this.queueDeadlines.delete(ex);
    this.remove(ex);
  }

  private queueTimedOut(ex: Exchange): void {
    ex.queuedIn = null;
    this.remove(ex);
    ex.fail(
      new QueueFullError(
        `no php-fpm worker at ${formatAddress(this.address)} became free within ${this.options.queueTimeout} ms — add workers or raise "queueTimeout"`,
      ),
    );
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
    ex.queuedIn = null;
    this.queueDeadlines.delete(ex);
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
      this.send(conn, ex);
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
          this.currentLimit = Math.min(this.currentLimit, this.options.maxConns);
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
