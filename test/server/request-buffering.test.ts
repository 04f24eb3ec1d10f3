// Request bodies read whole before php-fpm is asked (`requestBuffering`, server/spool.ts), from the wire:
// clients that upload slowly hold no php-fpm worker, a body that comes too slowly is cut with 408, and the
// temporary file a large body goes to is gone on every path — answered, client gone, too slow, PHP error,
// 413, a wait for a worker that fails, shutdown.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type DumpBody, waitFor } from '../support/bridge.ts';
import { startFront, type TestFront } from '../support/front.ts';
import { bodyFiles } from '../support/proc.ts';
import { Conn, header, type RawReply, rawRequest } from '../support/raw-http.ts';

const MiB = 1024 * 1024;
const md5 = (s: string) => createHash('md5').update(s, 'latin1').digest('hex');
const dump = (r: RawReply) => JSON.parse(r.body.toString()) as DumpBody;
const post = (target: string, headers: string, body = '') =>
  `POST ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headers}\r\n${body}`;
const length = (n: number) => `Content-Length: ${n}\r\n`;
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

/** A body file is open: the upload in progress went past memory to the disk. */
const spooling = () => waitFor(() => bodyFiles().length > 0, 'a body file');
const spoolGone = () => waitFor(() => bodyFiles().length === 0, 'every body file to be closed and gone');

