import type { ConnectError, FpmBridgeError } from './errors.ts';
import type { Exchange, FcgiHandler, FcgiRequest } from './fastcgi/exchange.ts';
import type { Pool, PoolObserver } from './fastcgi/pool.ts';
import { BackendHealth, DEFAULT_HEALTH_OPTIONS, type HealthOptions, HealthProber } from './health.ts';
import { type Logger, silentLogger } from './log.ts';
import type { Dispatcher } from './upstream.ts';

/**
 * Spreads requests over php-fpm pools: each goes to the pool with the fewest requests in flight or
 * waiting (least outstanding requests), the first one on a tie, so a slow backend gets less work.
 *
 * A backend marked down ({@link BackendHealth}) is skipped unless every backend is down; past its cool-down
 * it gets one request to try it, not every request that finds it idle. A request whose
 * connection never stood (php-fpm never saw it, no body byte was read) is sent to another available
 * backend instead of failing, so a dead address costs its clients nothing but the connect attempt.
 *
 * @example
 *   const balancer = new Balancer([poolA, poolB], { interval: 5000 }, log)
 *   balancer.start()   // active FCGI_GET_VALUES probes
 *   balancer.dispatch(request, handler)
 */
export class Balancer implements Dispatcher, PoolObserver {
  readonly health: readonly BackendHealth[];
  private readonly prober: HealthProber;

  constructor(
    readonly pools: readonly Pool[],
    options: Partial<HealthOptions> = {},
    log: Logger = silentLogger,
  ) {
    const o = { ...DEFAULT_HEALTH_OPTIONS, ...options };
    this.health = pools.map((pool) => new BackendHealth(pool, o, log));
    this.prober = new HealthProber(this.health, o);
    for (const pool of pools) pool.observer = this;
  }

  /** Starts the active health check (if `interval` > 0). */
  start(): void {
    this.prober.start();
  }

  /** One round of active probes now (tests, and a first check at start). */
  probe(): Promise<void> {
    return this.prober.probe();
  }

  /** Stops the active health check; the pools are closed by their owner. */
  close(): void {
    this.prober.close();
  }

  dispatch(request: FcgiRequest, handler: FcgiHandler): Exchange {
    // Every backend down: try the least loaded anyway (it may have come back), rather than refuse.
    const pool = this.pick(null, true) ?? this.pick(null, false)!;
    return pool.dispatch(request, handler);
  }

  connectFailed(pool: Pool, err: ConnectError): void {
    this.health[this.pools.indexOf(pool)]!.failed(err);
  }

  completed(pool: Pool): void {
    this.health[this.pools.indexOf(pool)]!.succeeded();
  }

  stalled(pool: Pool, err: FpmBridgeError): void {
    this.health[this.pools.indexOf(pool)]!.failed(err);
  }

  limited(pool: Pool, from: number, to: number): void {
    this.health[this.pools.indexOf(pool)]!.limited(from, to);
  }

  failover(from: Pool, exchange: Exchange): boolean {
    // Each failover tries another backend; more than one round over all of them would only spin.
    if (exchange.failovers >= this.pools.length - 1) return false;
    // Every other backend marked down too: try one anyway, as dispatch does (it may be back already).
    const to = this.pick(from, true) ?? this.pick(from, false);
    if (to === null) return false;
    exchange.failovers++;
    to.redispatch(exchange);
    return true;
  }

  /**
   * One queue in effect, not one per backend: a backend that frees a connection with nothing of its own
   * waiting takes the oldest request of the backend with the longest queue, so no request waits for a busy
   * backend while another is idle.
   */
  idle(pool: Pool): void {
    let from: Pool | null = null;
    for (const p of this.pools) if (p !== pool && p.queued > (from?.queued ?? 0)) from = p;
    const ex = from?.takeQueued() ?? null;
    if (ex !== null) pool.redispatch(ex);
  }

  /**
   * The pool with the fewest outstanding requests (the first on a tie), other than `except`, among the
   * available ones if `available`; null if there is none.
   */
  private pick(except: Pool | null, available: boolean): Pool | null {
    let best = -1;
    let bestLoad = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.pools.length; i++) {
      const pool = this.pools[i]!;
      if (pool === except || (available && !this.health[i]!.available)) continue;
      const load = pool.outstanding;
      if (load < bestLoad) {
        best = i;
        bestLoad = load;
        if (load === 0) break;
      }
    }
    if (best < 0) return null;
    if (available) this.health[best]!.chosen();
    return this.pools[best]!;
  }
}
