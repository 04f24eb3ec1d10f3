// The front's own HTTP/1.1 engine (server/http1/), specified from the wire: raw sockets send exact bytes,
// pipelined requests, slow or broken clients, against a real front over php-fpm.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { reasonPhrase } from '../../proxy/status.ts';
import { type DumpBody, waitFor } from '../support/bridge.ts';
import { startFront, type TestFront } from '../support/front.ts';
import { Conn, header, type RawReply as Reply } from '../support/raw-http.ts';

const IMF_FIXDATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/;
/** The status and the given headers of `r`, to compare in one go. */
const pick = (r: Reply, ...names: string[]) => [r.status, ...names.map((n) => header(r, n))];
const dump = (r: Reply) => JSON.parse(r.body.toString()) as DumpBody;
const md5 = (s: string) => createHash('md5').update(s).digest('hex');
/** The body the engine itself answers a refused request with. */
const refusal = (status: number) => `${status} ${reasonPhrase(status)}\n`;

/** Sends `bytes` on a new connection; every response once the server closed it. */
async function exchange(port: number, bytes: string, heads: readonly number[] = []): Promise<Reply[]> {
  return (await Conn.open(port, bytes)).closing(heads);
}

/**
 * `bytes` get exactly one answer, `status` with the engine's text and `Connection: close`, the connection
 * closes, and PHP never runs. Returns the answer, the connection and when the bytes had been written.
 */
async function refused(f: TestFront, bytes: string, status: number) {
  const before = f.t.dispatched.length;
  const conn = await Conn.open(f.port, bytes);
  const sent = performance.now();
  const replies = await conn.closing();
  const closes = (r: Reply) => header(r, 'connection')?.split(/, */).includes('close');
  assert.deepEqual(
    replies.map((r) => [r.status, closes(r), r.body.toString()]),
    [[status, true, refusal(status)]],
  );
  assert.equal(f.t.dispatched.length, before, 'PHP ran');
  return { reply: replies[0]!, conn, sent };
}

const get = (target: string, headers = '') => `GET ${target} HTTP/1.1\r\nHost: x\r\n${headers}\r\n`;
const post = (headers: string, body = '', target = '/dump.php') =>
  `POST ${target} HTTP/1.1\r\nHost: x\r\n${headers}\r\n${body}`;
const CLOSE = 'Connection: close\r\n';
const CHUNKED = 'Transfer-Encoding: chunked\r\n';
const length = (value: string | number) => `Content-Length: ${value}\r\n`;

