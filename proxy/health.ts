import type { FpmBridgeError } from './errors.ts';
import { formatAddress } from './fastcgi/address.ts';
import { getValues } from './fastcgi/management.ts';
import type { Pool } from './fastcgi/pool.ts';
import type { Logger } from './log.ts';

/** What the health endpoint and the metrics read about one php-fpm address. */
export interface BackendStatus {
  /** `unix:/…` or `tcp://…`. */
  readonly address: string;
  readonly pool: Pool;
  /** Takes requests: reachable at the last attempt, or not yet proven otherwise. */
  readonly up: boolean;
}

export interface HealthOptions {
  /** Connect failures in a row (requests or probes) that mark a backend down. */
  failures: number;
  /** ms a backend marked down gets no requests before one is tried again (unless every backend is down). */
  coolDown: number;
  /** ms between FCGI_GET_VALUES probes; 0 = no active check. */
  interval: number;
  /** ms a probe may take. */
  probeTimeout: number;
}

export const DEFAULT_HEALTH_OPTIONS: HealthOptions = {
  failures: 3,
  coolDown: 10_000,
  interval: 5000,
  probeTimeout: 2000,
};

/**
 * The health of one php-fpm address, from two sources:
 *
 * - passive: a connection that cannot connect, and a request that times out before any answer (a hung
 *   php-fpm still accepts connections), are failures; a completed request is a success. `failures` failures
 *   in a row mark the backend down for `coolDown` ms, after which one request tries it again ({@link chosen};
 *   completed → up, else another cool-down);
 * - active: an FCGI_GET_VALUES probe every `interval` ms ({@link HealthProber}); an answer marks it up, a
 *   failure counts like a failed connect.
 *
 * Starts up: a backend is trusted until it fails, so the first requests after start are not refused.
 */
export class BackendHealth implements BackendStatus {
  readonly address: string;
  up = true;
  /** Failures (refused connections, unanswered timeouts) since the last success. */
  failures = 0;
  /** Why it was last marked down. */
  lastError: string | null = null;
  /** A probe is under way (never two at once). */
  probing = false;
  /** Date.now() after which a down backend may be tried again. */
  private retryAt = 0;
  /** The lowest connection limit logged so far: each finding is logged once, not at every failed raise. */
  private loggedLimit = Number.POSITIVE_INFINITY;

  constructor(
    readonly pool: Pool,
    private readonly options: HealthOptions,
    private readonly log: Logger,
  ) {
    this.address = formatAddress(pool.address);
  }

  /** May get requests now: up, or down for longer than the cool-down (then one request tests it). */
  get available(): boolean {
    return this.up || Date.now() >= this.retryAt;
  }

  /**
   * A request is being sent here. To a down backend past its cool-down, that request is the one trial:
   * the next waits another cool-down unless this one brings the backend up first, so a backend that is
   * still dead (or blackholes connects until `connectTimeout`) costs one request a cool-down, not a burst.
   */
  chosen(): void {
    if (!this.up) this.retryAt = Date.now() + this.options.coolDown;
  }

  succeeded(): void {
    this.failures = 0;
    if (this.up) return;
    this.up = true;
    this.lastError = null;
    this.log.info({ backend: this.address }, 'php-fpm backend is up again');
  }

  /** Its pool found php-fpm serving `to` connections at once (see Pool) and lowered its limit from `from`. */
  limited(from: number, to: number): void {
    const fields = { backend: this.address, maxConns: this.pool.options.maxConns, limit: to };
    const message = `php-fpm at ${this.address} serves ${to} connections; maxConns lowered from ${from} to ${to}`;
    if (to >= this.loggedLimit) {
      this.log.debug(fields, message);
      return;
    }
    this.loggedLimit = to;
    this.log.warn(
      fields,
      `${message} — the other connections would wait in its listen backlog: set "maxConns" to its pool's pm.max_children`,
    );
  }

  failed(err: FpmBridgeError): void {
    this.failures++;
    if (this.failures < this.options.failures) return;
    this.retryAt = Date.now() + this.options.coolDown;
    this.lastError = err.message;
    if (!this.up) return;
    this.up = false;
    this.log.warn(
      { backend: this.address, failures: this.failures, code: err.code, err: err.message },
      `php-fpm backend is down; no requests for ${this.options.coolDown} ms unless every backend is down`,
    );
  }
}

/**
 * The active check: every `interval` ms, an FCGI_GET_VALUES probe to each backend that holds no open
 * connection. A backend with open connections is not probed: php-fpm pins one worker to each kept
 * connection, so when our connections hold every worker a probe would wait in the listen backlog and
 * time out although the backend is fine — and those connections report failures themselves.
 */
export class HealthProber {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly backends: readonly BackendHealth[],
    private readonly options: HealthOptions,
  ) {}

  start(): void {
    if (this.options.interval <= 0 || this.timer !== null) return;
    // The periodic probe; unref'd so that it never keeps the process alive on its own.
    this.timer = setInterval(() => void this.probe(), this.options.interval);
    this.timer.unref();
  }

  /** Probes every idle backend once; resolves when all answered or failed. */
  probe(): Promise<void> {
    const round: Promise<void>[] = [];
    for (const b of this.backends) {
      if (b.probing || b.pool.stats.connections > 0) continue;
      b.probing = true;
      round.push(
        getValues(b.pool.address, this.options.probeTimeout).then(
          () => {
            b.probing = false;
            b.succeeded();
          },
          (err: FpmBridgeError) => {
            b.probing = false;
            b.failed(err);
          },
        ),
      );
    }
    return Promise.all(round).then(() => {});
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
