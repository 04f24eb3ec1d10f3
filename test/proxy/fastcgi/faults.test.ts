/**
 * The FastCGI client against a fake server that misbehaves on purpose: every fault here is one php-fpm
 * does not produce on demand (or at all), but that a client must survive. Every scenario also checks that
 * it leaves nothing behind: the pool closes with no connection, request or waiter left, and the server
 * sees every connection closed.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { test } from 'node:test';
import { AbortedError } from '../../../proxy/errors.ts';
import type { FcgiAddress } from '../../../proxy/fastcgi/address.ts';
import type { FcgiRequest } from '../../../proxy/fastcgi/exchange.ts';
import { Pool, type PoolOptions } from '../../../proxy/fastcgi/pool.ts';
import {
  CANT_MPX_CONN,
  encodeEndRequest,
  encodeRecord,
  encodeStream,
  encodeStreamEnd,
  FLAG_KEEP_CONN,
  GET_VALUES_RESULT,
  MAX_CONNS,
  MAX_REQS,
  MPXS_CONNS,
  OVERLOADED,
  ROLE_RESPONDER,
  STDERR,
  STDOUT,
  UNKNOWN_ROLE,
  UNKNOWN_TYPE,
} from '../../../proxy/fastcgi/records.ts';
import { bufferCgi, streamCgi } from '../../../proxy/upstream.ts';
import {
  DEFAULT_RESPONSE,
  FakeFcgiServer,
  type FakeRequest,
  type FakeServerOptions,
} from '../../support/fake-fcgi-server.ts';

/** Bounds every scenario so a hang fails the test (and its cleanup still runs) instead of stalling the run. */
const SCENARIO_MS = 4000;

