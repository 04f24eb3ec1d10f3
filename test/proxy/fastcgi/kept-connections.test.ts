/**
 * Kept connections to real php-fpm pools (`pm = static`) over real Unix sockets, behind the standalone front.
 * php-fpm pins a worker to each kept connection: with `maxConns` above the worker count of a php-fpm given
 * by address, the connections beyond its workers wait in its listen backlog with the requests sent on them;
 * and a worker counts the wait on an idle kept connection as a request running, against its
 * request_terminate_timeout.
 */
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Exchange } from '../../../proxy/fastcgi/exchange.ts';
import { Pool } from '../../../proxy/fastcgi/pool.ts';
import { FIXTURES_DOCROOT, waitFor } from '../../support/bridge.ts';
import { startFront, type TestFront } from '../../support/front.ts';
import { startFpm, type TestFpm } from '../../support/php-fpm.ts';
import { childrenOf } from '../../support/proc.ts';

/** One keep-alive client: its requests go one after another over one connection, as a browser's would. */
function client(port: number): {
  get(path: string): Promise<{ status: number; body: string }>;
  close(): void;
} {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  return {
    get: (path) =>
      new Promise((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        });
        req.on('error', reject);
        req.end();
      }),
    close: () => agent.destroy(),
  };
}

/**
 * `clients` clients at once, each sending up to `each` requests for `path` in turn (fewer once `enough()`):
 * every answer, by client.
 */
async function load(
  port: number,
  clients: number,
  each: number,
  path: string,
  enough = () => false,
): Promise<string[][]> {
  return Promise.all(
    Array.from({ length: clients }, async () => {
      const c = client(port);
      try {
        const answers: string[] = [];
        for (let i = 0; i < each && !enough(); i++) {
          const res = await c.get(path);
          answers.push(`${res.status} ${res.body}`);
        }
        return answers;
      } finally {
        c.close();
      }
    }),
  );
}

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const c = client(port);
  return c.get(path).finally(() => c.close());
}

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const LOWERED = /^php-fpm at .* serves \d+ connections; maxConns lowered from \d+ to \d+/;

describe('a php-fpm pool of 2 workers behind maxConns 5', () => {
  let fpm: TestFpm;
  let f: TestFront;
  let address: string;
  before(async () => {
    fpm = await startFpm({ workers: 2 });
    address = `unix:${fpm.socket}`;
    // Without the fix, a request on a connection left in the backlog waits for this and gets 504.
    f = await startFront({ fpm: [address], maxConns: 5, timeout: 10_000, healthInterval: 0 });
  });
  after(async () => {
    await f?.close();
    await fpm?.stop();
  });

  it('answers every one of 10 concurrent keep-alive clients, and logs once that the limit went down to 2', async () => {
    const answers = await load(f.port, 10, 3, '/sleep.php?ms=50');
    assert.deepEqual(
      answers,
      Array.from({ length: 10 }, () => ['200 slept', '200 slept', '200 slept']),
    );
    assert.deepEqual(
      f.t.log.filter((e) => e.level === 'warn' && LOWERED.test(e.msg ?? '')).map((e) => [e.msg, e.fields]),
      [
        [
          `php-fpm at ${address} serves 2 connections; maxConns lowered from 5 to 2 — the other connections would wait in its listen backlog: set "maxConns" to its pool's pm.max_children`,
          { backend: address, maxConns: 5, limit: 2 },
        ],
      ],
    );
  });

  it('shows the lowered limit in the metrics and the health answer, and keeps serving within it', async () => {
    const metrics = await get(f.port, '/fpm-bridge/metrics');
    assert.equal(sample(metrics.body, `fpm_bridge_backend_max_connections{backend="${address}"}`), 2);
    const health = JSON.parse((await get(f.port, '/fpm-bridge/health')).body) as {
      backends: { maxConns: number }[];
    };
    assert.equal(health.backends[0]!.maxConns, 2);
    const again = await load(f.port, 6, 2, '/sleep.php?ms=20');
    assert.deepEqual(
      again,
      Array.from({ length: 6 }, () => ['200 slept', '200 slept']),
    );
  });
});

describe('a php-fpm pool as large as maxConns', () => {
  it('keeps the limit when a new connection is slow to answer while others complete', async () => {
    const fpm = await startFpm({ workers: 3 });
    const address = `unix:${fpm.socket}`;
    const f = await startFront({ fpm: [address], maxConns: 3, timeout: 10_000, healthInterval: 0 });
    try {
      // Three connections open at once; the slow script's has no byte back while the other two complete
      // requests: what a connection in the backlog looks like, until the check finds a worker free.
      const [slow, quick] = await Promise.all([
        get(f.port, '/sleep.php?ms=1500'),
        load(f.port, 2, 10, '/sleep.php?ms=10'),
      ]);
      assert.deepEqual(slow, { status: 200, body: 'slept' });
      assert.deepEqual(quick, [Array(10).fill('200 slept'), Array(10).fill('200 slept')]);
      assert.equal(f.t.bridge.backend.pools[0]!.limit, 3);
      assert.deepEqual(
        f.t.log.filter((e) => LOWERED.test(e.msg ?? '')),
        [],
      );
    } finally {
      await f.close();
      await fpm.stop();
    }
  });
});