describe('serve reads a request body whole before it takes a php-fpm worker (requestBuffering)', () => {
  it('answers a GET while two clients trickle Content-Length bodies with both workers free (slow uploads pin no worker)', async () => {
    const f = await startFront({ workers: 2, queueTimeout: 2000 });
    try {
      const body = 'x'.repeat(1000);
      const slow: Conn[] = [];
      for (let i = 0; i < 2; i++) {
        const conn = await Conn.open(f.port, post('/dump.php', `${length(1000)}Expect: 100-continue\r\n`));
        // The 100 says the request has been handed to the front's handler: streamed, it would have its
        // php-fpm worker by now.
        await conn.until(() => conn.data.toString('latin1') === CONTINUE, '100 Continue');
        await conn.write(body.slice(0, 10));
        slow.push(conn);
      }
      const get = await rawRequest(
        f.port,
        'GET /dump.php?q=get HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      );
      assert.deepEqual([get.status, dump(get).server.QUERY_STRING], [200, 'q=get']);
      // Both uploads are still in the middle of their bodies, unanswered.
      assert.deepEqual(
        slow.map((c) => [c.closed, c.data.toString('latin1')]),
        [
          [false, CONTINUE],
          [false, CONTINUE],
        ],
      );
      for (const conn of slow) await conn.write(body.slice(10));
      for (const conn of slow) {
        const replies = await conn.closing();
        assert.deepEqual(
          replies.map((r) => [r.status, r.status === 100 ? null : dump(r).input]),
          [
            [100, null],
            [200, { length: 1000, md5: md5(body) }],
          ],
        );
      }
    } finally {
      await f.close();
    }
  });

  describe('bodies of every size and pace', () => {
    let f: TestFront;
    before(async () => {
      f = await startFront({ workers: 1, bodyTimeout: 400, bodyMinRate: 100 });
    });
    after(() => f.close());

    for (const [what, size, piece] of [
      ['in memory, sent in 100-byte writes', 40 * 1024, 100],
      ['in memory, 1 MiB exactly, sent in one write', MiB, MiB],
      ['in a temporary file, sent in 64 KiB writes', 3 * MiB + 5, 64 * 1024],
    ] as const) {
      it(`hands PHP a Content-Length body ${what} byte for byte`, async () => {
        const body = Array.from({ length: size }, (_, i) => String.fromCharCode(i % 251)).join('');
        const conn = await Conn.open(f.port, post('/dump.php', length(size)));
        for (let at = 0; at < size; at += piece) await conn.write(body.slice(at, at + piece));
        const replies = await conn.closing();
        assert.deepEqual(
          replies.map((r) => [r.status, dump(r).input, dump(r).server.CONTENT_LENGTH]),
          [[200, { length: size, md5: md5(body) }, String(size)]],
        );
        await spoolGone();
      });
    }

    it('answers 408 to a body that comes slower than bodyMinRate once bodyTimeout has passed, running no PHP', async () => {
      const before = f.t.dispatched.length;
      const conn = await Conn.open(f.port, post('/dump.php', length(1000)));
      // 20 bytes a second, a fifth of bodyMinRate: each byte earns 10 ms, and takes 50.
      while (!conn.closed) {
        await conn.write('x');
        await sleep(50);
      }
      const replies = await conn.closing();
      assert.deepEqual(
        replies.map((r) => [r.status, header(r, 'connection'), r.body.toString()]),
        [[408, 'close', '408 Request Timeout\n']],
      );
      assert.equal(f.t.dispatched.length, before, 'PHP ran');
      const logged = f.t.log.find((e) => e.fields.code === 'FPM_BRIDGE_ERR_REQUEST_TIMEOUT');
      assert.match(
        String(logged?.fields.err),
        /^the request body came too slowly: \d+ of 1000 bytes in \d+ ms, allowed "bodyTimeout" \(400 ms\) plus 1 s per "bodyMinRate" \(100\) bytes$/,
      );
    });

    it('lets a body keeping bodyMinRate take longer than bodyTimeout in all', async () => {
      const body = 'y'.repeat(600);
      const conn = await Conn.open(f.port, post('/dump.php', length(body.length)));
      // 60 bytes every 100 ms: six times bodyMinRate, for twice bodyTimeout.
      for (let at = 0; at < body.length; at += 60) {
        await conn.write(body.slice(at, at + 60));
        await sleep(100);
      }
      const replies = await conn.closing();
      assert.deepEqual(
        replies.map((r) => [r.status, dump(r).input]),
        [[200, { length: 600, md5: md5(body) }]],
      );
    });
  });

  it('with requestBuffering: false streams a Content-Length body, taking the worker while it comes', async () => {
    const f = await startFront({ workers: 1, requestBuffering: false });
    try {
      const body = 'z'.repeat(100_000);
      const conn = await Conn.open(f.port, post('/dump.php', length(body.length), body.slice(0, 1000)));
      const pool = f.t.bridge.backend.pools[0]!;
      await waitFor(() => pool.stats.active === 1, 'the upload to reach php-fpm');
      await conn.write(body.slice(1000));
      const replies = await conn.closing();
      assert.deepEqual(
        replies.map((r) => [r.status, dump(r).input]),
        [[200, { length: body.length, md5: md5(body) }]],
      );
      assert.deepEqual(bodyFiles(), []);
    } finally {
      await f.close();
    }
  });
});

describe('the temporary file of a body past 1 MiB is gone', () => {
  const SIZE = 3 * MiB;
  const half = 'h'.repeat(SIZE / 2);
  let f: TestFront;
  before(async () => {
    f = await startFront({ workers: 1, maxBodySize: 4 * MiB, queueTimeout: 300 });
  });
  after(() => f.close());

  it('once PHP has answered', async () => {
    const conn = await Conn.open(f.port, post('/count.php', length(SIZE), half));
    await spooling();
    await conn.write(half);
    assert.deepEqual(
      (await conn.closing()).map((r) => [r.status, JSON.parse(r.body.toString()).length]),
      [[200, SIZE]],
    );
    await spoolGone();
  });

  it('when the client leaves in the middle of the body', async () => {
    const conn = await Conn.open(f.port, post('/count.php', length(SIZE), half));
    await spooling();
    conn.socket.destroy();
    await spoolGone();
  });

  it('when the client leaves as soon as the last byte is sent', async () => {
    const before = f.t.dispatched.length;
    const conn = await Conn.open(f.port, post('/count.php', length(SIZE), half));
    await spooling();
    await conn.write(half);
    conn.socket.destroy();
    await spoolGone();
    // Whether PHP ran it depends on what the server had read when the client left; either way no file stays.
    assert.ok(f.t.dispatched.length - before <= 1);
  });

  it('when PHP fails with a fatal error', async () => {
    const conn = await Conn.open(f.port, post('/fatal.php', length(SIZE), half));
    await spooling();
    await conn.write(half);
    assert.deepEqual(
      (await conn.closing()).map((r) => r.status),
      [500],
    );
    await spoolGone();
  });

  it('when a chunked body grows past maxBodySize: 413', async () => {
    const chunk = `${(MiB).toString(16)}\r\n${'c'.repeat(MiB)}\r\n`;
    const conn = await Conn.open(f.port, post('/count.php', 'Transfer-Encoding: chunked\r\n', chunk + chunk));
    await spooling();
    for (let i = 0; i < 3 && !conn.closed; i++) await conn.write(chunk);
    assert.deepEqual(
      (await conn.closing()).map((r) => [r.status, header(r, 'connection')]),
      [[413, 'close']],
    );
    await spoolGone();
  });

  it('when it waited for a worker longer than queueTimeout: 503', async () => {
    const busy = rawRequest(f.port, 'GET /sleep.php?s=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const pool = f.t.bridge.backend.pools[0]!;
    await waitFor(() => pool.stats.active === 1, 'the worker to be busy');
    const conn = await Conn.open(f.port, post('/count.php', length(SIZE), half + half));
    assert.deepEqual(
      (await conn.closing()).map((r) => r.status),
      [503],
    );
    await spoolGone();
    assert.equal((await busy).status, 200);
  });

  it('when the body comes too slowly: 408', async () => {
    const g = await startFront({ bodyTimeout: 300, bodyMinRate: 100 * MiB });
    try {
      const conn = await Conn.open(g.port, post('/count.php', length(SIZE), half));
      await spooling();
      assert.deepEqual(
        (await conn.closing()).map((r) => r.status),
        [408],
      );
      await spoolGone();
    } finally {
      await g.close();
    }
  });

  it('when the server shuts down in the middle of the body', async () => {
    const g = await startFront();
    const conn = await Conn.open(g.port, post('/count.php', length(SIZE), half));
    await spooling();
    await g.close();
    assert.ok(conn.closed || (await conn.closing()).length === 0);
    await spoolGone();
  });

  it('when the server shuts down while the body waits for a worker', async () => {
    const g = await startFront({ workers: 1 });
    const pool = g.t.bridge.backend.pools[0]!;
    const busy = rawRequest(g.port, 'GET /sleep.php?s=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await waitFor(() => pool.stats.active === 1, 'the worker to be busy');
    const conn = await Conn.open(g.port, post('/count.php', length(SIZE), half + half));
    await waitFor(() => pool.stats.queued === 1, 'the spooled request to wait for the worker');
    await g.close();
    await busy;
    await conn.closing();
    await spoolGone();
  });

  it('and a Content-Length over maxBodySize is answered 413 before a byte of its body is sent', async () => {
    const conn = await Conn.open(f.port, post('/count.php', length(5 * MiB)));
    assert.deepEqual(
      (await conn.closing()).map((r) => [r.status, header(r, 'connection')]),
      [[413, 'close']],
    );
    assert.deepEqual(bodyFiles(), []);
  });
});
