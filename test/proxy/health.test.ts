import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBackend } from '../../proxy/backend.ts';
import { Balancer } from '../../proxy/balancer.ts';
import { loadConfig } from '../../proxy/config.ts';
import { Pool } from '../../proxy/fastcgi/pool.ts';
import { silentLogger } from '../../proxy/log.ts';
import { bufferCgi } from '../../proxy/upstream.ts';
import { waitFor } from '../support/bridge.ts';
import { FakeFcgiServer, type FakeRequest } from '../support/fake-fcgi-server.ts';
import { startFpm, type TestFpm } from '../support/php-fpm.ts';

const DIR = mkdtempSync(join(tmpdir(), 'fpm-bridge-health-'));
const HELLO = join(DIR, 'hello.php');
writeFileSync(HELLO, '<?php echo "hello from php-fpm";');
const PARAMS = ['REQUEST_METHOD', 'GET', 'SCRIPT_FILENAME', HELLO, 'SCRIPT_NAME', '/hello.php'];

/** A Unix socket path nobody listens on (yet). */
let deadCount = 0;
const deadSocket = () => join(DIR, `dead-${++deadCount}.sock`);
after(() => rmSync(DIR, { recursive: true, force: true }));

async function get(balancer: Balancer): Promise<string> {
  const res = await bufferCgi(balancer, { params: PARAMS, body: null }).response;
  return res.body.toString();
}

