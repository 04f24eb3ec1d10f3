import type { Exchange, FcgiHandler, FcgiRequest } from './fastcgi/exchange.ts';
import type { Pool } from './fastcgi/pool.ts';
import type { Dispatcher } from './upstream.ts';

/**
 * Spreads requests over several php-fpm pools: each goes to the pool with the fewest requests in flight
 * or waiting (least outstanding requests), the first one on a tie, so a slow backend gets less work.
 */
export class Balancer implements Dispatcher {
  constructor(readonly pools: readonly Pool[]) {}

  dispatch(request: FcgiRequest, handler: FcgiHandler): Exchange {
    let best = this.pools[0]!;
    let bestLoad = best.outstanding;
    for (let i = 1; i < this.pools.length && bestLoad > 0; i++) {
      const load = this.pools[i]!.outstanding;
      if (load < bestLoad) {
        best = this.pools[i]!;
        bestLoad = load;
      }
    }
    return best.dispatch(request, handler);
  }
}
