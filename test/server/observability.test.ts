import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Config } from '../../proxy/config.ts';
import { createPinoLogger } from '../../server/log.ts';
import { METRIC_NAMES } from '../../server/metrics.ts';
import { metricsUrl } from '../../server/server.ts';
import { waitFor } from '../support/bridge.ts';
import { startFront, type TestFront } from '../support/front.ts';

interface Front extends TestFront {
  /** Access log lines, parsed, in order. */
  access: Record<string, unknown>[];
}

async function front(overrides: Partial<Record<keyof Config, unknown>> = {}): Promise<Front> {
  const access: Record<string, unknown>[] = [];
  // pino writes each line whole to its destination: this one parses and keeps them.
  const accessLog = createPinoLogger('info', {
    write: (line: string) => {
      access.push(JSON.parse(line) as Record<string, unknown>);
    },
  });
  return { ...(await startFront(overrides, { accessLog })), access };
}

/** Sends `head` as is on a new connection and resolves with every byte the server sent until it closed. */
function raw(port: number, head: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
    socket.write(head, 'latin1');
  });
}

function get(
  port: number,
  path: string,
  method = 'GET',
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The value of one sample line, e.g. `fpm_bridge_requests_total{method="GET",status_class="2xx"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('standalone front: access log', () => {
  let f: Front;
  before(async () => {
    f = await front();
  });
  after(() => f.close());

  it('writes one JSON line per request with exactly these fields, after the response ended', async () => {
    const bytes = await raw(
      f.port,
      'GET /dump.php?x=1 HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n',
    );
    await waitFor(() => f.access.length === 1, 'the access log line');
    const line = f.access[0]!;
    assert.deepEqual(Object.keys(line), [
      'level',
      'time',
      'requestId',
      'method',
      'url',
      'status',
      'bytes',
      'durationMs',
      'remoteAddress',
      'backend',
      'aborted',
      'msg',
    ]);
    assert.equal(line.level, 30);
    assert.equal(typeof line.time, 'number');
    assert.equal(typeof line.requestId, 'string');
    assert.equal(line.method, 'GET');
    assert.equal(line.url, '/dump.php?x=1');
    assert.equal(line.status, 200);
    assert.equal(line.bytes, bytes.length, 'every byte the client received, headers included');
    assert.equal(typeof line.durationMs, 'number');
    assert.ok((line.durationMs as number) >= 0);
    assert.equal(line.remoteAddress, '127.0.0.1');
    assert.equal(line.backend, f.t.bridge.backend.backends[0]!.address);
    assert.equal(line.aborted, false);
    assert.equal(line.msg, 'request');
  });

  it('logs a static file and a refused request with no backend', async () => {
    f.access.length = 0;
    await get(f.port, '/hello.txt');
    await get(f.port, '/%2e%2e/etc/passwd');
    await waitFor(() => f.access.length === 2, 'two access log lines');
    assert.deepEqual(
      f.access.map((l) => [l.url, l.status, l.backend]),
      [
        ['/hello.txt', 200, null],
        ['/%2e%2e/etc/passwd', 404, null],
      ],
    );
  });

  it('logs the target as the text its bytes are: UTF-8 as such, other bytes as ISO-8859-1', async () => {
    f.access.length = 0;
    await raw(f.port, 'GET /caf\xc3\xa9?q=\xe9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await raw(f.port, 'GET /caf\xc3\xa9?q=\xc3\xa9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await waitFor(() => f.access.length === 2, 'two access log lines');
    assert.deepEqual(
      f.access.map((l) => l.url),
      ['/caf\xc3\xa9?q=\xe9', '/café?q=é'],
    );
  });

  it('logs a client that went away before the response as 499, aborted', async () => {
    f.access.length = 0;
    await new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port: f.port, path: '/sleep.php?s=30' });
      req.on('error', () => resolve());
      req.end();
      waitFor(() => f.t.bridge.backend.pools[0]!.stats.active === 1, 'the script to run').then(() =>
        req.destroy(),
      );
    });
    await waitFor(() => f.access.length === 1, 'the access log line of the aborted request');
    assert.equal(f.access[0]!.status, 499);
    assert.equal(f.access[0]!.aborted, true);
    assert.equal(f.access[0]!.url, '/sleep.php?s=30');
  });

  it('logs neither health nor metrics requests', async () => {
    f.access.length = 0;
    await get(f.port, '/fpm-bridge/health');
    await get(f.port, '/fpm-bridge/metrics');
    await get(f.port, '/hello.txt');
    await waitFor(() => f.access.length === 1, 'the static request');
    assert.equal(f.access[0]!.url, '/hello.txt');
  });
});

describe('standalone front: /metrics', () => {
  let f: Front;
  before(async () => {
    f = await front({ healthPath: '/healthz', metricsPath: '/metricz' });
  });
  after(() => f.close());

  it('exports every metric, with request counts by method and status class', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await get(f.port, '/dump.php')).status, 200);
    assert.equal((await get(f.port, '/status.php?code=404')).status, 404);
    assert.equal((await get(f.port, '/dump.php', 'POST')).status, 200);
    assert.equal((await get(f.port, '/dump.php', 'PROPFIND')).status, 200);
    const res = await get(f.port, '/metricz');
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const text = res.body;
    for (const name of METRIC_NAMES) assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
    const backend = f.t.bridge.backend.backends[0]!.address;
    assert.equal(sample(text, 'fpm_bridge_requests_total{method="GET",status_class="2xx"}'), 3);
    assert.equal(sample(text, 'fpm_bridge_requests_total{method="GET",status_class="4xx"}'), 1);
    assert.equal(sample(text, 'fpm_bridge_requests_total{method="POST",status_class="2xx"}'), 1);
    assert.equal(sample(text, 'fpm_bridge_requests_total{method="OTHER",status_class="2xx"}'), 1);
    assert.equal(sample(text, 'fpm_bridge_request_duration_seconds_count'), 6);
    assert.equal(sample(text, `fpm_bridge_backend_up{backend="${backend}"}`), 1);
    assert.equal(sample(text, `fpm_bridge_backend_in_flight{backend="${backend}"}`), 0);
    assert.equal(sample(text, `fpm_bridge_backend_queue_depth{backend="${backend}"}`), 0);
    assert.ok(sample(text, `fpm_bridge_backend_connections{backend="${backend}"}`)! >= 1);
    assert.equal(sample(text, 'fpm_bridge_php_fpm_restarts_total'), 0);
  });

  it('reads queue depth and in-flight requests from the pool when scraped', async () => {
    // Two workers: two sleeping scripts hold them, a third request waits in the queue.
    const busy = [1, 2, 3].map(() => get(f.port, '/sleep.php?s=1'));
    const pool = f.t.bridge.backend.pools[0]!;
    await waitFor(() => pool.stats.active === 2 && pool.stats.queued === 1, 'two running, one queued');
    const text = (await get(f.port, '/metricz')).body;
    const backend = f.t.bridge.backend.backends[0]!.address;
    assert.equal(sample(text, `fpm_bridge_backend_in_flight{backend="${backend}"}`), 2);
    assert.equal(sample(text, `fpm_bridge_backend_queue_depth{backend="${backend}"}`), 1);
    await Promise.all(busy);
  });

  it('counts php-fpm restarts', async () => {
    await f.t.bridge.backend.supervisor!.restart();
    const text = (await get(f.port, '/metricz')).body;
    assert.equal(sample(text, 'fpm_bridge_php_fpm_restarts_total'), 1);
  });

  it('answers only GET and HEAD on the reserved paths, and lets other paths reach PHP', async () => {
    const post = await get(f.port, '/metricz', 'POST');
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
    assert.equal((await get(f.port, '/metricz?x=1')).status, 200);
    // The default paths are no longer reserved: the front controller answers them.
    const moved = await get(f.port, '/fpm-bridge/metrics');
    assert.equal(moved.status, 200);
    assert.match(moved.body, /"ran":"[^"]*\/fixtures\/php\/index\.php"/);
  });
});

describe('standalone front: health endpoint', () => {
  it('answers 200 with the backends while the spawned php-fpm is ready', async () => {
    const f = await front();
    try {
      const res = await get(f.port, '/fpm-bridge/health');
      assert.equal(res.status, 200);
      assert.equal(res.headers['cache-control'], 'no-store');
      const body = JSON.parse(res.body) as { status: string; phpFpm: string; backends: unknown[] };
      assert.equal(body.status, 'ok');
      assert.equal(body.phpFpm, 'ready');
      assert.deepEqual(body.backends, [
        {
          address: f.t.bridge.backend.backends[0]!.address,
          up: true,
          connections: 0,
          maxConns: 2,
          inFlight: 0,
          queued: 0,
        },
      ]);
    } finally {
      await f.close();
    }
  });

  it('answers 503 once the only fpm address is found down, and metrics say so', async () => {
    const f = await front({
      fpm: ['unix:/nonexistent/php-fpm.sock'],
      healthFailures: 1,
      healthInterval: 0,
    });
    try {
      // Not proven down yet: trusted.
      assert.equal((await get(f.port, '/fpm-bridge/health')).status, 200);
      assert.equal((await get(f.port, '/dump.php')).status, 502);
      const res = await get(f.port, '/fpm-bridge/health');
      assert.equal(res.status, 503);
      assert.deepEqual(JSON.parse(res.body), {
        status: 'unavailable',
        phpFpm: 'external',
        backends: [
          {
            address: 'unix:/nonexistent/php-fpm.sock',
            up: false,
            connections: 0,
            maxConns: 5,
            inFlight: 0,
            queued: 0,
          },
        ],
      });
      const metrics = (await get(f.port, '/fpm-bridge/metrics')).body;
      assert.equal(sample(metrics, 'fpm_bridge_backend_up{backend="unix:/nonexistent/php-fpm.sock"}'), 0);
      assert.equal(sample(metrics, 'fpm_bridge_requests_total{method="GET",status_class="5xx"}'), 1);
    } finally {
      await f.close();
    }
  });
});

describe('standalone front: metricsListen', () => {
  it('serves metrics and health on the separate listener and keeps only health on the main one', async () => {
    const f = await front({ metricsListen: '127.0.0.1:0' });
    try {
      const main = await get(f.port, '/fpm-bridge/metrics');
      assert.match(
        main.body,
        /"ran":"[^"]*\/fixtures\/php\/index\.php"/,
        'the main listener passes the path to PHP',
      );
      assert.equal((await get(f.port, '/fpm-bridge/health')).status, 200);
      const side = new URL(metricsUrl(f.server)!);
      const scraped = await get(Number(side.port), '/fpm-bridge/metrics');
      assert.equal(scraped.status, 200);
      assert.equal(
        sample(scraped.body, 'fpm_bridge_requests_total{method="GET",status_class="2xx"}'),
        1,
        'the request PHP answered on the main listener',
      );
      assert.equal((await get(Number(side.port), '/fpm-bridge/health')).status, 200);
      assert.equal((await get(Number(side.port), '/dump.php')).status, 404);
    } finally {
      await f.close();
    }
  });
});

describe('standalone front: reserved paths over files of the docroot', () => {
  it('warns once for each file a path of the main listener hides, and not for paths on the metrics listener', async () => {
    const docroot = mkdtempSync(join(tmpdir(), 'fpm-bridge-reserved-'));
    writeFileSync(join(docroot, 'healthz'), 'a file\n');
    writeFileSync(join(docroot, 'metricz'), 'a file\n');
    const f = await startFront(
      { healthPath: '/healthz', metricsPath: '/metricz', metricsListen: '127.0.0.1:0' },
      {},
      { docroot },
    );
    try {
      assert.deepEqual(
        f.t.log.filter((e) => e.level === 'warn').map((e) => e.msg),
        [
          '/healthz exists in the docroot but fpm-bridge answers that path itself — move it with "healthPath"/"metricsPath" or set them to false',
        ],
      );
    } finally {
      await f.close();
      rmSync(docroot, { recursive: true, force: true });
    }
  });
});