describe('HTTP/1.1 engine', () => {
  let f: TestFront;
  before(async () => {
    f = await startFront();
  });
  after(() => f.close());

  describe('refuses requests it cannot frame safely, closing the connection without running PHP', () => {
    // Each is a way two parsers could disagree about where a request ends (request smuggling), or a
    // request the engine does not implement.
    const cases: [string, string, number][] = [
      ['Content-Length beside Transfer-Encoding', post(length(5) + CHUNKED, '0\r\n\r\n'), 400],
      ['two equal Content-Length headers', post(length(5) + length(5), 'hello'), 400],
      ['two different Content-Length headers', post(length(5) + length(6), 'hello!'), 400],
      ['Content-Length with a sign', post(length('+5'), 'hello'), 400],
      ['Content-Length "5 5"', post(length('5 5'), 'hello'), 400],
      ['Content-Length in hex', post(length('0x5'), 'hello'), 400],
      ['Transfer-Encoding in HTTP/1.0', `POST /dump.php HTTP/1.0\r\n${CHUNKED}\r\n0\r\n\r\n`, 400],
      ['"Transfer-Encoding: chunked, gzip"', post('Transfer-Encoding: chunked, gzip\r\n', '0\r\n\r\n'), 400],
      ['chunked, then identity, in two headers', post(`${CHUNKED}Transfer-Encoding: identity\r\n`), 400],
      ['obsolete line folding', get('/dump.php', 'X-Folded: a\r\n b\r\n'), 400],
      ['whitespace between a header name and its colon', post('Content-Length : 5\r\n', 'hello'), 400],
      ['a header line ended by a bare LF', get('/dump.php', 'X-A: a\nX-B: b\r\n'), 400],
      ['a request whose lines all end in a bare LF', 'GET /dump.php HTTP/1.1\nHost: x\n\n', 400],
      ['a NUL in a header value', get('/dump.php', 'X-A: a\0b\r\n'), 400],
      ['a control character (0x01) in a header value', get('/dump.php', 'X-A: a\x01b\r\n'), 400],
      ['a bare CR in a header value', get('/dump.php', 'X-A: a\rb\r\n'), 400],
      ['an HTTP/1.1 request without Host', 'GET /dump.php HTTP/1.1\r\n\r\n', 400],
      ['a request line with two spaces in a row', 'GET  /dump.php HTTP/1.1\r\nHost: x\r\n\r\n', 400],
      ['a request line without a version', 'GET /dump.php\r\nHost: x\r\n\r\n', 400],
      ['a version in lower case', 'GET /dump.php http/1.1\r\nHost: x\r\n\r\n', 400],
      ['a chunk size that is not hex', post(CHUNKED, 'zz\r\nhello\r\n0\r\n\r\n'), 400],
      ['chunk data longer than its size', post(CHUNKED, '5\r\nhello!\r\n0\r\n\r\n'), 400],
      // A parser that reads "1 2" as 0x12 would take the next 18 bytes as body.
      ['a chunk size followed by more than whitespace', post(CHUNKED, '1 2\r\nx\r\n0\r\n\r\n'), 400],
      ['HTTP/2.0 in the request line', 'GET /dump.php HTTP/2.0\r\nHost: x\r\n\r\n', 505],
      ['an Expect other than 100-continue', get('/dump.php', 'Expect: something-else\r\n'), 417],
      ['a head over maxHeaderSize', get('/dump.php', `X-Big: ${'x'.repeat(20_000)}\r\n`), 431],
      // At once, not after headersTimeout (30 s here).
      ['a head growing past maxHeaderSize, unended', `GET / HTTP/1.1\r\nX-Big: ${'x'.repeat(20_000)}`, 431],
      ['CONNECT', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 501],
    ];
    for (const [what, bytes, status] of cases) {
      it(`answers ${status} to ${what}`, async () => {
        await refused(f, bytes, status);
      });
    }
  });

  describe('takes only SP and HTAB for whitespace around framing values (RFC 9110 §5.6.3)', () => {
    // String.prototype.trim also strips U+00A0 and U+0085 (bytes 0xA0 and 0x85 read one per character):
    // a front that forwarded such a Transfer-Encoding unread would frame the body otherwise. llhttp and
    // HAProxy answer 400 here, nginx 501.
    const te = (value: string) => `Transfer-Encoding: ${value}\r\n`;
    const cases: [string, string, number][] = [
      ['"chunked" then a no-break space (0xA0)', post(te('chunked\xa0'), '5\r\nhello\r\n0\r\n\r\n'), 400],
      ['a no-break space then "chunked"', post(te('\xa0chunked'), '5\r\nhello\r\n0\r\n\r\n'), 400],
      ['"chunked" then NEL (0x85)', post(te('chunked\x85'), '5\r\nhello\r\n0\r\n\r\n'), 400],
      ['"chunked" then U+2000 in UTF-8', post(te('chunked\xe2\x80\x80'), '5\r\nhello\r\n0\r\n\r\n'), 400],
      ['"chunked, " then a no-break space as a second coding', post(te('chunked, \xa0'), '0\r\n\r\n'), 400],
      ['"chunked" then a vertical tab', post(te('chunked\x0b'), '0\r\n\r\n'), 400],
      ['"chunked" then a form feed', post(te('chunked\x0c'), '0\r\n\r\n'), 400],
      ['a Content-Length then a no-break space', post(length('5\xa0'), 'hello'), 400],
      ['a no-break space then a Content-Length', post(length('\xa05'), 'hello'), 400],
      ['a chunk size then a no-break space', post(CHUNKED, '5\xa0\r\nhello\r\n0\r\n\r\n'), 400],
      ['a chunk size then NEL before its extension', post(CHUNKED, '5\x85;a=b\r\nhello\r\n0\r\n\r\n'), 400],
      ['"Expect: 100-continue" then a no-break space', post(`Expect: 100-continue\xa0\r\n${length(5)}`), 417],
    ];
    for (const [what, bytes, status] of cases) {
      it(`answers ${status} to ${what}`, async () => {
        await refused(f, bytes, status);
      });
    }

    it('ignores a Range that ends in a no-break space and sends the whole file, as nginx does', async () => {
      const [reply] = await exchange(f.port, get('/hello.txt', `Range: bytes=0-4\xa0\r\n${CLOSE}`));
      assert.deepEqual(
        [...pick(reply!, 'content-range'), reply!.body.toString()],
        [200, undefined, 'hello from a static file\n'],
      );
    });

    it('reads "Connection: close" then a no-break space as no close: the next request is answered, as llhttp and HAProxy do', async () => {
      const replies = await exchange(
        f.port,
        get('/dump.php?n=1', 'Connection: close\xa0\r\n') + get('/dump.php?n=2', CLOSE),
      );
      assert.deepEqual(
        replies.map((r) => [r.status, dump(r).server.QUERY_STRING]),
        [
          [200, 'n=1'],
          [200, 'n=2'],
        ],
      );
    });

    it('reads an HTTP/1.0 "Connection: keep-alive" then a no-break space as no keep-alive: the connection closes', async () => {
      const conn = await Conn.open(
        f.port,
        'GET /dump.php?n=1 HTTP/1.0\r\nConnection: keep-alive\xa0\r\n\r\nGET /dump.php?n=2 HTTP/1.0\r\n\r\n',
      );
      assert.deepEqual(
        (await conn.closing()).map((r) => [...pick(r, 'connection'), dump(r).server.QUERY_STRING]),
        [[200, 'close', 'n=1']],
      );
    });
  });

  describe('chunked request bodies', () => {
    const body =
      '5;name=value\r\nhello\r\n6 ; a="b c";d\r\n world\r\n0;last\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n';
    const helloWorld = { length: 11, md5: md5('hello world') };

    it('hands PHP exactly the de-chunked body as CONTENT_LENGTH bytes, ignoring extensions and dropping trailers', async () => {
      const replies = await exchange(f.port, post(CHUNKED + CLOSE, body));
      assert.deepEqual(
        replies.map((r) => {
          const s = dump(r).server;
          return [r.status, dump(r).input, s.CONTENT_LENGTH, s.HTTP_TRANSFER_ENCODING, s.HTTP_X_TRAILER];
        }),
        [[200, helloWorld, '11', undefined, undefined]],
      );
    });

    it('decodes a request that arrives one byte per write', async () => {
      const conn = await Conn.open(f.port);
      for (const byte of post(CHUNKED + CLOSE, body)) {
        await conn.write(byte);
        // Lets the server read each byte on its own rather than a batch of them.
        await sleep(1);
      }
      const replies = await conn.closing();
      assert.deepEqual(
        replies.map((r) => [r.status, dump(r).input]),
        [[200, helloWorld]],
      );
    });

    it('says Connection: close once, in one header, when it refuses a broken chunked body', async () => {
      const { reply } = await refused(f, post(CHUNKED, 'zz\r\n'), 400);
      assert.deepEqual(
        reply.headers.filter(([name]) => name === 'connection'),
        [['connection', 'close']],
      );
    });
  });

  describe('keep-alive and pipelining', () => {
    it('answers four requests sent in one write in order on one connection, closing after the last', async () => {
      const replies = await exchange(
        f.port,
        get('/dump.php?n=1') +
          post(length(5), 'hello', '/dump.php?n=2') +
          post(CHUNKED, '3\r\nabc\r\n0\r\n\r\n', '/dump.php?n=3') +
          get('/hello.txt', CLOSE),
      );
      assert.deepEqual(
        replies.map((r, i) =>
          i < 3 ? [r.status, dump(r).server.QUERY_STRING, dump(r).input] : [r.status, r.body.toString()],
        ),
        [
          [200, 'n=1', { length: 0, md5: md5('') }],
          [200, 'n=2', { length: 5, md5: md5('hello') }],
          [200, 'n=3', { length: 3, md5: md5('abc') }],
          [200, 'hello from a static file\n'],
        ],
      );
    });

    it('closes an HTTP/1.0 connection after its response when the client did not ask for keep-alive', async () => {
      const replies = await exchange(f.port, 'GET /dump.php HTTP/1.0\r\n\r\n');
      assert.deepEqual(
        replies.map((r) => [...pick(r, 'connection'), dump(r).server.SERVER_PROTOCOL]),
        [[200, 'close', 'HTTP/1.0']],
      );
    });

    it('keeps an HTTP/1.0 connection open for another request with Connection: keep-alive, and says so', async () => {
      const conn = await Conn.open(f.port, 'GET /dump.php?n=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
      assert.equal((await conn.replies(1)).length, 1);
      await conn.write('GET /dump.php?n=2 HTTP/1.0\r\n\r\n');
      assert.deepEqual(
        (await conn.closing()).map((r) => [...pick(r, 'connection'), dump(r).server.QUERY_STRING]),
        [
          [200, 'keep-alive', 'n=1'],
          [200, 'close', 'n=2'],
        ],
      );
    });

    it('answers HEAD with the headers only, so the next response follows right after them', async () => {
      const head = (target: string) => `HEAD ${target} HTTP/1.1\r\nHost: x\r\n\r\n`;
      const replies = await exchange(
        f.port,
        head('/dump.php') + head('/hello.txt') + get('/hello.txt', CLOSE),
        [0, 1],
      );
      assert.deepEqual(
        replies.map((r) => [...pick(r, 'content-type', 'content-length'), r.body.toString()]),
        [
          [200, 'application/json', undefined, ''],
          [200, 'text/plain; charset=utf-8', '25', ''],
          [200, 'text/plain; charset=utf-8', '25', 'hello from a static file\n'],
        ],
      );
    });

    it('skips the unread body of a request answered without it, and never runs a request hidden in it', async () => {
      const before = f.t.dispatched.length;
      const hidden = get('/dump.php?smuggled=1');
      const conn = await Conn.open(f.port, post(length(hidden.length), hidden.slice(0, 5), '/hello.txt'));
      // A static file is answered at once, while the rest of the body is still on its way.
      const [answered] = await conn.replies(1);
      assert.deepEqual(pick(answered!, 'allow', 'connection'), [405, 'GET, HEAD', undefined]);
      await conn.write(hidden.slice(5) + get('/dump.php?n=2', CLOSE));
      assert.deepEqual(
        (await conn.closing()).slice(1).map((r) => [r.status, dump(r).server.QUERY_STRING]),
        [[200, 'n=2']],
      );
      assert.equal(f.t.dispatched.length, before + 1);
    });
  });

  it('keeps serving, and frees the PHP worker, after clients hang up mid-head, mid-body and mid-chunk', async () => {
    const partials = [
      'GET /dump.php HTTP/1.1\r\nHo',
      post(length(100), 'x'.repeat(10)),
      post(CHUNKED, '10\r\nab'),
    ];
    for (const partial of partials) {
      const conn = await Conn.open(f.port, partial);
      // Gives the server time to start the request before the client vanishes.
      await sleep(50);
      conn.socket.destroy();
    }
    const pool = f.t.bridge.backend.pools[0]!;
    await waitFor(() => pool.stats.active === 0, 'the abandoned request to free its worker');
    assert.deepEqual(
      (await exchange(f.port, get('/dump.php', CLOSE))).map((r) => r.status),
      [200],
    );
  });

  describe('response framing', () => {
    it('sends a PHP response without a length to an HTTP/1.0 client close-delimited, not chunked', async () => {
      const replies = await exchange(f.port, 'GET /stream.php?mb=1&pause=50 HTTP/1.0\r\n\r\n');
      assert.deepEqual(
        replies.map((r) => pick(r, 'content-length', 'transfer-encoding', 'connection')),
        [[200, undefined, undefined, 'close']],
      );
      // stream.php: 16 pieces of 64 KiB, piece i all chr(65 + i).
      const expected = Buffer.concat(Array.from({ length: 16 }, (_, i) => Buffer.alloc(65536, 65 + i)));
      assert.ok(replies[0]!.body.equals(expected), `body of ${replies[0]!.body.length} bytes differs`);
    });

    /** The response carries a Date in IMF-fixdate form (RFC 9110 §5.6.7) close to now. */
    function assertDated(reply: Reply, what: string): void {
      const date = header(reply, 'date');
      assert.match(String(date), IMF_FIXDATE, what);
      assert.ok(Math.abs(Date.parse(date!) - Date.now()) < 10_000, `${what}: Date ${date}`);
    }

    it('puts a current Date on responses from PHP, from a static file and on an error', async () => {
      for (const [target, status] of [
        ['/dump.php', 200],
        ['/hello.txt', 200],
        ['/x.PHP', 404],
      ] as const) {
        const [reply] = await exchange(f.port, get(target, CLOSE));
        assert.equal(reply!.status, status, target);
        assertDated(reply!, target);
      }
    });

    it('puts a current Date on the answer to a request the engine refuses itself (RFC 9110 §6.6.1)', async () => {
      assertDated((await refused(f, 'GET /dump.php HTTP/1.1\r\n\r\n', 400)).reply, 'the 400');
    });

    /** Every value of each field a front writes itself, in `reply`. */
    const ownFields = (reply: Reply) =>
      Object.fromEntries(
        ['date', 'server', 'connection', 'keep-alive', 'content-length', 'transfer-encoding'].map((name) => [
          name,
          reply.headers.filter(([n]) => n === name).map(([, v]) => v),
        ]),
      );

    it("sends PHP's Date alone, not one of its own beside it, as nginx does (RFC 9110 §6.6.1 allows one)", async () => {
      for (const query of ['date=1', 'date=1&flush=1', 'date=1&length=1&flush=1']) {
        const [reply] = await exchange(f.port, get(`/front-fields.php?${query}`, CLOSE));
        assert.deepEqual(ownFields(reply!).date, ['Mon, 01 Jan 2001 00:00:00 GMT'], query);
      }
    });

    it('sends one of each field it writes itself, whatever PHP set: Server as PHP set it, its own Connection, one framing', async () => {
      const cases: [string, string, Record<string, string[]>][] = [
        // Whole, PHP's length kept; streamed with PHP's length; streamed without one: chunked.
        ['server=1&hop=1&length=1', CLOSE, { 'content-length': ['10'], 'transfer-encoding': [] }],
        ['server=1&hop=1&length=1&flush=1', '', { 'content-length': ['10'], 'transfer-encoding': [] }],
        ['server=1&hop=1&flush=1', '', { 'content-length': [], 'transfer-encoding': ['chunked'] }],
      ];
      for (const [query, headers, framing] of cases) {
        const conn = await Conn.open(f.port, get(`/front-fields.php?${query}`, headers));
        const [reply] = await conn.replies(1);
        conn.socket.destroy();
        const fields = ownFields(reply!);
        assert.ok(fields.date!.length === 1 && IMF_FIXDATE.test(fields.date![0]!), query);
        assert.deepEqual(
          { ...fields, date: [] },
          {
            date: [],
            server: ['php-app'],
            // PHP's hop-by-hop fields are about its connection to php-fpm: the client's is the front's.
            connection: headers === CLOSE ? ['close'] : [],
            'keep-alive': [],
            ...framing,
          },
          query,
        );
        assert.equal(reply!.body.toString(), 'fields set', query);
      }
    });
  });
});

describe('HTTP/1.1 engine: answers that leave a body unsent', () => {
  let f: TestFront;
  before(async () => {
    f = await startFront();
  });
  after(() => f.close());

  it('closes the connection after a final answer to a request still waiting for its 100 Continue', async () => {
    // The client holds its body back until a 100 that never comes: kept open, the connection would read
    // the client's next request as that body.
    const conn = await Conn.open(
      f.port,
      post(`${length(40)}Expect: 100-continue\r\n`, '', '/fpm-bridge/health'),
    );
    const replies = await conn.closing();
    assert.deepEqual(
      replies.map((r) => pick(r, 'connection')),
      [[405, 'close']],
    );
  });

  it('closes idle keep-alive connections when the server closes, not after keepAliveTimeout', async () => {
    const conn = await Conn.open(f.port, get('/hello.txt'));
    assert.equal((await conn.replies(1))[0]?.status, 200);
    f.server.close();
    assert.equal((await conn.closing()).length, 1);
  });
});

describe('HTTP/1.1 engine: timeouts', () => {
  const [HEADERS, KEEP_ALIVE, IDLE] = [400, 300, 400];
  let f: TestFront;
  before(async () => {
    // Bodies stream to PHP as they come (requestBuffering off): what happens to a worker while an upload stops
    // or waits for PHP is the point here; bodies read whole are bodyTimeout's (request-buffering.test.ts).
    f = await startFront({
      headersTimeout: HEADERS,
      keepAliveTimeout: KEEP_ALIVE,
      idleTimeout: IDLE,
      requestBuffering: false,
    });
  });
  after(() => f.close());

  it('answers 408 and closes when a request head stops halfway, once headersTimeout has passed', async () => {
    const { conn, sent } = await refused(f, 'GET /dump.php HTTP/1.1\r\nHost: x\r\n', 408);
    conn.closedAfter(sent, HEADERS);
  });

  it('answers 408 to a head trickled a byte every 100 ms once headersTimeout has passed since its first byte (Slowloris)', async () => {
    const head = get('/dump.php', 'X-Slow: yes\r\n');
    const conn = await Conn.open(f.port);
    const first = performance.now();
    let sent = 0;
    while (!conn.closed && sent < head.length) {
      await conn.write(head[sent++]!);
      await sleep(100);
    }
    assert.deepEqual(
      (await conn.closing()).map((r) => r.status),
      [408],
    );
    // Every byte kept the connection busy; the limit counts from the first one all the same.
    assert.ok(sent < head.length, 'the whole head went through');
    conn.closedAfter(first, HEADERS);
  });

  it('closes a keep-alive connection left idle for keepAliveTimeout after a response', async () => {
    const conn = await Conn.open(f.port, get('/hello.txt'));
    assert.equal((await conn.replies(1))[0]!.status, 200);
    const answered = performance.now();
    assert.equal((await conn.closing()).length, 1);
    conn.closedAfter(answered, KEEP_ALIVE);
  });

  it('cuts a connection whose body stops for idleTimeout, and frees the PHP worker', async () => {
    const conn = await Conn.open(f.port, post(length(100), 'x'.repeat(10)));
    const sent = performance.now();
    const statuses = (await conn.closing()).map((r) => r.status);
    // Cut without an answer, or with a 408: either way nothing claims PHP got the body.
    assert.ok(statuses.length === 0 || (statuses.length === 1 && statuses[0] === 408), `got ${statuses}`);
    conn.closedAfter(sent, IDLE);
    const pool = f.t.bridge.backend.pools[0]!;
    await waitFor(() => pool.stats.active === 0, 'the cut request to free its worker');
  });

  it('answers 408 to a client sending only empty lines once headersTimeout has passed', async () => {
    const conn = await Conn.open(f.port, '\r\n');
    const first = performance.now();
    while (!conn.closed && performance.now() - first < 2000) {
      await sleep(100);
      await conn.write('\r\n');
    }
    assert.deepEqual(
      (await conn.closing()).map((r) => r.status),
      [408],
    );
    conn.closedAfter(first, HEADERS);
  });

  it('cuts a refused client that keeps sending, instead of reading it for ever', async () => {
    // Half-open, as a client that goes on writing after the server's FIN: the server must end it alone.
    const conn = await Conn.open(f.port, post(CHUNKED, 'zz\r\n'), { allowHalfOpen: true });
    assert.equal((await conn.replies(1))[0]?.status, 400);
    const answered = performance.now();
    // Each write is traffic, so no idle timeout would ever fire: only a cap on the closing time ends this.
    while (!conn.closed && performance.now() - answered < 2500) {
      await conn.write('x'.repeat(100));
      await sleep(50);
    }
    assert.ok(conn.closed, 'the connection stayed open while the client kept sending');
  });

  it('does not cut an upload paused because PHP does not read it yet', async () => {
    // PHP reads the body only once it is done sleeping; the socket is paused meanwhile, and quiet.
    const body = 'x'.repeat(32 * 1024 * 1024);
    const conn = await Conn.open(f.port);
    void conn.write(post(length(body.length) + CLOSE, body, '/sleep.php?s=2'));
    const [reply] = await conn.closing();
    assert.equal(reply?.status, 200);
    assert.equal(reply?.body.toString(), 'slept');
  });

  it('waits for a PHP script silent for longer than idleTimeout: only the request timeout bounds PHP', async () => {
    const conn = await Conn.open(f.port, get('/sleep.php?s=1', CLOSE));
    const [reply] = await conn.closing();
    assert.equal(reply?.status, 200);
    assert.equal(reply?.body.toString(), 'slept');
  });

  it('lets a body that keeps moving take longer than idleTimeout and headersTimeout in all', async () => {
    const conn = await Conn.open(f.port, post(length(10) + CLOSE));
    for (let i = 0; i < 10; i++) {
      await sleep(100);
      await conn.write('x');
    }
    assert.deepEqual(
      (await conn.closing()).map((r) => [r.status, dump(r).input]),
      [[200, { length: 10, md5: md5('x'.repeat(10)) }]],
    );
  });
});