describe('a php-fpm pool shared with another client', () => {
  it('finds the workers the other client leaves, and raises the limit again once it lets go of the rest', async () => {
    const fpm = await startFpm({ workers: 4 });
    const address = `unix:${fpm.socket}`;
    // The other client: two kept connections, each holding a worker, idle for the whole test.
    const other = new Pool({ kind: 'unix', path: fpm.socket }, { maxConns: 2, keepConnTimeout: 60_000 });
    const f = await startFront({ fpm: [address], maxConns: 4, timeout: 10_000, healthInterval: 0 });
    try {
      await Promise.all([sleepOn(other, 200).done, sleepOn(other, 200).done]);
      assert.equal(other.stats.connections, 2);
      const answers = await load(f.port, 8, 3, '/sleep.php?ms=50');
      assert.deepEqual(
        answers,
        Array.from({ length: 8 }, () => ['200 slept', '200 slept', '200 slept']),
      );
      assert.deepEqual(
        f.t.log.filter((e) => e.level === 'warn' && LOWERED.test(e.msg ?? '')).map((e) => e.fields),
        [{ backend: address, maxConns: 4, limit: 2 }],
      );
      const pool = f.t.bridge.backend.pools[0]!;
      other.destroy();
      // Requests waiting for a connection try the limit one higher, one connection at a time, while the
      // queue never empties.
      const more = await load(f.port, 8, 200, '/sleep.php?ms=20', () => pool.limit === 4);
      assert.equal(pool.limit, 4);
      assert.deepEqual(
        more.flat().filter((a) => a !== '200 slept'),
        [],
      );
      assert.equal(
        f.t.log.filter((e) => e.level === 'warn' && LOWERED.test(e.msg ?? '')).length,
        1,
        'the finding is logged once',
      );
    } finally {
      other.destroy();
      await f.close();
      await fpm.stop();
    }
  });
});

describe('a lowered limit tried one higher', () => {
  it('goes back down when the trial connection got the worker of a request its client gave up on', async () => {
    const fpm = await startFpm({ workers: 2 });
    const pool = new Pool(
      { kind: 'unix', path: fpm.socket },
      { maxConns: 3, findLimit: true, keepConnTimeout: 60_000 },
    );
    try {
      // Three at once: the third connection waits in the backlog, and a check finds 2 workers.
      await Promise.all([sleepOn(pool, 100).done, sleepOn(pool, 100).done, sleepOn(pool, 100).done]);
      await sleep(2500); // the check's second, then the second before the limit is tried one higher
      assert.equal(pool.limit, 2);
      // Both workers busy: a third request opens the trial connection, which waits in the backlog.
      const a = sleepOn(pool, 1000);
      const b = sleepOn(pool, 1000);
      const c = sleepOn(pool, 0);
      assert.equal(pool.limit, 3);
      // Its client gone, `a`'s connection closes; its worker takes the trial once the script ends.
      a.exchange.abort();
      await assert.rejects(a.done, { code: 'FPM_BRIDGE_ERR_ABORTED' });
      await Promise.all([b.done, c.done]);
      // Decided at once, or by the check that b's end starts (a second at most).
      await waitFor(() => pool.limit === 2, 'the limit back at 2');
    } finally {
      pool.destroy();
      await fpm.stop();
    }
  });
});

describe('kept connections left idle (spawned php-fpm)', () => {
  it('are closed before php-fpm would kill their workers: none killed, none logged, the next requests answer 200', async () => {
    // request_terminate_timeout is timeout + keepConnTimeout + 1 s = 3 s, checked every second: a kill would
    // come within 4 s. The idle connections close at 1 s.
    const f = await startFront({ workers: 2, timeout: 1000, keepConnTimeout: 1000 });
    try {
      const master = f.t.bridge.backend.supervisor!.pid!;
      const pool = f.t.bridge.backend.pools[0]!;
      const twice = () => Promise.all([get(f.port, '/sleep.php?ms=100'), get(f.port, '/sleep.php?ms=100')]);
      assert.deepEqual(await twice(), [
        { status: 200, body: 'slept' },
        { status: 200, body: 'slept' },
      ]);
      assert.equal(pool.stats.connections, 2);
      const workers = childrenOf(master).sort();
      assert.equal(workers.length, 2);
      await sleep(5000);
      assert.equal(pool.stats.connections, 0);
      assert.deepEqual(childrenOf(master).sort(), workers);
      assert.deepEqual(
        f.t.log.filter((e) => /execution timed out/.test(e.msg ?? '')),
        [],
      );
      assert.deepEqual(await twice(), [
        { status: 200, body: 'slept' },
        { status: 200, body: 'slept' },
      ]);
    } finally {
      await f.close();
    }
  });

  it('give a request sent on one idle for 2.5 s its whole timeout: 504 from fpm-bridge, not 502 from php-fpm killing it first', async () => {
    const f = await startFront({ workers: 1, timeout: 2000 });
    try {
      assert.deepEqual(await get(f.port, '/sleep.php?ms=0'), { status: 200, body: 'slept' });
      // The worker's clock for the next request started when this one ended.
      await sleep(2500);
      assert.equal(f.t.bridge.backend.pools[0]!.stats.connections, 1, 'the connection is still kept');
      assert.equal((await get(f.port, '/sleep.php?s=5')).status, 504);
    } finally {
      await f.close();
    }
  });
});

/** Runs sleep.php for `ms` on `pool` (its kept connection stays open after), and the exchange to abort it. */
function sleepOn(pool: Pool, ms: number): { done: Promise<void>; exchange: Exchange } {
  let exchange: Exchange | undefined;
  const done = new Promise<void>((resolve, reject) => {
    exchange = pool.dispatch(
      {
        params: [
          'REQUEST_METHOD',
          'GET',
          'SCRIPT_FILENAME',
          `${FIXTURES_DOCROOT}/sleep.php`,
          'QUERY_STRING',
          `ms=${ms}`,
        ],
        body: null,
      },
      {
        onStdout: () => true,
        onStderr: () => {},
        onEnd: () => resolve(),
        onError: reject,
      },
    );
  });
  return { done, exchange: exchange! };
}
