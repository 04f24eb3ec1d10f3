import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SPOOL_MEMORY_LIMIT } from '../../server/spool.ts';
import { type DumpBody, FIXTURES_DOCROOT, waitFor } from '../support/bridge.ts';
import { startFront, type TestFront } from '../support/front.ts';
import { bodyFiles } from '../support/proc.ts';
import { rawRequest } from '../support/raw-http.ts';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One HTTP request with the target sent as is; `chunks` are written one by one (chunked unless a length is set). */
function send(
  port: number,
  options: { method?: string; path: string; headers?: Record<string, string | number>; chunks?: Buffer[] },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'GET',
        path: options.path,
        headers: options.headers,
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    for (const c of options.chunks ?? []) req.write(c);
    req.end();
  });
}

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

describe('standalone front: bodies', () => {
  let f: TestFront;
  before(async () => {
    f = await startFront({ maxBodySize: 8 * 1024 * 1024 });
  });
  after(() => f.close());

  it('hands PHP a body with Content-Length byte for byte', async () => {
    const body = Buffer.alloc(3 * 1024 * 1024 + 5, 'a');
    const res = await send(f.port, {
      method: 'POST',
      path: '/dump.php',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length },
      chunks: [body],
    });
    assert.equal(res.status, 200);
    const dump = JSON.parse(res.body.toString()) as DumpBody;
    assert.deepEqual(dump.input, { length: body.length, md5: md5(body) });
    assert.equal(dump.server.CONTENT_LENGTH, String(body.length));
  });

  it('collects a small chunked body in memory and sends its length as CONTENT_LENGTH', async () => {
    const chunks = [Buffer.from('hello '), Buffer.from('chunked '), Buffer.from('world')];
    const res = await send(f.port, {
      method: 'POST',
      path: '/dump.php',
      headers: { 'Content-Type': 'text/plain' },
      chunks,
    });
    const dump = JSON.parse(res.body.toString()) as DumpBody;
    assert.deepEqual(dump.input, { length: 19, md5: md5(Buffer.concat(chunks)) });
    assert.equal(dump.server.CONTENT_LENGTH, '19');
    assert.equal(dump.server.HTTP_TRANSFER_ENCODING, undefined);
  });

  it('spools a chunked body larger than memory allows to a temporary file, closed afterwards', async () => {
    const chunks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(64 * 1024, i));
    const whole = Buffer.concat(chunks);
    assert.ok(whole.length > SPOOL_MEMORY_LIMIT);
    const res = await send(f.port, { method: 'PUT', path: '/dump.php', chunks });
    const dump = JSON.parse(res.body.toString()) as DumpBody;
    assert.deepEqual(dump.input, { length: whole.length, md5: md5(whole) });
    await waitFor(() => bodyFiles().length === 0, 'the body file to be closed');
  });

  it('answers 413 for a Content-Length over maxBodySize without running PHP', async () => {
    const before = f.t.dispatched.length;
    const res = await send(f.port, {
      method: 'POST',
      path: '/dump.php',
      headers: { 'Content-Length': 9 * 1024 * 1024 },
    });
    assert.equal(res.status, 413);
    assert.equal(res.body.toString(), '413 Payload Too Large\n');
    assert.equal(f.t.dispatched.length, before);
  });

  /** Writes `bytes` and resolves with the first bytes the server answers, then hangs up. */
  function firstReply(bytes: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(f.port, '127.0.0.1', () => socket.write(bytes));
      socket.once('data', (d: Buffer) => {
        resolve(d.toString('latin1'));
        socket.destroy();
      });
      socket.on('error', reject);
    });
  }
  const expecting = (length: number) =>
    `POST /dump.php HTTP/1.1\r\nHost: x\r\nContent-Length: ${length}\r\nExpect: 100-continue\r\n\r\n`;

  it('answers Expect: 100-continue over maxBodySize with 413 at once, so the body is never sent', async () => {
    assert.match(await firstReply(expecting(9 * 1024 * 1024)), /^HTTP\/1\.1 413 Payload Too Large\r\n/);
  });

  it('answers Expect: 100-continue with 100 Continue when the declared body fits', async () => {
    assert.equal(await firstReply(expecting(5)), 'HTTP/1.1 100 Continue\r\n\r\n');
  });

  it('answers 413 for a chunked body that grows over maxBodySize, leaving no spool file', async () => {
    const chunks = Array.from({ length: 10 }, () => Buffer.alloc(1024 * 1024, 1));
    const res = await send(f.port, { method: 'POST', path: '/dump.php', chunks }).catch((err: Error) => err);
    // The server may answer before the whole upload is written; either way nothing reached PHP.
    if (!(res instanceof Error)) assert.equal(res.status, 413);
    await waitFor(() => bodyFiles().length === 0, 'the body file to be closed');
  });
});

