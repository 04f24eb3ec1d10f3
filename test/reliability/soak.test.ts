// 100,000 requests in a row, one after the other, to a tiny script: file descriptors stay as they were and
// memory stays flat. They go to the Bridge (pool, connection, params, CGI parser, streamed body: the code
// every request of both fronts runs) rather than over HTTP: node:http's own client and server would take
// four times as long here and are not what is measured (the front's per-request parts are in faults.test.ts).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { StreamedResponse } from '../../proxy/upstream.ts';
import { readAll, startBridge } from '../support/bridge.ts';
import { openFds, rss } from '../support/proc.ts';

/** FPM_BRIDGE_SOAK_REQUESTS=1000000 for a longer run. */
const REQUESTS = Number(process.env.FPM_BRIDGE_SOAK_REQUESTS ?? 100_000);
const MiB = 2 ** 20;

// A full collection before each measurement, so garbage not yet collected does not count as growth.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe(`${REQUESTS} requests in a row`, () => {
  it('leave the open file descriptors as they were, the heap within 4 MiB and RSS within 48 MiB', {
    timeout: 600_000,
  }, async (t) => {
    const root = mkdtempSync(join(tmpdir(), 'fpm-bridge-soak-'));
    writeFileSync(join(root, 'ok.php'), "<?php echo 'ok';\n");
    const b = await startBridge({ docroot: root, overrides: { workers: 1 }, record: false });
    try {
      const request = b.toRequest({ uri: '/ok.php' });
      const route = b.bridge.route(request);
      if (route.kind !== 'script') assert.fail(`/ok.php routes to ${route.kind}`);
      const run = async (n: number) => {
        for (let i = 0; i < n; i++) {
          const res: StreamedResponse = await b.bridge.stream(request, route, null, `soak-${i}`).response;
          const body = (await readAll(res.body)).toString();
          if (res.status !== 200 || body !== 'ok') assert.fail(`request ${i}: ${res.status} ${body}`);
        }
      };
      // Warm up: JIT, buffers and the kept connection to the worker exist before measuring.
      await run(2000);
      gc();
      const fds = openFds();
      const heap = process.memoryUsage().heapUsed;
      const resident = rss();
      const started = performance.now();
      await run(REQUESTS);
      const seconds = (performance.now() - started) / 1000;
      gc();
      const heapGrowth = process.memoryUsage().heapUsed - heap;
      const rssGrowth = rss() - resident;
      t.diagnostic(
        `${REQUESTS} requests in ${seconds.toFixed(1)} s; heap ${(heap / MiB).toFixed(1)} MiB ${sign(heapGrowth)}; RSS ${(resident / MiB).toFixed(1)} MiB ${sign(rssGrowth)}; ${fds} fds`,
      );
      assert.equal(openFds(), fds);
      assert.ok(heapGrowth < 4 * MiB, `heap grew by ${heapGrowth} bytes`);
      assert.ok(rssGrowth < 48 * MiB, `RSS grew by ${rssGrowth} bytes`);
      assert.deepEqual(
        b.log.filter((e) => e.level === 'error'),
        [],
      );
    } finally {
      await b.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});

function sign(bytes: number): string {
  return `${bytes < 0 ? '-' : '+'}${(Math.abs(bytes) / MiB).toFixed(1)} MiB`;
}
