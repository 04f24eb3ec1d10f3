/**
 * The FastCGI client against a real php-fpm (Debian php8.2-fpm) over a real Unix socket. Params are built
 * by hand here so that these tests depend on the FastCGI layer only, not on the CGI params builder.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { FpmBridgeError } from '../../../proxy/errors.ts';
import type { FcgiAddress } from '../../../proxy/fastcgi/address.ts';
import type { Exchange, FcgiRequest } from '../../../proxy/fastcgi/exchange.ts';
import { getValues } from '../../../proxy/fastcgi/management.ts';
import { Pool, type PoolOptions } from '../../../proxy/fastcgi/pool.ts';
import { bufferCgi, streamCgi } from '../../../proxy/upstream.ts';
import { startFpm, type TestFpm } from '../../support/php-fpm.ts';

/** php-fpm workers; the pools below use fewer connections, so an over-eager pool would show. */
const WORKERS = 4;
const TIMEOUT = { timeout: 15_000 };

const SCRIPTS: Record<string, string> = {
  'hello.php': `<?php header('Content-Type: text/plain'); echo 'hello';`,
  // Sleeps a little so parallel requests overlap, and names the worker that ran it.
  'pid.php': `<?php usleep(20000); header('Content-Type: text/plain'); echo getmypid();`,
  'md5.php': `<?php $in = file_get_contents('php://input'); header('Content-Type: text/plain'); echo strlen($in), ' ', md5($in);`,
  'stderr.php': `<?php
error_log('to the FastCGI stderr stream');
fwrite(fopen('php://stderr', 'w'), "to the worker's own stderr\\n");
header('Content-Type: text/plain');
echo 'body';`,
  'big.php': `<?php header('Content-Type: application/octet-stream'); echo str_repeat('0123456789abcdef', 65536);`,
  // Headers and a first line now, the rest 100 ms later.
  'later.php': `<?php
header('Content-Type: text/plain');
while (ob_get_level() > 0) ob_end_flush();
echo "first\\n"; flush(); usleep(100000); echo 'last';`,
  // Random bytes in small and large writes by turns (so reads of every size interleave across
  // connections), then their md5.
  'random.php': `<?php
header('Content-Type: application/octet-stream');
$all = '';
for ($i = 0; $i < 12; $i++) {
    foreach ([200, 131072] as $size) { $piece = random_bytes($size); $all .= $piece; echo $piece; flush(); usleep(500); }
}
echo md5($all);`,
};

let fpm: TestFpm;
let address: FcgiAddress;
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-php-'));
  for (const [name, source] of Object.entries(SCRIPTS)) writeFileSync(join(dir, name), source);
  fpm = await startFpm({ workers: WORKERS });
  address = { kind: 'unix', path: fpm.socket };
});