describe('Balancer health: a dead address next to a live php-fpm', () => {
  let fpm: TestFpm;
  before(async () => {
    fpm = await startFpm({ workers: 2 });
  });
  after(() => fpm.stop());

  it('answers every request through the live backend and reports the dead one down', async () => {
    // The dead address comes first, so that ties (both idle) pick it: every early request tries it.
    const dead = new Pool({ kind: 'unix', path: deadSocket() }, { maxConns: 2 });
    const balancer = new Balancer([dead, fpm.pool], { failures: 2, coolDown: 3_600_000, interval: 0 });
    try {
      for (let i = 0; i < 4; i++) assert.equal(await get(balancer), 'hello from php-fpm');
      const together = await Promise.all(Array.from({ length: 6 }, () => get(balancer)));
      assert.deepEqual(together, Array(6).fill('hello from php-fpm'));
      const [deadHealth, liveHealth] = balancer.health;
      assert.equal(deadHealth!.up, false);
      assert.equal(deadHealth!.failures, 2, 'skipped once down: no request tried it again');
      assert.match(deadHealth!.lastError!, /cannot connect to php-fpm at unix:.*dead-\d+\.sock: ENOENT/);
      assert.equal(liveHealth!.up, true);
      assert.equal(liveHealth!.failures, 0);
      assert.deepEqual(dead.stats, { connections: 0, active: 0, queued: 0 });
    } finally {
      balancer.close();
      await dead.close();
    }
  });

  it('after the cool-down, one request tries the down backend again, not every one that finds it idle', async () => {
    const dead = new Pool({ kind: 'unix', path: deadSocket() }, { maxConns: 2 });
    const balancer = new Balancer([dead, fpm.pool], { failures: 1, coolDown: 100, interval: 0 });
    try {
      assert.equal(await get(balancer), 'hello from php-fpm');
      assert.equal(balancer.health[0]!.failures, 1);
      await new Promise((resolve) => setTimeout(resolve, 150));
      const together = await Promise.all(Array.from({ length: 6 }, () => get(balancer)));
      assert.deepEqual(together, Array(6).fill('hello from php-fpm'));
      assert.equal(balancer.health[0]!.failures, 2, 'one trial, failed over to the live backend');
      assert.equal(balancer.health[0]!.up, false);
    } finally {
      balancer.close();
      await dead.close();
    }
  });

  it('marks the dead address down by the active probe alone, without costing a request', async () => {
    const dead = new Pool({ kind: 'unix', path: deadSocket() }, { maxConns: 2 });
    const balancer = new Balancer([dead, fpm.pool], { failures: 1, coolDown: 3_600_000, interval: 0 });
    try {
      await balancer.probe();
      assert.equal(balancer.health[0]!.up, false);
      assert.equal(await get(balancer), 'hello from php-fpm');
      assert.equal(balancer.health[0]!.failures, 1, 'the request went straight to the live backend');
    } finally {
      balancer.close();
      await dead.close();
    }
  });

  it('fails with a connect error, not a hang, when every backend is down', async () => {
    const a = new Pool({ kind: 'unix', path: deadSocket() });
    const b = new Pool({ kind: 'unix', path: deadSocket() });
    const balancer = new Balancer([a, b], { failures: 1, coolDown: 3_600_000, interval: 0 });
    try {
      await assert.rejects(get(balancer), { code: 'FPM_BRIDGE_ERR_CONNECT' });
      assert.deepEqual(
        balancer.health.map((h) => h.up),
        [false, false],
      );
      // Both down: requests still try one (it may be back) rather than being refused outright.
      await assert.rejects(get(balancer), { code: 'FPM_BRIDGE_ERR_CONNECT' });
    } finally {
      balancer.close();
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('Balancer health: recovery', () => {
  it('brings a backend back up with the active probe once it starts listening', async () => {
    const path = deadSocket();
    const pool = new Pool({ kind: 'unix', path }, { maxConns: 1 });
    const other = new Pool({ kind: 'unix', path: deadSocket() }, { maxConns: 1 });
    const balancer = new Balancer([pool, other], { failures: 1, coolDown: 3_600_000, interval: 0 });
    let server: FakeFcgiServer | null = null;
    try {
      await balancer.probe();
      assert.deepEqual(
        balancer.health.map((h) => h.up),
        [false, false],
      );
      server = await FakeFcgiServer.start({}, path);
      await balancer.probe();
      assert.deepEqual(
        balancer.health.map((h) => h.up),
        [true, false],
      );
      assert.deepEqual(server.getValuesAsked, [['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS']]);
      assert.equal(await get(balancer), 'ok');
    } finally {
      balancer.close();
      await Promise.all([pool.close(), other.close()]);
      await server?.close();
    }
  });

  it('with every backend marked down, a refused request still fails over to one that came back', async () => {
    const deadPath = deadSocket();
    const backPath = deadSocket();
    const dead = new Pool({ kind: 'unix', path: deadPath }, { maxConns: 1 });
    const back = new Pool({ kind: 'unix', path: backPath }, { maxConns: 1 });
    const balancer = new Balancer([dead, back], { failures: 1, coolDown: 3_600_000, interval: 0 });
    let server: FakeFcgiServer | null = null;
    try {
      await balancer.probe();
      assert.deepEqual(
        balancer.health.map((h) => h.up),
        [false, false],
      );
      // The second comes back; no probe has seen it yet. The request goes to the first (a tie), is refused
      // there, and is sent to the other, down or not.
      server = await FakeFcgiServer.start({}, backPath);
      assert.equal(await get(balancer), 'ok');
    } finally {
      balancer.close();
      await Promise.all([dead.close(), back.close()]);
      await server?.close();
    }
  });

  it('runs a request queued behind a busy backend on another that becomes free (one queue in effect)', async () => {
    const held: FakeRequest[] = [];
    const hold = { onRequest: (req: FakeRequest) => void held.push(req) };
    const a = await FakeFcgiServer.start(hold, deadSocket());
    const b = await FakeFcgiServer.start(hold, deadSocket());
    const poolA = new Pool(a.address, { maxConns: 1 });
    const poolB = new Pool(b.address, { maxConns: 1 });
    const balancer = new Balancer([poolA, poolB], { interval: 0 });
    const marked = (marker: string) => ({ params: [...PARAMS, 'X_MARKER', marker], body: null });
    try {
      const first = bufferCgi(balancer, marked('first')).response; // A
      const second = bufferCgi(balancer, marked('second')).response; // B
      await waitFor(() => held.length === 2, 'both backends busy');
      const third = bufferCgi(balancer, marked('third')).response; // queued on A (a tie goes to the first)
      assert.deepEqual([poolA.queued, poolB.queued], [1, 0]);
      held.find((r) => r.param('X_MARKER') === 'second')!.reply();
      await second;
      // B is free with nothing of its own waiting: it takes the request queued on A, whose first still runs.
      await waitFor(() => held.length === 3, 'the queued request to start on B');
      const started = held[2]!;
      assert.equal(started.param('X_MARKER'), 'third');
      assert.equal(started.connection.server, b);
      started.reply();
      await third;
      held[0]!.reply();
      await first;
    } finally {
      balancer.close();
      // destroy, not close: a failed assertion may leave a held request that close() would wait for.
      poolA.destroy();
      poolB.destroy();
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('marks down a backend whose requests time out unanswered (a hung php-fpm), and up when one completes', async () => {
    // Answers only requests marked "answer"; the others hang, as on a stopped php-fpm that still accepts.
    const server = await FakeFcgiServer.start(
      { onRequest: (req) => (req.param('X_MARKER') === 'answer' ? req.reply() : undefined) },
      deadSocket(),
    );
    const pool = new Pool(server.address, { maxConns: 2 });
    const balancer = new Balancer([pool], { failures: 2, coolDown: 3_600_000, interval: 0 });
    const call = (marker: string) =>
      bufferCgi(balancer, { params: [...PARAMS, 'X_MARKER', marker], body: null, timeout: 100 }).response;
    try {
      await assert.rejects(call('hang'), { code: 'FPM_BRIDGE_ERR_TIMEOUT' });
      assert.equal(balancer.health[0]!.up, true);
      await assert.rejects(call('hang'), { code: 'FPM_BRIDGE_ERR_TIMEOUT' });
      assert.equal(balancer.health[0]!.up, false);
      // Every backend down: the request is tried anyway, and its completion marks the backend up.
      assert.equal((await call('answer')).body.toString(), 'ok');
      assert.equal(balancer.health[0]!.up, true);
    } finally {
      balancer.close();
      pool.destroy();
      await server.close();
    }
  });

  it('probes periodically with the interval, and only backends without open connections', async () => {
    const server = await FakeFcgiServer.start({
      // Holds each request open until the test has looked: its connection stays open meanwhile.
      onRequest: () => {},
    });
    const pool = new Pool(server.address, { maxConns: 1 });
    const balancer = new Balancer([pool], { failures: 1, coolDown: 0, interval: 5 });
    try {
      balancer.start();
      await waitFor(() => server.getValuesAsked.length >= 2, 'two periodic probes');
      const call = bufferCgi(balancer, { params: PARAMS, body: null });
      const [req] = await server.waitForRequests(1);
      const asked = server.getValuesAsked.length;
      // Several intervals pass while the connection is open: no probe joins it.
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(server.getValuesAsked.length, asked);
      req!.reply();
      await call.response;
      assert.equal(balancer.health[0]!.up, true);
    } finally {
      balancer.close();
      await pool.close();
      await server.close();
    }
  });

  it('lets a request try a down backend again after the cool-down, and a success marks it up', async () => {
    const path = deadSocket();
    const pool = new Pool({ kind: 'unix', path }, { maxConns: 1 });
    const balancer = new Balancer([pool], { failures: 1, coolDown: 0, interval: 0 });
    let server: FakeFcgiServer | null = null;
    try {
      await assert.rejects(get(balancer), { code: 'FPM_BRIDGE_ERR_CONNECT' });
      assert.equal(balancer.health[0]!.up, false);
      server = await FakeFcgiServer.start({}, path);
      assert.equal(await get(balancer), 'ok');
      assert.equal(balancer.health[0]!.up, true);
      assert.equal(server.getValuesAsked.length, 0, 'recovered by the request itself, no probe');
    } finally {
      balancer.close();
      await pool.close();
      await server?.close();
    }
  });
});

describe('startBackend with fpm addresses', () => {
  it('reports each address and is healthy while one is up', async () => {
    const fpm = await startFpm({ workers: 1 });
    const dead = deadSocket();
    const { config } = await loadConfig({
      mode: 'serve',
      base: DIR,
      env: {},
      overrides: {
        docroot: DIR,
        fpm: [`unix:${dead}`, `unix:${fpm.socket}`],
        healthInterval: 0,
        healthFailures: 1,
      },
    });
    const backend = await startBackend(config, silentLogger);
    try {
      assert.deepEqual(
        backend.backends.map((b) => [b.address, b.up]),
        [
          [`unix:${dead}`, true],
          [`unix:${fpm.socket}`, true],
        ],
      );
      const res = await bufferCgi(backend.dispatcher, { params: PARAMS, body: null }).response;
      assert.equal(res.body.toString(), 'hello from php-fpm');
      assert.deepEqual(
        backend.backends.map((b) => b.up),
        [false, true],
      );
      assert.equal(backend.healthy(), true);
    } finally {
      await backend.close();
      await fpm.stop();
    }
  });
});