describe('standalone front: responses and failures', () => {
  let f: TestFront;
  before(async () => {
    f = await startFront({ workers: 1, timeout: 1500, queueTimeout: 300 });
  });
  after(() => f.close());

  it('streams a 10 MB response completely', async () => {
    const res = await send(f.port, { path: '/stream.php' });
    assert.equal(res.status, 200);
    assert.equal(res.body.length, 10 * 1024 * 1024);
  });

  it('sends a response PHP finished before its headers arrived with Content-Length, not chunked', async () => {
    const res = await send(f.port, { path: '/status.php?code=201' });
    assert.deepEqual(
      [res.status, res.headers['content-length'], res.headers['transfer-encoding'], res.body.toString()],
      [201, '10', undefined, 'status set'],
    );
  });

  it('sends a streamed response chunked', async () => {
    const res = await send(f.port, { path: '/stream.php?mb=1&pause=50' });
    assert.deepEqual(
      [res.headers['content-length'], res.headers['transfer-encoding'], res.body.length],
      [undefined, 'chunked', 1024 * 1024],
    );
  });

  it('sends headers but no body for HEAD, and no Content-Length PHP did not give', async () => {
    const res = await send(f.port, { method: 'HEAD', path: '/dump.php' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.equal(res.headers['content-length'], undefined);
    assert.equal(res.body.length, 0);
  });

  it('sends no Content-Length with a 204', async () => {
    const res = await send(f.port, { path: '/status.php?code=204' });
    assert.deepEqual([res.status, res.headers['content-length'], res.body.length], [204, undefined, 0]);
  });

  it('keeps repeated Set-Cookie headers apart', async () => {
    const res = await send(f.port, { path: '/headers.php' });
    assert.ok(Array.isArray(res.headers['set-cookie']));
    assert.ok((res.headers['set-cookie'] as string[]).length >= 2);
  });

  it('gives PHP only the path of an absolute-form request target', async () => {
    const res = await send(f.port, { path: 'http://example.test/dump.php?x=1' });
    const dump = JSON.parse(res.body.toString()) as DumpBody;
    assert.equal(dump.server.REQUEST_URI, '/dump.php?x=1');
    assert.equal(dump.server.QUERY_STRING, 'x=1');
  });

  it('answers 504 past the timeout, and the single worker serves the next request', async () => {
    // The script outlives the 1.5 s timeout by half a second, so the next request, sent after the 504, gets
    // the worker a second before its own deadline: with s=3 it got it at that very deadline, give or take
    // the milliseconds of a busy machine, and sometimes timed out itself.
    const slow = await send(f.port, { path: '/sleep.php?s=2' });
    assert.equal(slow.status, 504);
    assert.equal(slow.body.toString(), '504 Gateway Timeout\n');
    const next = await send(f.port, { path: '/dump.php' });
    assert.equal(next.status, 200);
  });

  it('answers 503 with Retry-After when the only worker stays busy past queueTimeout', async () => {
    const busy = send(f.port, { path: '/sleep.php?s=1' });
    await waitFor(() => f.t.bridge.backend.pools[0]!.stats.active === 1, 'the worker to be busy');
    const queued = await send(f.port, { path: '/dump.php' });
    assert.equal(queued.status, 503);
    assert.equal(queued.headers['retry-after'], '1');
    assert.equal((await busy).status, 200);
  });

  it('frees the worker when the client disconnects in the middle of a download', async () => {
    await new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port: f.port, path: '/slow-body.php?s=30' }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => {});
      req.end();
    }).catch(() => {});
    const pool = f.t.bridge.backend.pools[0]!;
    await waitFor(() => pool.stats.active === 0, 'the aborted request to release its connection');
    assert.equal(f.t.log.filter((e) => e.fields.code === 'FPM_BRIDGE_ERR_ABORTED').length, 0);
  });
});