after(async () => {
  await fpm?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** The CGI/1.1 params php-fpm needs, written out by hand. */
function cgiParams(script: string, method = 'GET', contentLength?: number): string[] {
  const params = [
    'GATEWAY_INTERFACE',
    'CGI/1.1',
    'SERVER_PROTOCOL',
    'HTTP/1.1',
    'SERVER_NAME',
    'localhost',
    'SERVER_PORT',
    '80',
    'REMOTE_ADDR',
    '127.0.0.1',
    'REQUEST_METHOD',
    method,
    'REQUEST_URI',
    `/${script}`,
    'QUERY_STRING',
    '',
    'DOCUMENT_ROOT',
    dir,
    'SCRIPT_NAME',
    `/${script}`,
    'SCRIPT_FILENAME',
    join(dir, script),
  ];
  if (contentLength !== undefined) {
    params.push('CONTENT_LENGTH', String(contentLength), 'CONTENT_TYPE', 'application/octet-stream');
  }
  return params;
}

interface Result {
  exchange: Exchange;
  head: string;
  body: Buffer;
  stderr: string;
  appStatus: number;
}

/** Runs one request through the pool with a bare FcgiHandler and splits PHP's output at the header end. */
function run(pool: Pool, request: FcgiRequest, onStdout?: () => void): Promise<Result> {
  return new Promise((resolve, reject) => {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const exchange = pool.dispatch(request, {
      onStdout: (data) => {
        onStdout?.();
        stdout.push(Buffer.from(data));
        return true;
      },
      onStderr: (data) => void stderr.push(Buffer.from(data)),
      onEnd: (appStatus) => {
        const out = Buffer.concat(stdout);
        const end = out.indexOf('\r\n\r\n');
        assert.ok(end >= 0, `PHP output has a header block: ${out.toString().slice(0, 200)}`);
        resolve({
          exchange,
          head: out.subarray(0, end).toString(),
          body: out.subarray(end + 4),
          stderr: Buffer.concat(stderr).toString(),
          appStatus,
        });
      },
      onError: (err: FpmBridgeError) => reject(err),
    });
  });
}

async function withPool(options: Partial<PoolOptions>, body: (pool: Pool) => Promise<void>): Promise<void> {
  const pool = new Pool(address, options);
  try {
    await body(pool);
    await pool.close();
    assert.deepEqual(pool.stats, { connections: 0, active: 0, queued: 0 });
  } finally {
    pool.destroy();
  }
}

function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

function pseudoRandomBytes(n: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

describe('php-fpm 8.2 as a FastCGI server', () => {
  test(
    'answers FCGI_GET_VALUES with FCGI_MPXS_CONNS=0 only: no multiplexing, no worker count',
    TIMEOUT,
    async () => {
      assert.deepEqual(await getValues(address), { mpxsConns: false });
    },
  );

  test('runs a script and returns its headers and body, with appStatus 0', TIMEOUT, async () => {
    await withPool({ maxConns: 1 }, async (pool) => {
      const res = await run(pool, { params: cgiParams('hello.php'), body: null });
      assert.match(res.head, /^Content-type: text\/plain;charset=UTF-8$/im);
      assert.equal(res.body.toString(), 'hello');
      assert.equal(res.appStatus, 0);
      assert.equal(res.stderr, '');
    });
  });

  test(
    'eight parallel requests with maxConns 2 all succeed over exactly two connections',
    TIMEOUT,
    async () => {
      await withPool({ maxConns: 2 }, async (pool) => {
        let most = 0;
        const sample = () => {
          most = Math.max(most, pool.stats.connections);
        };
        const runs: Promise<Result>[] = [];
        for (let i = 0; i < 8; i++)
          runs.push(run(pool, { params: cgiParams('pid.php'), body: null }, sample));
        // Two requests on the wire, six waiting in the pool's queue (not in php-fpm's listen backlog).
        assert.deepEqual(pool.stats, { connections: 2, active: 2, queued: 6 });
        const results = await Promise.all(runs);
        assert.equal(most, 2);
        assert.equal(new Set(results.map((r) => r.exchange.connection)).size, 2);
        // Each kept connection pins one worker: no more than two of the four workers ever ran a script.
        assert.ok(new Set(results.map((r) => r.body.toString())).size <= 2);
        const served = [...new Set(results.map((r) => r.exchange.connection!))].map((c) => c.served);
        assert.equal(
          served.reduce((a, b) => a + b, 0),
          8,
        );
      });
    },
  );

  test('with keepConn one connection serves request after request on the same worker', TIMEOUT, async () => {
    await withPool({ maxConns: 1, keepConn: true }, async (pool) => {
      const results: Result[] = [];
      for (let i = 0; i < 3; i++) results.push(await run(pool, { params: cgiParams('pid.php'), body: null }));
      const conn = results[0]!.exchange.connection!;
      assert.ok(results.every((r) => r.exchange.connection === conn));
      assert.equal(conn.served, 3);
      assert.equal(conn.closed, false);
      assert.deepEqual(
        results.map((r) => r.exchange.reusedConnection),
        [false, true, true],
      );
      assert.equal(new Set(results.map((r) => r.body.toString())).size, 1);
      assert.deepEqual(pool.stats, { connections: 1, active: 0, queued: 0 });
    });
  });

  test(
    'with keepConn off every request gets a connection of its own, closed after END_REQUEST',
    TIMEOUT,
    async () => {
      await withPool({ maxConns: 1, keepConn: false }, async (pool) => {
        const results: Result[] = [];
        for (let i = 0; i < 3; i++) {
          const res = await run(pool, { params: cgiParams('hello.php'), body: null });
          assert.equal(res.body.toString(), 'hello');
          assert.deepEqual(pool.stats, { connections: 0, active: 0, queued: 0 });
          results.push(res);
        }
        assert.equal(new Set(results.map((r) => r.exchange.connection)).size, 3);
        for (const r of results) {
          assert.equal(r.exchange.connection!.served, 1);
          assert.equal(r.exchange.connection!.closed, true);
        }
      });
    },
  );

  test('a 1 MB Buffer body reaches PHP intact', TIMEOUT, async () => {
    const body = pseudoRandomBytes(1024 * 1024, 1);
    await withPool({ maxConns: 1 }, async (pool) => {
      const res = await run(pool, { params: cgiParams('md5.php', 'POST', body.length), body });
      assert.equal(res.body.toString(), `${body.length} ${md5(body)}`);
    });
  });

  test('a small Buffer body (sent in the same write as the params) reaches PHP intact', TIMEOUT, async () => {
    const body = Buffer.from('a=1&b=2');
    await withPool({ maxConns: 1 }, async (pool) => {
      const res = await run(pool, { params: cgiParams('md5.php', 'POST', body.length), body });
      assert.equal(res.body.toString(), `7 ${md5(body)}`);
    });
  });

  test('a streamed Readable body of 3 MB in uneven chunks reaches PHP intact', TIMEOUT, async () => {
    const data = pseudoRandomBytes(3 * 1024 * 1024 + 13, 2);
    const chunks: Buffer[] = [];
    for (let at = 0, n = 1; at < data.length; at += n, n = (n * 7 + 3) % 100_000) {
      chunks.push(data.subarray(at, at + n));
    }
    await withPool({ maxConns: 1 }, async (pool) => {
      const res = await run(pool, {
        params: cgiParams('md5.php', 'POST', data.length),
        body: Readable.from(chunks),
        contentLength: data.length,
      });
      assert.equal(res.body.toString(), `${data.length} ${md5(data)}`);
    });
  });

  test(
    'a Readable body shorter than its contentLength fails with BodyError and no worker hangs',
    TIMEOUT,
    async () => {
      await withPool({ maxConns: 1 }, async (pool) => {
        // As many failures as there are workers: had one of them stayed blocked reading the rest of the body,
        // the request after the loop would find no worker and hang.
        for (let i = 0; i < WORKERS; i++) {
          await assert.rejects(
            run(pool, {
              params: cgiParams('md5.php', 'POST', 5000),
              body: Readable.from([Buffer.alloc(1000, 0x61)]),
              contentLength: 5000,
            }),
            { name: 'BodyError', code: 'FPM_BRIDGE_ERR_BODY', statusCode: 400 },
          );
          assert.deepEqual(pool.stats, { connections: 0, active: 0, queued: 0 });
        }
        // The broken connections were closed, not reused: the next request runs normally.
        const res = await run(pool, { params: cgiParams('hello.php'), body: null });
        assert.equal(res.body.toString(), 'hello');
      });
    },
  );

  test('a Readable body longer than its contentLength fails with BodyError', TIMEOUT, async () => {
    await withPool({ maxConns: 1 }, async (pool) => {
      await assert.rejects(
        run(pool, {
          params: cgiParams('md5.php', 'POST', 10),
          body: Readable.from([Buffer.alloc(6), Buffer.alloc(6)]),
          contentLength: 10,
        }),
        { name: 'BodyError', code: 'FPM_BRIDGE_ERR_BODY' },
      );
      assert.equal(
        (await run(pool, { params: cgiParams('hello.php'), body: null })).body.toString(),
        'hello',
      );
    });
  });

  test(
    'a Readable body that errors fails the request with BodyError carrying the cause',
    TIMEOUT,
    async () => {
      await withPool({ maxConns: 1 }, async (pool) => {
        const cause = new Error('client went away');
        const body = new Readable({
          read() {
            this.push(Buffer.alloc(100));
            this.destroy(cause);
          },
        });
        await assert.rejects(
          run(pool, { params: cgiParams('md5.php', 'POST', 1000), body, contentLength: 1000 }),
          {
            name: 'BodyError',
            code: 'FPM_BRIDGE_ERR_BODY',
            cause,
          },
        );
        assert.equal(
          (await run(pool, { params: cgiParams('hello.php'), body: null })).body.toString(),
          'hello',
        );
      });
    },
  );

  test(
    'streamCgi hands out a response PHP had finished with its whole body, and body still streams those bytes',
    TIMEOUT,
    async () => {
      await withPool({ maxConns: 1 }, async (pool) => {
        const res = await streamCgi(pool, { params: cgiParams('hello.php'), body: null }).response;
        assert.deepEqual(
          { status: res.status, whole: res.whole?.toString(), appStatus: res.appStatus },
          { status: 200, whole: 'hello', appStatus: 0 },
        );
        assert.equal(Buffer.concat(await res.body.toArray()).toString(), 'hello');
      });
    },
  );

  test(
    'streamCgi hands out a response still running with no whole body; the rest streams',
    TIMEOUT,
    async () => {
      await withPool({ maxConns: 1 }, async (pool) => {
        const res = await streamCgi(pool, { params: cgiParams('later.php'), body: null }).response;
        assert.deepEqual({ whole: res.whole, appStatus: res.appStatus }, { whole: null, appStatus: null });
        assert.equal(Buffer.concat(await res.body.toArray()).toString(), 'first\nlast');
        assert.equal(res.appStatus, 0);
      });
    },
  );

  test('a 1 MiB response, which php-fpm writes in many STDOUT records, arrives intact', TIMEOUT, async () => {
    await withPool({ maxConns: 1 }, async (pool) => {
      const res = await run(pool, { params: cgiParams('big.php'), body: null });
      assert.equal(res.body.length, 16 * 65536);
      assert.ok(res.body.equals(Buffer.from('0123456789abcdef'.repeat(65536))));
    });
  });

  test(
    'large responses streamed on several connections at once, read late, each arrive intact (no read overwrites another)',
    TIMEOUT,
    async () => {
      await withPool({ maxConns: WORKERS }, async (pool) => {
        const responses = await Promise.all(
          Array.from(
            { length: WORKERS },
            () => streamCgi(pool, { params: cgiParams('random.php'), body: null }).response,
          ),
        );
        // Nobody reads for a while: each body's first pieces wait in its stream while the other
        // connections go on reading.
        await new Promise((resolve) => setTimeout(resolve, 200));
        const bodies = await Promise.all(responses.map((res) => res.body.toArray().then(Buffer.concat)));
        for (const body of bodies) {
          const data = body.subarray(0, body.length - 32);
          assert.equal(body.subarray(-32).toString(), createHash('md5').update(data).digest('hex'));
        }
        assert.equal(new Set(bodies.map((b) => b.subarray(-32).toString())).size, WORKERS);
      });
    },
  );

  test('error_log() output arrives through onStderr and never in the body', TIMEOUT, async () => {
    await withPool({ maxConns: 1 }, async (pool) => {
      const stderr: Buffer[] = [];
      const res = await bufferCgi(
        pool,
        { params: cgiParams('stderr.php'), body: null },
        { onStderr: (d) => stderr.push(d) },
      ).response;
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'body');
      assert.deepEqual(res.headers, ['Content-type', 'text/plain;charset=UTF-8']);
      assert.equal(Buffer.concat(stderr).toString(), 'PHP message: to the FastCGI stderr stream');
    });
  });

  test(
    "writes to php://stderr go to php-fpm's log (catch_workers_output), not to onStderr or the body",
    TIMEOUT,
    async () => {
      await withPool({ maxConns: 1 }, async (pool) => {
        const stderr: Buffer[] = [];
        const res = await bufferCgi(
          pool,
          { params: cgiParams('stderr.php'), body: null },
          { onStderr: (d) => stderr.push(d) },
        ).response;
        assert.doesNotMatch(res.body.toString(), /worker's own stderr/);
        assert.doesNotMatch(Buffer.concat(stderr).toString(), /worker's own stderr/);
        // The master relays worker stderr through its log FIFO; wait for the line (bounded by the test timeout).
        while (!fpm.log.some((line) => line.includes("to the worker's own stderr"))) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      });
    },
  );
});
