import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Backend } from '../proxy/backend.ts';

/** Methods counted under their own name; anything else is `OTHER`, so clients cannot grow the label set. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** Every metric `/metrics` exports, for the README and the tests. */
export const METRIC_NAMES = [
  'fpm_bridge_requests_total',
  'fpm_bridge_request_duration_seconds',
  'fpm_bridge_backend_up',
  'fpm_bridge_backend_connections',
  'fpm_bridge_backend_max_connections',
  'fpm_bridge_backend_in_flight',
  'fpm_bridge_backend_queue_depth',
  'fpm_bridge_php_fpm_restarts_total',
] as const;

/**
 * The Prometheus metrics of `fpm-bridge serve`, in a registry of their own (never prom-client's global
 * one, so a library user's metrics and ours do not collide). Request metrics are counted as responses
 * end; backend gauges are read from the pools and the supervisor when scraped, costing nothing between.
 *
 * @example
 *   const metrics = new FrontMetrics(backend)
 *   metrics.observe('GET', 200, 0.012)
 *   const text = await metrics.render()
 */
export class FrontMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'method' | 'status_class'>;
  private readonly duration: Histogram;

  constructor(backend: Backend) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'fpm_bridge_requests_total',
      help: 'HTTP requests answered (health and metrics requests excluded), by method and status class; a client that went away before the status counts as 499',
      labelNames: ['method', 'status_class'],
      registers,
    });
    this.duration = new Histogram({
      name: 'fpm_bridge_request_duration_seconds',
      help: 'Time from the request to the end of its response (or the client leaving), in seconds',
      registers,
    });
    new Gauge({
      name: 'fpm_bridge_backend_up',
      help: '1 if the php-fpm address takes requests (spawned php-fpm ready, or reachable at the last connect or probe), else 0',
      labelNames: ['backend'],
      registers,
      collect() {
        for (const b of backend.backends) this.set({ backend: b.address }, b.up ? 1 : 0);
      },
    });
    new Gauge({
      name: 'fpm_bridge_backend_connections',
      help: 'Open connections to the php-fpm address (at most its worker count)',
      labelNames: ['backend'],
      registers,
      collect() {
        for (const b of backend.backends) this.set({ backend: b.address }, b.pool.stats.connections);
      },
    });
    new Gauge({
      name: 'fpm_bridge_backend_max_connections',
      help: 'Connections opened at most to the php-fpm address: maxConns (the workers of a spawned php-fpm), or fewer once php-fpm was found serving fewer',
      labelNames: ['backend'],
      registers,
      collect() {
        for (const b of backend.backends) this.set({ backend: b.address }, b.pool.limit);
      },
    });
    new Gauge({
      name: 'fpm_bridge_backend_in_flight',
      help: 'Requests running on the php-fpm address',
      labelNames: ['backend'],
      registers,
      collect() {
        for (const b of backend.backends) this.set({ backend: b.address }, b.pool.stats.active);
      },
    });
    new Gauge({
      name: 'fpm_bridge_backend_queue_depth',
      help: 'Requests waiting for a free php-fpm worker at the address',
      labelNames: ['backend'],
      registers,
      collect() {
        for (const b of backend.backends) this.set({ backend: b.address }, b.pool.stats.queued);
      },
    });
    const supervisor = backend.supervisor;
    new Counter({
      name: 'fpm_bridge_php_fpm_restarts_total',
      help: 'Times the spawned php-fpm was started again after dying or being recycled (0 with fpm addresses)',
      registers,
      collect() {
        // The supervisor keeps the running count; a counter can only be raised, so set it from zero.
        this.reset();
        this.inc(supervisor?.restarts ?? 0);
      },
    });
  }

  /** Counts one answered request. */
  observe(method: string | undefined, status: number, seconds: number): void {
    this.requests.inc({
      method: method !== undefined && METHODS.has(method) ? method : 'OTHER',
      status_class: STATUS_CLASSES[Math.floor(status / 100) - 1] ?? '5xx',
    });
    this.duration.observe(seconds);
  }

  /** The text exposition format (what Prometheus scrapes). */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
