// The standalone front when things go wrong on either side of it: php-fpm killed under load, scripts that
// outlive the timeout, clients that leave mid-upload. (A client leaving mid-download is in
// test/server/server.test.ts, a single stuck worker timing out there too; SIGTERM drain in drain.test.ts.)
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { waitFor } from '../support/bridge.ts';
import { startFront } from '../support/front.ts';
import { alive, childrenOf, openSockets } from '../support/proc.ts';

/** A bodiless request on a connection of its own, closed after the response. */
function get(port: number, path: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('php-fpm killed with SIGKILL under load', () => {
  it('answers 502 to the requests it ran, is restarted, serves what follows, and leaks nothing', async () => {
    const f = await startFront({ workers: 2 });
    try {
      const supervisor = f.t.bridge.backend.supervisor!;
      const pool = f.t.bridge.backend.pools[0]!;
      // Both pooled connections open, so the socket count compares like with like afterwards.
      await Promise.all([get(f.port, '/sleep.php?s=0'), get(f.port, '/sleep.php?s=0')]);
      const sockets = openSockets();
      const master = supervisor.pid!;
      const workers = childrenOf(master);
      assert.equal(workers.length, 2);

      // GETs: with the php-fpm fpm-bridge spawned, a request whose worker dies is never sent again, whatever
      // its method (PHP may have run it). The two that run sleep long enough to be running still when
      // php-fpm is killed, however loaded the machine; the four queued behind them are quick once it is back.
      const load = Array.from({ length: 6 }, (_, i) => get(f.port, `/sleep.php?s=${i < 2 ? 10 : 0}`));
      await waitFor(() => pool.stats.active === 2 && pool.stats.queued === 4, 'two running, four queued');
      // The whole php-fpm, as the OOM killer or a crash takes it: with the master alone killed, an orphaned
      // worker may still finish its script and answer (seen here), which is fine but not this case.
      for (const pid of [master, ...workers]) process.kill(pid, 'SIGKILL');
      const statuses = (await Promise.all(load)).map((r) => r.status);

      // The queue is FIFO: the first two ran. A queued request may have been handed a connection in the
      // moment php-fpm died (502) or waited for the restart (200); none hangs.
      assert.deepEqual(statuses.slice(0, 2), [502, 502]);
      for (const s of statuses.slice(2)) assert.ok(s === 200 || s === 502, `status ${s}`);
      assert.equal(supervisor.restarts, 1);
      assert.notEqual(supervisor.pid, master);
      assert.equal((await get(f.port, '/sleep.php?s=0')).body, 'slept');
      await waitFor(
        () => !alive(master) && workers.every((w) => !alive(w)),
        'the old master and workers to exit',
      );
      await Promise.all([get(f.port, '/sleep.php?s=0'), get(f.port, '/sleep.php?s=0')]);
      // At most as many as before: the baseline may still count the warm-up's client connections, which
      // the server closes a moment after their responses.
      await waitFor(() => openSockets() <= sockets, `the socket count to come back to at most ${sockets}`);
    } finally {
      await f.close();
    }
  });
});

describe('a client that leaves in the middle of its upload', () => {
  it('frees the only worker at once: the next request is served', async () => {
    // Streamed (requestBuffering off): read whole first, an upload takes no worker to free.
    const f = await startFront({ workers: 1, timeout: 0, requestBuffering: false });
    try {
      const pool = f.t.bridge.backend.pools[0]!;
      const client = connect(f.port, '127.0.0.1');
      client.on('error', () => {});
      client.write(
        'POST /dump.php HTTP/1.1\r\nHost: app.example\r\nContent-Type: application/octet-stream\r\nContent-Length: 10000000\r\n\r\n',
      );
      client.write(Buffer.alloc(256 * 1024, 1));
      // PHP is reading the body: the worker is taken until the rest arrives, which it never will.
      await waitFor(() => pool.stats.active === 1, 'the upload to reach php-fpm');
      client.destroy();
      await waitFor(() => pool.stats.active === 0, 'the worker to be released');
      const next = await get(f.port, '/sleep.php?s=0');
      assert.deepEqual(next, { status: 200, body: 'slept' });
    } finally {
      await f.close();
    }
  });
});

describe('scripts that outlive the timeout on every worker', () => {
  it('answer 504 each, and every worker serves again once php-fpm has ended those scripts', async () => {
    // php-fpm's request_terminate_timeout: timeout + keepConnTimeout + 1 s = 3 s.
    const f = await startFront({ workers: 2, timeout: 1000, keepConnTimeout: 1000 });
    try {
      const supervisor = f.t.bridge.backend.supervisor!;
      // Both workers listed first: read too early (under load), an empty list would make the wait for their
      // replacement below pass at once.
      await waitFor(() => childrenOf(supervisor.pid!).length === 2, 'both workers to be listed');
      const before = childrenOf(supervisor.pid!);
      const stuck = await Promise.all([get(f.port, '/sleep.php?s=30'), get(f.port, '/sleep.php?s=30')]);
      assert.deepEqual(
        stuck.map((r) => r.status),
        [504, 504],
      );
      // php-fpm's request_terminate_timeout (2 s past ours) kills the stuck workers and starts new ones;
      // the master stays. (Until then a request waits in php-fpm's backlog, on its own timeout's clock.)
      const master = supervisor.pid!;
      await waitFor(() => {
        const now = childrenOf(master);
        return now.length === 2 && now.every((pid) => !before.includes(pid));
      }, 'php-fpm to replace both workers');
      const next = await Promise.all([get(f.port, '/sleep.php?s=0'), get(f.port, '/sleep.php?s=0')]);
      assert.deepEqual(next, [
        { status: 200, body: 'slept' },
        { status: 200, body: 'slept' },
      ]);
      assert.equal(supervisor.restarts, 0);
      assert.equal(supervisor.pid, master);
    } finally {
      await f.close();
    }
  });
});