describe('standalone front: a busy worker', () => {
  it('never runs a request whose client left while it waited for the busy worker', async () => {
    const name = `left-${process.pid}`;
    const log = join(tmpdir(), `ran-${name}.log`);
    rmSync(log, { force: true });
    // A queue timeout of its own: the requests below wait longer than this suite's 300 ms.
    const f = await startFront({ workers: 1 });
    const pool = f.t.bridge.backend.pools[0]!;
    const busy = send(f.port, { path: '/sleep.php?s=1' });
    await waitFor(() => pool.stats.active === 1, 'the worker to be busy');
    // A request already waiting: the next one finds php-fpm saturated, and is handled a turn later.
    const first = send(f.port, { path: '/sleep.php?s=0' });
    await waitFor(() => pool.stats.queued === 1, 'a request to wait in the queue');
    const client = connect(f.port, '127.0.0.1');
    client.on('error', () => {});
    client.write(`GET /ran.php?name=${name} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await waitFor(() => pool.stats.queued === 2, 'the request to wait in the queue');
    client.destroy();
    await waitFor(() => pool.stats.queued === 1, 'the left request to leave the queue');
    assert.deepEqual([(await busy).status, (await first).status], [200, 200]);
    assert.equal(existsSync(log), false, 'PHP ran the request of a client that had left');
    await f.close();
  });
});

describe("standalone front: PHP's Content-Length", () => {
  let f: TestFront;
  before(async () => {
    f = await startFront();
  });
  after(() => f.close());

  /** Writes `bytes` and returns everything the server sent until it closed the connection. */
  function exchange(bytes: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      const socket = connect(f.port, '127.0.0.1', () => socket.write(bytes));
      socket.on('data', (d: Buffer) => chunks.push(d));
      socket.on('error', reject);
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    });
  }
  const get = (query: string, close = false) =>
    `GET /length.php?${query} HTTP/1.1\r\nHost: x\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;
  /** The body of the first response in `raw`, and what follows its Content-Length. */
  function split(raw: string) {
    const end = raw.indexOf('\r\n\r\n') + 4;
    const length = Number(/\r\ncontent-length: (\d+)/i.exec(raw.slice(0, end))![1]);
    return { head: raw.slice(0, end), body: raw.slice(end, end + length), after: raw.slice(end + length) };
  }

  for (const flush of [false, true]) {
    const how = flush ? 'streamed' : 'sent whole';
    it(`sends no byte past it, so the next response on the connection stays intact (${how})`, async () => {
      const q = `declare=5&size=10${flush ? '&flush=1' : ''}`;
      const raw = await exchange(get(q) + get('declare=3&size=3', true));
      const first = split(raw);
      assert.match(first.head, /^HTTP\/1\.1 200 OK\r\n/);
      assert.equal(first.body, 'xxxxx');
      assert.match(first.after, /^HTTP\/1\.1 200 OK\r\n/);
      assert.equal(split(first.after).body, 'xxx');
      assert.ok(
        f.t.log.some(
          (e) =>
            e.msg === 'response body failed' &&
            String((e.fields as { err?: string }).err).startsWith(
              'PHP sent 10 body bytes after "Content-Length: 5"',
            ),
        ),
      );
    });

    it(`closes the connection after a body shorter than it, instead of leaving the client waiting (${how})`, async () => {
      const q = `declare=20&size=10${flush ? '&flush=1' : ''}`;
      // A second request on the same connection is never answered: the connection is closed.
      const raw = await exchange(get(q) + get('declare=3&size=3'));
      const end = raw.indexOf('\r\n\r\n') + 4;
      assert.match(raw.slice(0, end), /\r\nContent-Length: 20\r\n/);
      assert.equal(raw.slice(end), 'x'.repeat(10));
    });
  }

  it('answers 502 when PHP sends two different Content-Length headers', async () => {
    const res = await send(f.port, { path: '/length.php?declare=3&size=3&twice=10' });
    assert.equal(res.status, 502);
  });
});

describe('standalone front: bytes beyond ASCII in the target and the headers', () => {
  let f: TestFront;
  let named: TestFront;
  let docroot: string;
  before(async () => {
    f = await startFront({ frontController: 'hex.php' });
    // A script whose name is UTF-8, found from the bytes of its name raw or percent-encoded.
    docroot = mkdtempSync(join(tmpdir(), 'fpm-bridge-names-'));
    writeFileSync(join(docroot, 'é.php'), readFileSync(join(FIXTURES_DOCROOT, 'hex.php')));
    named = await startFront({ frontController: false }, {}, { docroot });
  });
  after(async () => {
    await f.close();
    await named.close();
    rmSync(docroot, { recursive: true, force: true });
  });
  /** Node's client and server hold header bytes one char per byte. */
  const bytes = (text: string) => Buffer.from(text, 'utf8').toString('latin1');
  /** hex.php's answer to `target` and `headers` sent raw: the params named, as the bytes PHP got. */
  async function params(front: TestFront, target: string, headers: string, ...names: string[]) {
    const head = `GET ${target} HTTP/1.1\r\nHost: x\r\n${headers}Connection: close\r\n\r\n`;
    const reply = await rawRequest(front.port, Buffer.from(head, 'latin1'));
    assert.equal(reply.status, 200, reply.body.toString());
    const server = (JSON.parse(reply.body.toString()) as { server: Record<string, string> }).server;
    return names.map((n) => (server[n] === undefined ? undefined : Buffer.from(server[n]!, 'hex')));
  }
  const latin1 = (text: string) => Buffer.from(text, 'latin1');

  it('hands PHP the bytes of the target as sent, and of its decoded path (regression: UTF-8 encoded twice)', async () => {
    const names = [
      'REQUEST_URI',
      'QUERY_STRING',
      'DOCUMENT_URI',
      'SCRIPT_NAME',
      'PATH_INFO',
      'PATH_TRANSLATED',
    ];
    assert.deepEqual(await params(f, '/hex.php/\xc3\xa9%20x?q=\xe9&r=%E9', '', ...names), [
      latin1('/hex.php/\xc3\xa9%20x?q=\xe9&r=%E9'),
      latin1('q=\xe9&r=%E9'),
      latin1('/hex.php/\xc3\xa9 x'),
      latin1('/hex.php'),
      latin1('/\xc3\xa9 x'),
      Buffer.concat([Buffer.from(FIXTURES_DOCROOT), latin1('/\xc3\xa9 x')]),
    ]);
  });

  it('hands the front controller the bytes of the target as sent', async () => {
    assert.deepEqual(
      await params(f, '/caf\xc3\xa9/?q=\xe9', '', 'REQUEST_URI', 'QUERY_STRING', 'SCRIPT_NAME'),
      [latin1('/caf\xc3\xa9/?q=\xe9'), latin1('q=\xe9'), latin1('/hex.php')],
    );
  });

  it('hands PHP the bytes of request headers as sent, UTF-8 or not (regression: ISO-8859-1 encoded to UTF-8)', async () => {
    const headers = 'X-A: caf\xe9\r\nX-B: \xc3\xa9\r\nCookie: n=\xe9\r\n';
    assert.deepEqual(await params(f, '/hex.php', headers, 'HTTP_X_A', 'HTTP_X_B', 'HTTP_COOKIE'), [
      latin1('caf\xe9'),
      latin1('\xc3\xa9'),
      latin1('n=\xe9'),
    ]);
  });

  it("sets REMOTE_USER to the bytes of the Basic user name, as PHP's PHP_AUTH_USER", async () => {
    const credentials = latin1('j\xf6rg:secret').toString('base64');
    assert.deepEqual(
      await params(f, '/hex.php', `Authorization: Basic ${credentials}\r\n`, 'REMOTE_USER', 'PHP_AUTH_USER'),
      [latin1('j\xf6rg'), latin1('j\xf6rg')],
    );
  });

  it('runs a script whose name is UTF-8 from the raw bytes of its name and from their percent-encoding', async () => {
    for (const target of ['/\xc3\xa9.php/x', '/%C3%A9.php/x']) {
      assert.deepEqual(await params(named, target, '', 'SCRIPT_NAME', 'SCRIPT_FILENAME', 'PATH_INFO'), [
        latin1('/\xc3\xa9.php'),
        Buffer.from(join(docroot, 'é.php')),
        latin1('/x'),
      ]);
    }
  });

  it('answers 400 to a raw path whose bytes are not UTF-8, as to their percent-encoding', async () => {
    for (const target of ['/caf\xe9', '/caf%E9']) {
      const reply = await rawRequest(
        f.port,
        latin1(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
      );
      assert.equal(reply.status, 400, target);
    }
  });

  it('hands PHP the UTF-8 bytes of a request header as the client sent them', async () => {
    const res = await send(f.port, { path: '/dump.php', headers: { 'X-Name': bytes('Zoë') } });
    const dump = JSON.parse(res.body.toString()) as DumpBody;
    assert.equal(dump.server.HTTP_X_NAME, 'Zoë');
  });

  it("sends the client PHP's UTF-8 header bytes unchanged", async () => {
    const res = await send(f.port, { path: '/utf8-headers.php' });
    assert.equal(res.headers['x-name'], bytes('Zoë'));
    assert.equal(res.headers['content-disposition'], bytes('attachment; filename="café.txt"'));
  });
});

describe('standalone front: request framing and Host', () => {
  let f: TestFront;
  before(async () => {
    f = await startFront();
  });
  after(() => f.close());

  it('answers 400 to a second or invalid Host also for a static file (RFC 9112 §3.2)', async () => {
    const twice = await rawRequest(
      f.port,
      'GET /hello.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n',
    );
    assert.equal(twice.status, 400);
    const path = await rawRequest(
      f.port,
      'GET /hello.txt HTTP/1.1\r\nHost: a/../b\r\nConnection: close\r\n\r\n',
    );
    assert.equal(path.status, 400);
  });

  it("takes an absolute-form target's host as the Host (RFC 9112 §3.2.2)", async () => {
    const res = await rawRequest(
      f.port,
      'GET http://example.com:8080/dump.php?q=1 HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n',
    );
    const dump = JSON.parse(res.body.toString()) as DumpBody;
    assert.equal(dump.server.HTTP_HOST, 'example.com:8080');
    assert.equal(dump.server.SERVER_NAME, 'example.com');
    assert.equal(dump.server.REQUEST_URI, '/dump.php?q=1');
  });

  it('answers 400 to two Host headers also when an absolute-form target names the host', async () => {
    const res = await rawRequest(
      f.port,
      'GET http://evil.example/dump.php HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nConnection: close\r\n\r\n',
    );
    assert.equal(res.status, 400);
  });

  it('answers 501 to a body in a transfer coding other than chunked, without running PHP', async () => {
    const before = f.t.dispatched.length;
    const res = await rawRequest(
      f.port,
      'POST /dump.php HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
    );
    assert.equal(res.status, 501);
    assert.equal(res.body.toString(), '501 Not Implemented\n');
    assert.equal(f.t.dispatched.length, before);
  });

  it('answers 501 to CONNECT instead of hanging up', async () => {
    const res = await rawRequest(f.port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    assert.equal(res.status, 501);
  });
});

describe('standalone front: php-fpm unreachable', () => {
  it('answers 502 and logs the cause when nothing listens on the fpm address', async () => {
    const f = await startFront({ fpm: ['unix:/nonexistent/php-fpm.sock'] });
    try {
      const res = await send(f.port, { path: '/dump.php' });
      assert.equal(res.status, 502);
      assert.equal(res.body.toString(), '502 Bad Gateway\n');
      const entry = f.t.log.find((e) => e.fields.code === 'FPM_BRIDGE_ERR_CONNECT');
      assert.match(
        String(entry?.fields.err),
        /^cannot connect to php-fpm at unix:\/nonexistent\/php-fpm\.sock: ENOENT/,
      );
    } finally {
      await f.close();
    }
  });
});

describe('standalone front: static files', () => {
  let f: TestFront;
  before(async () => {
    f = await startFront();
  });
  after(() => f.close());
  const text = readFileSync(join(FIXTURES_DOCROOT, 'hello.txt'));

  it('serves one byte range with 206 and Content-Range', async () => {
    const res = await send(f.port, { path: '/hello.txt', headers: { Range: 'bytes=1-3' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers['content-range'], `bytes 1-3/${text.length}`);
    assert.deepEqual(res.body, text.subarray(1, 4));
  });

  it('serves a suffix range, and the whole file when If-Range no longer matches', async () => {
    const suffix = await send(f.port, { path: '/hello.txt', headers: { Range: 'bytes=-2' } });
    assert.deepEqual(suffix.body, text.subarray(text.length - 2));
    const stale = await send(f.port, {
      path: '/hello.txt',
      headers: { Range: 'bytes=0-0', 'If-Range': 'W/"0-0"' },
    });
    assert.equal(stale.status, 200);
    assert.deepEqual(stale.body, text);
  });

  it('answers 416 with the size for a range past the end', async () => {
    const res = await send(f.port, { path: '/hello.txt', headers: { Range: `bytes=${text.length}-` } });
    assert.equal(res.status, 416);
    assert.equal(res.headers['content-range'], `bytes */${text.length}`);
  });

  // The tag and date fpm-bridge gives hello.txt: W/"<size hex>-<mtime ms hex>" and the mtime's second.
  const helloStats = statSync(join(FIXTURES_DOCROOT, 'hello.txt'));
  const opaque = `"${helloStats.size.toString(16)}-${Math.floor(helloStats.mtimeMs).toString(16)}"`;
  const etag = `W/${opaque}`;
  const lastModified = helloStats.mtime.toUTCString();
  const secondBefore = new Date(Math.floor(helloStats.mtimeMs / 1000) * 1000 - 1000).toUTCString();
  const preconditionFailed = (res: Reply) => {
    assert.equal(res.status, 412);
    assert.equal(res.headers.etag, etag);
    assert.equal(res.headers['last-modified'], lastModified);
    assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(res.headers['content-range'], undefined);
    assert.equal(res.body.toString(), '412 Precondition Failed\n');
  };

  it('gives a static file a weak ETag from size and mtime, and its mtime as Last-Modified', async () => {
    const res = await send(f.port, { path: '/hello.txt' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.etag, etag);
    assert.equal(res.headers['last-modified'], lastModified);
  });

  it('sends the whole file with 200 when If-Range carries its own weak ETag (regression: it sent 206)', async () => {
    // RFC 9110 §13.1.5: an entity-tag in If-Range counts only when strong; every fpm-bridge tag is weak.
    for (const ifRange of [etag, opaque]) {
      const res = await send(f.port, {
        path: '/hello.txt',
        headers: { Range: 'bytes=0-3', 'If-Range': ifRange },
      });
      assert.equal(res.status, 200, ifRange);
      assert.equal(res.headers['content-range'], undefined);
      assert.equal(res.headers['content-length'], String(text.length));
      assert.deepEqual(res.body, text);
    }
  });

  it('serves the range with 206 when If-Range is the Last-Modified date', async () => {
    const res = await send(f.port, {
      path: '/hello.txt',
      headers: { Range: 'bytes=0-3', 'If-Range': lastModified },
    });
    assert.equal(res.status, 206);
    assert.equal(res.headers['content-range'], `bytes 0-3/${text.length}`);
    assert.deepEqual(res.body, text.subarray(0, 4));
  });

  it('answers 304 to If-None-Match with the tag without W/ (weak comparison; regression: it sent 200)', async () => {
    const res = await send(f.port, { path: '/hello.txt', headers: { 'If-None-Match': opaque } });
    assert.equal(res.status, 304);
    assert.equal(res.headers.etag, etag);
    assert.equal(res.headers['last-modified'], lastModified);
    assert.deepEqual(res.body, Buffer.alloc(0));
  });

  it('answers 304 to If-None-Match with the tag in a list, or *, and 200 when no tag matches', async () => {
    for (const inm of [etag, `"other", ${etag}`, `W/"other",${opaque}`, '*']) {
      const res = await send(f.port, { path: '/hello.txt', headers: { 'If-None-Match': inm } });
      assert.equal(res.status, 304, inm);
    }
    const stale = await send(f.port, { path: '/hello.txt', headers: { 'If-None-Match': 'W/"0-0", "0-0"' } });
    assert.equal(stale.status, 200);
    assert.deepEqual(stale.body, text);
  });

  it('takes a "*" for a wildcard only alone, not inside other text (regression: "x*" matched every file)', async () => {
    for (const inm of ['x*', `${etag}*`, `"other", *`]) {
      const res = await send(f.port, { path: '/hello.txt', headers: { 'If-None-Match': inm } });
      assert.deepEqual([res.status, res.body], [200, text], inm);
    }
    preconditionFailed(await send(f.port, { path: '/hello.txt', headers: { 'If-Match': 'x*' } }));
  });

  it("answers 412 to If-Match with the file's weak tag in either form, because If-Match compares strongly", async () => {
    for (const ifMatch of [etag, opaque, `"other", ${opaque}`]) {
      preconditionFailed(await send(f.port, { path: '/hello.txt', headers: { 'If-Match': ifMatch } }));
    }
  });

  it('serves the file to If-Match: *, and ignores If-Unmodified-Since when If-Match is present', async () => {
    const res = await send(f.port, {
      path: '/hello.txt',
      headers: { 'If-Match': '*', 'If-Unmodified-Since': secondBefore },
    });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, text);
  });

  it('answers 412 to If-Unmodified-Since before the mtime, and serves the file from that second on', async () => {
    preconditionFailed(
      await send(f.port, { path: '/hello.txt', headers: { 'If-Unmodified-Since': secondBefore } }),
    );
    const same = await send(f.port, { path: '/hello.txt', headers: { 'If-Unmodified-Since': lastModified } });
    assert.equal(same.status, 200);
    assert.deepEqual(same.body, text);
  });

  it('ignores an If-Unmodified-Since that is not a date', async () => {
    const res = await send(f.port, { path: '/hello.txt', headers: { 'If-Unmodified-Since': 'yesterday' } });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, text);
  });

  it('ignores If-Modified-Since and If-Unmodified-Since values that are no HTTP-date, which Date.parse reads as one', async () => {
    // Date.parse takes "2030" for 2030-01-01 and "1" for 2001-01-01: a 304 and a 412 nginx does not send.
    for (const [name, value] of [
      ['If-Modified-Since', '2030'],
      ['If-Modified-Since', '2099-01-01'],
      ['If-Unmodified-Since', '1'],
      ['If-Unmodified-Since', 'Jan 1 2001'],
    ]) {
      const res = await send(f.port, { path: '/hello.txt', headers: { [name!]: value! } });
      assert.deepEqual([res.status, res.body], [200, text], `${name}: ${value}`);
    }
  });

  it('reads If-Modified-Since in each of the three HTTP-date forms (RFC 9110 §5.6.7)', async () => {
    const at = new Date(helloStats.mtimeMs);
    const day = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'][
      at.getUTCDay()
    ]!;
    const [, dd, mon, yyyy, time] = lastModified.split(' ');
    const forms = [
      lastModified,
      `${day}, ${dd}-${mon}-${yyyy!.slice(2)} ${time} GMT`,
      `${day.slice(0, 3)} ${mon} ${String(at.getUTCDate()).padStart(2, ' ')} ${time} ${yyyy}`,
    ];
    for (const ims of forms) {
      const res = await send(f.port, { path: '/hello.txt', headers: { 'If-Modified-Since': ims } });
      assert.equal(res.status, 304, ims);
    }
  });

  it('checks If-Match and If-Unmodified-Since before If-None-Match and Range (RFC 9110 §13.2.2)', async () => {
    preconditionFailed(
      await send(f.port, { path: '/hello.txt', headers: { 'If-Match': etag, 'If-None-Match': etag } }),
    );
    preconditionFailed(
      await send(f.port, {
        path: '/hello.txt',
        headers: { 'If-Unmodified-Since': secondBefore, 'If-Modified-Since': lastModified },
      }),
    );
    preconditionFailed(
      await send(f.port, { path: '/hello.txt', headers: { 'If-Match': '"nope"', Range: 'bytes=0-3' } }),
    );
  });

  it('answers HEAD with a failed If-Match with 412 and no body', async () => {
    const res = await send(f.port, { method: 'HEAD', path: '/hello.txt', headers: { 'If-Match': etag } });
    assert.equal(res.status, 412);
    assert.equal(res.headers.etag, etag);
    assert.deepEqual(res.body, Buffer.alloc(0));
  });

  it('redirects a directory to its slash on this host, whatever the client encoded (no open redirect)', async () => {
    // Normalised, `//evil.example/a%2f..%2f..%2fsub` is `/sub`; its raw form plus a slash would send a
    // browser to evil.example.
    const res = await rawRequest(
      f.port,
      'GET //evil.example/a%2f..%2f..%2fsub?x=%20 HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n\r\n',
    );
    assert.equal(res.status, 308);
    assert.deepEqual(
      res.headers.filter(([name]) => name === 'location'),
      [['location', '/sub/?x=%20']],
    );
  });

  it('never serves PHP source, a dotfile or a directory listing', async () => {
    assert.equal((await send(f.port, { path: '/x.PHP' })).status, 404);
    assert.equal((await send(f.port, { path: '/.env' })).status, 404);
    const dir = await send(f.port, { path: '/assets/' });
    assert.equal(dir.status, 200);
    assert.equal((JSON.parse(dir.body.toString()) as DumpBody).server.SCRIPT_NAME, '/index.php');
  });

  it('answers 431 for request headers over maxHeaderSize', async () => {
    const res = await send(f.port, { path: '/dump.php', headers: { 'X-Big': 'x'.repeat(20_000) } });
    assert.equal(res.status, 431);
  });
});

describe('standalone front: an empty static file', () => {
  // No fixture is empty, so this docroot holds one zero-length file and nothing else.
  const docroot = mkdtempSync(join(tmpdir(), 'fpm-bridge-empty-'));
  writeFileSync(join(docroot, 'empty.txt'), '');
  let f: TestFront;
  before(async () => {
    f = await startFront({}, {}, { docroot });
  });
  after(async () => {
    await f.close();
    rmSync(docroot, { recursive: true, force: true });
  });

  it('answers a suffix range on an empty file with 200 and the empty body (regression: the reply crashed)', async () => {
    // RFC 9110 §14.1.2 calls a non-zero suffix-range on a zero-length representation satisfiable, so 416
    // would be wrong; a 206 cannot express zero bytes, so the Range is ignored (§14.2).
    for (const method of ['GET', 'HEAD']) {
      const res = await send(f.port, { method, path: '/empty.txt', headers: { Range: 'bytes=-5' } });
      assert.equal(res.status, 200, method);
      assert.equal(res.headers['content-length'], '0');
      assert.equal(res.headers['content-range'], undefined);
      assert.deepEqual(res.body, Buffer.alloc(0));
    }
  });

  it('answers an int-range or a zero-length suffix on an empty file with 416 and bytes */0', async () => {
    for (const range of ['bytes=0-', 'bytes=0-0', 'bytes=-0']) {
      const res = await send(f.port, { path: '/empty.txt', headers: { Range: range } });
      assert.equal(res.status, 416, range);
      assert.equal(res.headers['content-range'], 'bytes */0');
      assert.equal(res.body.toString(), '416 Range Not Satisfiable\n');
    }
  });
});

describe('standalone front: trusted proxies', () => {
  let f: TestFront;
  before(async () => {
    f = await startFront({ trustedProxies: ['127.0.0.1', '10.0.0.0/8'], trustForwardedHost: true });
  });
  after(() => f.close());

  it('takes the client address, scheme, port and host from a trusted proxy', async () => {
    const res = await send(f.port, {
      path: '/dump.php',
      headers: {
        'X-Forwarded-For': '198.51.100.1, 203.0.113.9, 10.1.2.3',
        'X-Forwarded-Proto': 'https',
        'X-Forwarded-Host': 'www.example.com',
      },
    });
    const s = (JSON.parse(res.body.toString()) as DumpBody).server;
    // 198.51.100.1 may be forged by the client: the first untrusted hop from the right is the client.
    assert.equal(s.REMOTE_ADDR, '203.0.113.9');
    assert.equal(s.HTTPS, 'on');
    assert.equal(s.SERVER_PORT, '443');
    assert.equal(s.HTTP_HOST, 'www.example.com');
    assert.equal(s.SERVER_NAME, 'www.example.com');
    assert.equal('REMOTE_PORT' in s, false);
  });

  it('takes the scheme and host the trusted proxy set (the right-most values), not what the client added', async () => {
    const res = await send(f.port, {
      path: '/dump.php',
      headers: { 'X-Forwarded-Proto': 'https, http', 'X-Forwarded-Host': 'evil.example, good.example' },
    });
    const s = (JSON.parse(res.body.toString()) as DumpBody).server;
    assert.equal('HTTPS' in s, false);
    assert.equal(s.SERVER_PORT, '80');
    assert.equal(s.SERVER_NAME, 'good.example');
  });

  it('takes nothing from X-Forwarded-* values that end in a no-break space: only SP and HTAB are whitespace', async () => {
    const res = await send(f.port, {
      path: '/dump.php',
      headers: {
        'X-Forwarded-For': '203.0.113.9\xa0',
        'X-Forwarded-Proto': 'https\xa0',
        'X-Forwarded-Port': '8443\xa0',
      },
    });
    const s = (JSON.parse(res.body.toString()) as DumpBody).server;
    // A port that is not digits is no port: the one of the scheme, which is not https, stands.
    assert.deepEqual([s.REMOTE_ADDR, 'HTTPS' in s, s.SERVER_PORT], ['127.0.0.1', false, '80']);
  });

  it('stops at an X-Forwarded-For entry that is no IP address, keeping the last trusted hop', async () => {
    const res = await send(f.port, {
      path: '/dump.php',
      headers: { 'X-Forwarded-For': '203.0.113.9, <svg/onload=x>, 10.1.2.3' },
    });
    assert.equal((JSON.parse(res.body.toString()) as DumpBody).server.REMOTE_ADDR, '10.1.2.3');
  });
});

describe('standalone front: untrusted peers', () => {
  let f: TestFront;
  before(async () => {
    f = await startFront({ trustedProxies: ['10.0.0.0/8'] });
  });
  after(() => f.close());

  it('ignores X-Forwarded-* from a peer that is not a trusted proxy', async () => {
    const res = await send(f.port, {
      path: '/dump.php',
      headers: { 'X-Forwarded-For': '203.0.113.9', 'X-Forwarded-Proto': 'https' },
    });
    const s = (JSON.parse(res.body.toString()) as DumpBody).server;
    assert.equal(s.REMOTE_ADDR, '127.0.0.1');
    assert.equal('HTTPS' in s, false);
    assert.equal(s.HTTP_X_FORWARDED_FOR, '203.0.113.9');
  });
});