function request(marker = 'r', extra: Partial<FcgiRequest> = {}): FcgiRequest {
  return {
    params: ['SCRIPT_FILENAME', '/srv/app/index.php', 'REQUEST_METHOD', 'GET', 'X_MARKER', marker],
    body: null,
    ...extra,
  };
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

interface Context {
  server: FakeFcgiServer;
  pool: Pool;
}

interface Setup {
  server?: Partial<FakeServerOptions>;
  pool?: Partial<PoolOptions>;
  /** Where the pool connects; default the fake server. */
  address?: (server: FakeFcgiServer) => FcgiAddress;
}

/**
 * A test with a fresh fake server and pool. On success it also asserts the scenario leaked nothing: the pool
 * closes with no connection, request or waiter left, and the server saw every connection closed.
 */
function scenario(name: string, setup: Setup, body: (ctx: Context) => Promise<void>): void {
  test(name, { timeout: SCENARIO_MS + 3000 }, async () => {
    const server = await FakeFcgiServer.start(setup.server);
    const address = setup.address?.(server) ?? server.address;
    const pool = new Pool(address, { maxConns: 2, connectTimeout: 1000, ...setup.pool });
    try {
      await within(body({ server, pool }), SCENARIO_MS, 'the scenario');
      await within(pool.close(), 1000, 'pool.close() (a request is still running?)');
      assert.deepEqual(pool.stats, { connections: 0, active: 0, queued: 0 });
      await within(server.waitForIdle(), 1000, 'closing every connection to the fake server');
      assert.deepEqual(server.scriptErrors, []);
    } finally {
      pool.destroy();
      await server.close();
    }
  });
}

/** Requests the fake server holds until the test answers them. */
function holding(): { held: FakeRequest[]; onRequest: (req: FakeRequest) => void } {
  const held: FakeRequest[] = [];
  return { held, onRequest: (req) => void held.push(req) };
}

async function readAll(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

scenario(
  'the server receives BEGIN_REQUEST (RESPONDER, FCGI_KEEP_CONN), the params in order and the body bytes',
  {},
  async ({ server, pool }) => {
    const body = Buffer.from('name=value&x=1');
    const res = await bufferCgi(
      pool,
      request('body', { params: ['REQUEST_METHOD', 'POST', 'CONTENT_LENGTH', String(body.length)], body }),
    ).response;
    assert.equal(res.status, 200);
    assert.deepEqual(res.headers, ['Content-Type', 'text/plain']);
    assert.equal(res.body.toString(), 'ok');
    const [req] = server.requests;
    assert.equal(req!.role, ROLE_RESPONDER);
    assert.equal(req!.flags, FLAG_KEEP_CONN);
    assert.equal(req!.requestId, 1);
    assert.deepEqual(req!.params, ['REQUEST_METHOD', 'POST', 'CONTENT_LENGTH', '14']);
    assert.deepEqual(req!.stdin, body);
  },
);

scenario(
  'a record cut short by the server closing the connection fails the request with UpstreamClosedError',
  {
    server: {
      onRequest: (req) => {
        const rec = encodeRecord(STDOUT, req.requestId, Buffer.from(DEFAULT_RESPONSE));
        req.connection.send(rec.subarray(0, 20));
        req.connection.end();
      },
    },
  },
  async ({ pool }) => {
    await assert.rejects(bufferCgi(pool, request()).response, {
      name: 'UpstreamClosedError',
      code: 'FPM_BRIDGE_ERR_UPSTREAM_CLOSED',
      statusCode: 502,
      beforeResponse: false,
    });
  },
);

scenario(
  'a record header cut short by a close fails with UpstreamClosedError that says no response byte arrived',
  {
    server: {
      onRequest: (req) => {
        req.connection.send(encodeStreamEnd(STDOUT, req.requestId).subarray(0, 5));
        req.connection.end();
      },
    },
  },
  async ({ pool }) => {
    await assert.rejects(bufferCgi(pool, request()).response, {
      name: 'UpstreamClosedError',
      code: 'FPM_BRIDGE_ERR_UPSTREAM_CLOSED',
      beforeResponse: true,
    });
  },
);

scenario(
  'garbage bytes instead of records fail the request with ProtocolError and close the connection',
  { server: { onRequest: (req) => req.connection.send(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')) } },
  async ({ server, pool }) => {
    await assert.rejects(bufferCgi(pool, request()).response, {
      name: 'ProtocolError',
      code: 'FPM_BRIDGE_ERR_PROTOCOL',
      statusCode: 502,
    });
    await server.waitForIdle();
    assert.equal(pool.stats.connections, 0);
  },
);

scenario(
  'a record with FastCGI version 2 fails the request with ProtocolError and closes the connection',
  {
    server: {
      onRequest: (req) => {
        const rec = encodeStream(STDOUT, req.requestId, Buffer.from(DEFAULT_RESPONSE));
        rec[0] = 2;
        req.connection.send(rec);
      },
    },
  },
  async ({ server, pool }) => {
    await assert.rejects(bufferCgi(pool, request()).response, {
      name: 'ProtocolError',
      code: 'FPM_BRIDGE_ERR_PROTOCOL',
    });
    await server.waitForIdle();
    assert.equal(pool.stats.connections, 0);
  },
);

scenario(
  'a connection broken in the middle of the body (after the headers) errors the streamed body',
  {
    server: {
      onRequest: (req) => req.connection.stdout(req.requestId, 'Content-Type: text/plain\r\n\r\npartial'),
    },
  },
  async ({ server, pool }) => {
    const res = await streamCgi(pool, request()).response;
    assert.equal(res.status, 200);
    assert.deepEqual(res.headers, ['Content-Type', 'text/plain']);
    const chunks: string[] = [];
    res.body.on('data', (c: Buffer) => {
      chunks.push(c.toString());
      // Only once the first body bytes arrived does the worker "die".
      server.requests[0]!.connection.destroy();
    });
    await assert.rejects(readAll(res.body), {
      name: 'UpstreamClosedError',
      code: 'FPM_BRIDGE_ERR_UPSTREAM_CLOSED',
      beforeResponse: false,
    });
    assert.deepEqual(chunks, ['partial']);
    assert.equal(res.appStatus, null);
  },
);

scenario(
  'END_REQUEST with FCGI_OVERLOADED fails with OverloadedError (503) and the connection is not reused',
  {
    server: {
      onRequest: (req) =>
        req.connection.index === 0 ? req.connection.endRequest(req.requestId, 0, OVERLOADED) : req.reply(),
    },
  },
  async ({ server, pool }) => {
    await assert.rejects(bufferCgi(pool, request('first')).response, {
      name: 'OverloadedError',
      code: 'FPM_BRIDGE_ERR_OVERLOADED',
      statusCode: 503,
    });
    await server.waitForIdle();
    assert.equal(pool.stats.connections, 0);
    const res = await bufferCgi(pool, request('second')).response;
    assert.equal(res.body.toString(), 'ok');
    assert.equal(server.requests[1]!.connection.index, 1);
  },
);

scenario(
  'END_REQUEST with FCGI_UNKNOWN_ROLE fails with UnknownRoleError and closes the connection',
  { server: { onRequest: (req) => req.connection.endRequest(req.requestId, 0, UNKNOWN_ROLE) } },
  async ({ server, pool }) => {
    await assert.rejects(bufferCgi(pool, request()).response, {
      name: 'UnknownRoleError',
      code: 'FPM_BRIDGE_ERR_UNKNOWN_ROLE',
      statusCode: 502,
    });
    await server.waitForIdle();
    assert.equal(pool.stats.connections, 0);
  },
);

{
  const { held, onRequest } = holding();
  scenario(
    'END_REQUEST with FCGI_CANT_MPX_CONN retries the request on a fresh connection and turns multiplexing off',
    {
      server: {
        onRequest: (req) => {
          if (req.connection.index === 0 && req.requestId === 2) {
            req.connection.endRequest(2, 0, CANT_MPX_CONN);
            // The first request is answered only once the retry opened a connection of its own, so the
            // retry cannot have been put back on this one.
            const server = req.connection.server;
            void server
              .waitFor(() => server.connections.length === 2)
              .then(() => held.shift()!.reply('Content-Type: text/plain\r\n\r\nfirst'));
          } else if (req.connection.index === 0 && req.requestId === 1 && req.index === 0) {
            onRequest(req);
          } else {
            req.reply(`Content-Type: text/plain\r\n\r\n${req.param('X_MARKER')}`);
          }
        },
      },
      pool: { mpxsConns: true, maxReqs: 2, maxConns: 2 },
    },
    async ({ server, pool }) => {
      const first = bufferCgi(pool, request('first')).response;
      const second = bufferCgi(pool, request('second')).response;
      assert.equal((await second).body.toString(), 'second');
      assert.equal((await first).body.toString(), 'first');
      assert.deepEqual(
        server.requests.map((r) => [r.connection.index, r.requestId, r.param('X_MARKER')]),
        [
          [0, 1, 'first'],
          [0, 2, 'second'],
          [1, 1, 'second'],
        ],
      );
      // From now on one request per connection: two at once take both connections.
      const [a, b] = await Promise.all([
        bufferCgi(pool, request('third')).response,
        bufferCgi(pool, request('fourth')).response,
      ]);
      assert.equal(a.body.toString(), 'third');
      assert.equal(b.body.toString(), 'fourth');
      const last = server.requests.slice(3);
      assert.equal(last.length, 2);
      assert.notEqual(last[0]!.connection, last[1]!.connection);
      assert.deepEqual(
        last.map((r) => r.requestId),
        [1, 1],
      );
    },
  );
}

for (const [what, record] of [
  ['a STDOUT record', encodeStream(STDOUT, 0, Buffer.from('Content-Type: text/plain\r\n\r\nspoofed'))],
  ['a STDERR record', encodeStream(STDERR, 0, Buffer.from('spoofed'))],
  ['an empty STDOUT record', encodeStreamEnd(STDOUT, 0)],
  ['an END_REQUEST record', encodeEndRequest(0, 0, 0)],
] as const) {
  scenario(
    `${what} with request id 0 (reserved for management records) fails with ProtocolError (regression: stream content on id 0 was silently dropped)`,
    {
      server: {
        onRequest: (req) => {
          req.connection.send(record);
          req.reply();
        },
      },
    },
    async ({ server, pool }) => {
      await assert.rejects(bufferCgi(pool, request()).response, {
        name: 'ProtocolError',
        code: 'FPM_BRIDGE_ERR_PROTOCOL',
      });
      await server.waitForIdle();
    },
  );
}

scenario(
  'GET_VALUES_RESULT and UNKNOWN_TYPE records with request id 0 in a request connection are ignored',
  {
    server: {
      onRequest: (req) => {
        req.connection.send(
          encodeRecord(GET_VALUES_RESULT, 0, Buffer.alloc(0)),
          encodeRecord(UNKNOWN_TYPE, 0, Buffer.from([42, 0, 0, 0, 0, 0, 0, 0])),
        );
        req.reply();
      },
    },
  },
  async ({ pool }) => {
    assert.equal((await bufferCgi(pool, request()).response).body.toString(), 'ok');
  },
);

scenario(
  'records for a request id not in use are ignored and the connection stays usable',
  {
    server: {
      onRequest: (req) => {
        req.connection.send(
          encodeStream(STDOUT, 9, Buffer.from('Status: 500\r\n\r\nnot yours')),
          encodeStream(STDERR, 9, Buffer.from('not yours either')),
          encodeStreamEnd(STDOUT, 9),
          encodeEndRequest(9, 1, 0),
        );
        req.reply();
      },
    },
  },
  async ({ server, pool }) => {
    const stderr: Buffer[] = [];
    const res = await bufferCgi(pool, request('one'), { onStderr: (d) => stderr.push(d) }).response;
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'ok');
    assert.deepEqual(stderr, []);
    assert.equal((await bufferCgi(pool, request('two')).response).body.toString(), 'ok');
    assert.deepEqual(
      server.requests.map((r) => r.connection.index),
      [0, 0],
    );
  },
);

scenario(
  'END_REQUEST with appStatus 255 (a PHP fatal error) still returns the response, with appStatus 255',
  {
    server: {
      onRequest: (req) =>
        req.reply('Status: 500 Internal Server Error\r\nContent-Type: text/html\r\n\r\nfatal', {
          appStatus: 255,
          stderr: 'PHP Fatal error: boom',
        }),
    },
  },
  async ({ pool }) => {
    const stderr: Buffer[] = [];
    const res = await bufferCgi(pool, request(), { onStderr: (d) => stderr.push(d) }).response;
    assert.equal(res.status, 500);
    assert.equal(res.statusText, 'Internal Server Error');
    assert.equal(res.body.toString(), 'fatal');
    assert.equal(res.appStatus, 255);
    assert.equal(Buffer.concat(stderr).toString(), 'PHP Fatal error: boom');
  },
);

scenario(
  'no response within the request timeout fails with TimeoutError (504) and closes the socket',
  { server: { onRequest: () => {} } },
  async ({ server, pool }) => {
    await assert.rejects(bufferCgi(pool, request('slow', { timeout: 50 })).response, {
      name: 'TimeoutError',
      code: 'FPM_BRIDGE_ERR_TIMEOUT',
      statusCode: 504,
    });
    await server.waitForIdle();
    assert.deepEqual(pool.stats, { connections: 0, active: 0, queued: 0 });
  },
);

scenario(
  'connecting to a socket path that does not exist fails with ConnectError naming ENOENT',
  { address: (server) => ({ kind: 'unix', path: join(server.dir, 'missing.sock') }) },
  async ({ pool }) => {
    await assert.rejects(bufferCgi(pool, request()).response, (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.equal(err.name, 'ConnectError');
      assert.equal((err as Error & { code: string }).code, 'FPM_BRIDGE_ERR_CONNECT');
      assert.match(err.message, /ENOENT/);
      assert.match(err.message, /missing\.sock/);
      return true;
    });
    assert.deepEqual(pool.stats, { connections: 0, active: 0, queued: 0 });
  },
);

{
  const { held, onRequest } = holding();
  scenario(
    'with maxConns 1 and queueLimit 1 a third concurrent request fails at once with QueueFullError (503)',
    { server: { onRequest }, pool: { maxConns: 1, queueLimit: 1 } },
    async ({ server, pool }) => {
      const first = bufferCgi(pool, request('first')).response;
      const second = bufferCgi(pool, request('second')).response;
      const third = bufferCgi(pool, request('third')).response;
      await assert.rejects(third, { name: 'QueueFullError', code: 'FPM_BRIDGE_ERR_QUEUE', statusCode: 503 });
      assert.deepEqual(pool.stats, { connections: 1, active: 1, queued: 1 });
      await server.waitForRequests(1);
      held.shift()!.reply();
      assert.equal((await first).body.toString(), 'ok');
      await server.waitForRequests(2);
      held.shift()!.reply();
      assert.equal((await second).body.toString(), 'ok');
      assert.deepEqual(
        server.requests.map((r) => [r.connection.index, r.param('X_MARKER')]),
        [
          [0, 'first'],
          [0, 'second'],
        ],
      );
    },
  );
}

{
  const { held, onRequest } = holding();
  scenario(
    'a request that waits in the queue longer than queueTimeout fails with QueueFullError',
    { server: { onRequest }, pool: { maxConns: 1, queueTimeout: 30 } },
    async ({ server, pool }) => {
      const first = bufferCgi(pool, request('first')).response;
      await assert.rejects(bufferCgi(pool, request('second')).response, {
        name: 'QueueFullError',
        code: 'FPM_BRIDGE_ERR_QUEUE',
      });
      assert.deepEqual(pool.stats, { connections: 1, active: 1, queued: 0 });
      await server.waitForRequests(1);
      held.shift()!.reply();
      assert.equal((await first).body.toString(), 'ok');
      assert.equal(server.requests.length, 1);
    },
  );
}

{
  const { held, onRequest } = holding();
  scenario(
    'aborting a queued and then a running request frees their places, and the next request proceeds',
    { server: { onRequest }, pool: { maxConns: 1 } },
    async ({ server, pool }) => {
      const running = bufferCgi(pool, request('running'));
      const queued = bufferCgi(pool, request('queued'));
      const next = bufferCgi(pool, request('next'));
      await server.waitForRequests(1);
      assert.deepEqual(pool.stats, { connections: 1, active: 1, queued: 2 });

      queued.abort();
      await assert.rejects(queued.response, { name: 'AbortedError', code: 'FPM_BRIDGE_ERR_ABORTED' });
      assert.deepEqual(pool.stats, { connections: 1, active: 1, queued: 1 });

      running.abort();
      await assert.rejects(running.response, { name: 'AbortedError', code: 'FPM_BRIDGE_ERR_ABORTED' });
      // php-fpm ignores FCGI_ABORT_REQUEST: the running request's connection is closed instead.
      await server.waitFor(() => server.connections[0]!.closed);

      await server.waitForRequests(2);
      held.shift();
      held.shift()!.reply();
      assert.equal((await next.response).body.toString(), 'ok');
      assert.deepEqual(
        server.requests.map((r) => [r.connection.index, r.param('X_MARKER')]),
        [
          [0, 'running'],
          [1, 'next'],
        ],
      );
    },
  );
}

/** The server closes a kept connection as the second request on it arrives (php-fpm's pm.max_requests race). */
function closesSecondRequestOnFirstConnection(req: FakeRequest): void {
  if (req.connection.index === 0 && req.index === 1) req.connection.destroy();
}

/** Sent again if a reused connection closes before any response byte (an external php-fpm's max_requests). */
const RESEND_ON_CLOSE = { retryable: true, resendOnClose: true } as const;

scenario(
  'with resendOnClose, a request on a reused connection that closes before any response byte is retried once and succeeds',
  { server: { onBegin: closesSecondRequestOnFirstConnection } },
  async ({ server, pool }) => {
    assert.equal((await bufferCgi(pool, request('first')).response).body.toString(), 'ok');
    const res = await bufferCgi(pool, request('second', RESEND_ON_CLOSE)).response;
    assert.equal(res.body.toString(), 'ok');
    assert.deepEqual(
      server.requests.map((r) => [r.connection.index, r.index, r.param('X_MARKER')]),
      [
        [0, 0, 'first'],
        [0, 1, 'second'],
        [1, 0, 'second'],
      ],
    );
  },
);

scenario(
  'without resendOnClose, a request the server received on a reused connection that then closes fails with UpstreamClosedError, never sent twice',
  { server: { onBegin: closesSecondRequestOnFirstConnection } },
  async ({ server, pool }) => {
    assert.equal((await bufferCgi(pool, request('first')).response).body.toString(), 'ok');
    await assert.rejects(bufferCgi(pool, request('second', { retryable: true })).response, {
      name: 'UpstreamClosedError',
      code: 'FPM_BRIDGE_ERR_UPSTREAM_CLOSED',
      beforeResponse: true,
    });
    assert.equal(server.requests.length, 2);
  },
);

scenario(
  'a request written to a kept connection the server had already closed (EPIPE) is sent again on a fresh one, whatever the method',
  {
    server: {
      onRequest: (req) => {
        req.reply();
        // A worker that exits after its response (pm.max_requests) or dies while idle.
        if (req.connection.index === 0) req.connection.destroy();
      },
    },
    pool: { maxConns: 1 },
  },
  async ({ server, pool }) => {
    assert.equal((await bufferCgi(pool, request('first')).response).body.toString(), 'ok');
    // Hold the event loop so the close is not seen before the next request is written to that connection.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    const post = request('second', { retryable: true });
    post.params = [...post.params.slice(0, 2), 'REQUEST_METHOD', 'POST', 'X_MARKER', 'second'];
    const res = await bufferCgi(pool, post).response;
    assert.equal(res.body.toString(), 'ok');
    assert.deepEqual(
      server.requests.map((r) => [r.connection.index, r.param('X_MARKER')]),
      [
        [0, 'first'],
        [1, 'second'],
      ],
    );
  },
);

scenario(
  'a retried request whose fresh connection also closes fails instead of being retried again',
  {
    server: {
      onBegin: (req) => {
        if (req.index === 1 || req.connection.index > 0) req.connection.destroy();
      },
    },
  },
  async ({ server, pool }) => {
    assert.equal((await bufferCgi(pool, request('first')).response).body.toString(), 'ok');
    await assert.rejects(bufferCgi(pool, request('second', RESEND_ON_CLOSE)).response, {
      name: 'UpstreamClosedError',
      beforeResponse: true,
    });
    assert.equal(server.requests.length, 3);
  },
);

{
  const { held, onRequest } = holding();
  scenario(
    'GET_VALUES answered with FCGI_MPXS_CONNS=1 and FCGI_MAX_REQS=4 puts two requests on one connection with distinct ids',
    {
      server: {
        onRequest,
        onGetValues: (_names, conn) => {
          conn.getValuesResult([MAX_REQS, '4', MPXS_CONNS, '1']);
          conn.end();
        },
      },
      pool: { getValues: true, maxConns: 1, maxReqs: 4 },
    },
    async ({ server, pool }) => {
      const a = bufferCgi(pool, request('a')).response;
      const b = bufferCgi(pool, request('b')).response;
      await server.waitForRequests(2);
      assert.deepEqual(server.getValuesAsked, [[MAX_CONNS, MAX_REQS, MPXS_CONNS]]);
      const [ra, rb] = held;
      assert.equal(ra!.connection, rb!.connection);
      assert.equal(ra!.connection.index, 1, 'the GET_VALUES connection (index 0) is not used for requests');
      assert.deepEqual(
        held.map((r) => r.requestId),
        [1, 2],
      );
      // Answered out of order: each response still reaches its own request.
      rb!.reply('Content-Type: text/plain\r\n\r\nb');
      ra!.reply('Content-Type: text/plain\r\n\r\na');
      assert.equal((await a).body.toString(), 'a');
      assert.equal((await b).body.toString(), 'b');
    },
  );
}

for (const [what, onGetValues] of [
  ['ignores GET_VALUES', () => {}],
  [
    'closes the connection on GET_VALUES without answering',
    (_names: string[], conn: { end: () => void }) => conn.end(),
  ],
  [
    'answers GET_VALUES with UNKNOWN_TYPE',
    (_names: string[], conn: { send: (...c: Uint8Array[]) => void }) =>
      conn.send(encodeRecord(UNKNOWN_TYPE, 0, Buffer.from([9, 0, 0, 0, 0, 0, 0, 0]))),
  ],
] as const) {
  const { held, onRequest } = holding();
  scenario(
    `a server that ${what} gets one request per connection`,
    {
      server: { onRequest, onGetValues },
      // connectTimeout also bounds the GET_VALUES probe: short, so the silent server costs little time.
      pool: { getValues: true, connectTimeout: 250, maxConns: 2, maxReqs: 4 },
    },
    async ({ server, pool }) => {
      const a = bufferCgi(pool, request('a')).response;
      const b = bufferCgi(pool, request('b')).response;
      await server.waitForRequests(2);
      await server.waitFor(() => server.getValuesAsked.length === 1);
      assert.notEqual(held[0]!.connection, held[1]!.connection);
      assert.deepEqual(
        held.map((r) => [r.connection.index, r.requestId]),
        [
          [1, 1],
          [2, 1],
        ],
      );
      for (const r of held) r.reply();
      assert.equal((await a).body.toString(), 'ok');
      assert.equal((await b).body.toString(), 'ok');
    },
  );
}

scenario(
  'a streamed response that filled the body buffer leaves its kept connection reading (regression: backpressure paused it for good and the next request hung)',
  {
    server: { onRequest: (req) => req.reply(`Content-Type: text/plain\r\n\r\n${'x'.repeat(40_000)}`) },
    pool: { maxConns: 1 },
  },
  async ({ server, pool }) => {
    for (let i = 0; i < 3; i++) {
      const res = await streamCgi(pool, request(`r${i}`)).response;
      assert.equal((await readAll(res.body)).length, 40_000);
      assert.equal(res.appStatus, 0);
    }
    assert.deepEqual(
      server.requests.map((r) => r.connection.index),
      [0, 0, 0],
    );
  },
);

{
  const { held, onRequest } = holding();
  scenario(
    'aborting one of two multiplexed requests sends FCGI_ABORT_REQUEST for it and the other still completes (regression: the aborted body had paused the socket for good)',
    {
      server: {
        onRequest,
        onGetValues: (_names, conn) => {
          conn.getValuesResult([MAX_REQS, '2', MPXS_CONNS, '1']);
          conn.end();
        },
        onAbort: (req) => {
          // The aborted request ends; only then is the other one answered.
          req.connection.endRequest(req.requestId);
          held.find((r) => r !== req)!.reply('Content-Type: text/plain\r\n\r\nsurvivor');
        },
      },
      pool: { getValues: true, maxConns: 1, maxReqs: 2 },
    },
    async ({ server, pool }) => {
      const slow = streamCgi(pool, request('slow'));
      const other = bufferCgi(pool, request('other')).response;
      const [a] = await server.waitForRequests(2);
      // A body larger than the stream buffer, never read: the connection pauses for backpressure.
      a!.connection.stdout(a!.requestId, `Content-Type: text/plain\r\n\r\n${'x'.repeat(40_000)}`);
      const res = await slow.response;
      const bodyError = new Promise<unknown>((resolve) => res.body.once('error', resolve));
      slow.abort();
      const err = await bodyError;
      assert.ok(err instanceof AbortedError);
      assert.equal(err.code, 'FPM_BRIDGE_ERR_ABORTED');
      assert.equal((await other).body.toString(), 'survivor');
      assert.deepEqual(
        held.map((r) => [r.param('X_MARKER'), r.aborted]),
        [
          ['slow', true],
          ['other', false],
        ],
      );
    },
  );
}

scenario(
  'a kept connection the server closes right after END_REQUEST (pm.max_requests) is not used again',
  {
    server: {
      onRequest: (req) => {
        req.reply();
        req.connection.end();
      },
    },
    pool: { maxConns: 1 },
  },
  async ({ server, pool }) => {
    for (let i = 0; i < 3; i++) {
      // Retryable: whether the close or the next request reaches the client first is a race php-fpm
      // clients must absorb by resending (reference §5, test case 51).
      const res = await bufferCgi(pool, request(`r${i}`, RESEND_ON_CLOSE)).response;
      assert.equal(res.body.toString(), 'ok');
    }
    // Each request was answered as the first on a connection of its own (a copy the client wrote to the
    // closing connection, then resent, may precede it).
    const answered = ['r0', 'r1', 'r2'].map(
      (m) => server.requests.findLast((r) => r.param('X_MARKER') === m)!,
    );
    assert.deepEqual(
      answered.map((r) => r.index),
      [0, 0, 0],
    );
    assert.equal(new Set(answered.map((r) => r.connection)).size, 3);
  },
);

scenario(
  'a request whose timeout expires while it waits in the queue fails with TimeoutError and leaves the queue',
  { server: { onRequest: holding().onRequest }, pool: { maxConns: 1 } },
  async ({ server, pool }) => {
    const first = bufferCgi(pool, request('first'));
    await assert.rejects(bufferCgi(pool, request('second', { timeout: 30 })).response, {
      name: 'TimeoutError',
      code: 'FPM_BRIDGE_ERR_TIMEOUT',
    });
    assert.deepEqual(pool.stats, { connections: 1, active: 1, queued: 0 });
    await server.waitForRequests(1);
    first.abort();
    await assert.rejects(first.response, { name: 'AbortedError' });
    assert.equal(server.requests.length, 1);
  },
);

scenario(
  'a param too large for one record fails with HeadersTooLargeError (431) and the connection stays usable',
  { pool: { maxConns: 1 } },
  async ({ server, pool }) => {
    await assert.rejects(
      bufferCgi(pool, request('big', { params: ['HTTP_COOKIE', 'c'.repeat(70_000)] })).response,
      { name: 'HeadersTooLargeError', code: 'FPM_BRIDGE_ERR_HEADERS_TOO_LARGE', statusCode: 431 },
    );
    assert.equal((await bufferCgi(pool, request('next')).response).body.toString(), 'ok');
    assert.deepEqual(
      server.requests.map((r) => [r.connection.index, r.param('X_MARKER')]),
      [[0, 'next']],
    );
  },
);

scenario(
  'with getValues on, a socket that does not exist fails every waiting request with ConnectError',
  {
    address: (server) => ({ kind: 'unix', path: join(server.dir, 'missing.sock') }),
    pool: { getValues: true },
  },
  async ({ pool }) => {
    const a = bufferCgi(pool, request('a')).response;
    const b = bufferCgi(pool, request('b')).response;
    await assert.rejects(a, { name: 'ConnectError', code: 'FPM_BRIDGE_ERR_CONNECT' });
    await assert.rejects(b, { name: 'ConnectError', code: 'FPM_BRIDGE_ERR_CONNECT' });
    assert.deepEqual(pool.stats, { connections: 0, active: 0, queued: 0 });
  },
);

{
  const { held, onRequest } = holding();
  scenario(
    'GET_VALUES answered with FCGI_MAX_CONNS=1 lowers maxConns: a second request waits instead of opening a connection',
    {
      server: {
        onRequest,
        onGetValues: (_names, conn) => {
          conn.getValuesResult([MAX_CONNS, '1', MPXS_CONNS, '0']);
          conn.end();
        },
      },
      pool: { getValues: true, maxConns: 3 },
    },
    async ({ server, pool }) => {
      const a = bufferCgi(pool, request('a')).response;
      const b = bufferCgi(pool, request('b')).response;
      await server.waitForRequests(1);
      assert.deepEqual(pool.stats, { connections: 1, active: 1, queued: 1 });
      held.shift()!.reply();
      await server.waitForRequests(2);
      held.shift()!.reply();
      await Promise.all([a, b]);
      assert.deepEqual(
        server.requests.map((r) => r.connection.index),
        [1, 1],
      );
    },
  );
}
