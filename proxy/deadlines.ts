import { performance } from 'node:perf_hooks';

/**
 * Many deadlines on one timer. A Node timer per request costs a Timeout object, a place in a list per
 * distinct duration and a libuv timer update, set and cleared again for each request that finishes in time —
 * and on Lambda, where a request's timeout is what is left of its invocation, a new list every time. Here a
 * deadline is a Map entry: the one timer is armed for the earliest, and a deadline deleted (a request that
 * finished) leaves the timer to fire, find nothing due and arm itself for the next.
 *
 * The timer is unref'd: it is armed ahead of need, and whatever a pending deadline waits on (a socket to
 * php-fpm) keeps the process alive by itself.
 */
export class Deadlines<T> {
  private readonly due = new Map<T, number>();
  private timer: NodeJS.Timeout | null = null;
  /** performance.now() the timer fires at; Infinity when it is not armed. */
  private armedFor = Number.POSITIVE_INFINITY;

  constructor(private readonly expire: (item: T) => void) {}

  /** `expire(item)` in `ms` milliseconds, unless the deadline is deleted before. */
  add(item: T, ms: number): void {
    const at = performance.now() + ms;
    this.due.set(item, at);
    if (at < this.armedFor) this.arm(at);
  }

  delete(item: T): void {
    this.due.delete(item);
  }

  private arm(at: number): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.armedFor = at;
    this.timer = setTimeout(() => this.fire(), Math.max(1, Math.ceil(at - performance.now())));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = null;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = performance.now();
    // Entries added by an expiry (a request sent again) are visited too; deleting during a Map's iteration is safe.
    let next = Number.POSITIVE_INFINITY;
    for (const [item, at] of this.due) {
      if (at <= now) {
        this.due.delete(item);
        this.expire(item);
      } else if (at < next) {
        next = at;
      }
    }
    if (next < this.armedFor) this.arm(next);
  }
}
