import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SERVER_SOFTWARE } from '../../proxy/bridge.ts';
import { BadRequestError, NotFoundError, TimeoutError } from '../../proxy/errors.ts';
import {
  type DumpBody,
  FIXTURES_DOCROOT,
  readAll,
  startBridge,
  type TestBridge,
  type TestRequest,
  waitFor,
} from '../support/bridge.ts';

const D = FIXTURES_DOCROOT;
const md5 = (data: Buffer | string) => createHash('md5').update(data).digest('hex');
const basic = (credentials: string) => `Basic ${Buffer.from(credentials).toString('base64')}`;

/** `$_SERVER` keys that come from HTTP request headers. */
function httpKeys(server: DumpBody['server']): Record<string, string | number> {
  return Object.fromEntries(Object.entries(server).filter(([name]) => name.startsWith('HTTP_')));
}

interface ServerCase {
  name: string;
  request: TestRequest;
  /** The docroot-relative script php-fpm ran. */
  ran: string;
  /** `$_SERVER` values PHP sees; null = the key is absent. */
  server: Record<string, string | null>;
  /** When given: exactly these HTTP_* keys and no others. */
  http?: Record<string, string>;
  get?: Record<string, unknown>;
  post?: Record<string, unknown>;
  cookie?: Record<string, string>;
}

/** Cases 1–30 of the conformance list, as php-fpm and PHP see them. */
const SERVER_CASES: ServerCase[] = [
  {
    name: 'GET /dump.php: the CGI/1.1 basics, QUERY_STRING empty, no PATH_INFO, no HTTPS, no CONTENT_* (case 1)',
    request: { uri: '/dump.php' },
    ran: 'dump.php',
    server: {
      GATEWAY_INTERFACE: 'CGI/1.1',
      SERVER_SOFTWARE,
      REQUEST_METHOD: 'GET',
      REQUEST_URI: '/dump.php',
      QUERY_STRING: '',
      DOCUMENT_ROOT: D,
      DOCUMENT_URI: '/dump.php',
      SCRIPT_NAME: '/dump.php',
      SCRIPT_FILENAME: `${D}/dump.php`,
      PHP_SELF: '/dump.php',
      PATH_INFO: null,
      PATH_TRANSLATED: null,
      SERVER_PROTOCOL: 'HTTP/1.1',
      REQUEST_SCHEME: 'http',
      SERVER_ADDR: '127.0.0.1',
      SERVER_PORT: '8080',
      SERVER_NAME: '127.0.0.1',
      REMOTE_ADDR: '203.0.113.7',
      REMOTE_PORT: '54321',
      REDIRECT_STATUS: '200',
      HTTPS: null,
      CONTENT_LENGTH: null,
      CONTENT_TYPE: null,
      AUTH_TYPE: null,
      REMOTE_USER: null,
    },
    http: {},
    get: {},
  },
  {
    name: 'GET /dump.php/foo/bar?x=1: PATH_INFO and PATH_TRANSLATED from the split (case 2)',
    request: { uri: '/dump.php/foo/bar?x=1' },
    ran: 'dump.php',
    server: {
      SCRIPT_NAME: '/dump.php',
      SCRIPT_FILENAME: `${D}/dump.php`,
      PATH_INFO: '/foo/bar',
      PATH_TRANSLATED: `${D}/foo/bar`,
      DOCUMENT_URI: '/dump.php/foo/bar',
      PHP_SELF: '/dump.php/foo/bar',
      QUERY_STRING: 'x=1',
      REQUEST_URI: '/dump.php/foo/bar?x=1',
    },
    get: { x: '1' },
  },
  {
    name: 'GET /dump.php/b.php/c: the split is at the first ".php" (case 3)',
    request: { uri: '/dump.php/b.php/c' },
    ran: 'dump.php',
    server: { SCRIPT_NAME: '/dump.php', PATH_INFO: '/b.php/c', REQUEST_URI: '/dump.php/b.php/c' },
  },
  {
    name: 'GET /x.PHP/y: ".php" is matched case-sensitively, so the front controller runs (case 4)',
    request: { uri: '/x.PHP/y' },
    ran: 'index.php',
    server: { SCRIPT_NAME: '/index.php', PATH_INFO: null, REQUEST_URI: '/x.PHP/y' },
  },
  {
    name: 'GET /: the root index runs, REQUEST_URI stays "/" (case 5)',
    request: { uri: '/' },
    ran: 'index.php',
    server: {
      SCRIPT_NAME: '/index.php',
      SCRIPT_FILENAME: `${D}/index.php`,
      REQUEST_URI: '/',
      PATH_INFO: null,
    },
  },
  {
    name: 'GET /sub/: the directory runs its own index (case 6)',
    request: { uri: '/sub/' },
    ran: 'sub/index.php',
    server: { SCRIPT_NAME: '/sub/index.php', SCRIPT_FILENAME: `${D}/sub/index.php`, REQUEST_URI: '/sub/' },
  },
  {
    name: 'GET /sub/?p=2: index with a query (case 7)',
    request: { uri: '/sub/?p=2' },
    ran: 'sub/index.php',
    server: { SCRIPT_NAME: '/sub/index.php', QUERY_STRING: 'p=2', REQUEST_URI: '/sub/?p=2' },
    get: { p: '2' },
  },
  {
    name: 'GET /sub%2Fpage.php: SCRIPT_NAME is decoded, REQUEST_URI stays raw (case 10)',
    request: { uri: '/sub%2Fpage.php' },
    ran: 'sub/page.php',
    server: {
      SCRIPT_NAME: '/sub/page.php',
      SCRIPT_FILENAME: `${D}/sub/page.php`,
      REQUEST_URI: '/sub%2Fpage.php',
    },
  },
  {
    name: 'GET /with%20space.php?a=%20b: the path is decoded, the query is not (case 11)',
    request: { uri: '/with%20space.php?a=%20b' },
    ran: 'with space.php',
    server: {
      SCRIPT_NAME: '/with space.php',
      SCRIPT_FILENAME: `${D}/with space.php`,
      QUERY_STRING: 'a=%20b',
      REQUEST_URI: '/with%20space.php?a=%20b',
    },
    get: { a: ' b' },
  },
  {
    name: 'GET /dump.php?: an empty query after "?" gives QUERY_STRING "" and REQUEST_URI keeps the "?" (case 13)',
    request: { uri: '/dump.php?' },
    ran: 'dump.php',
    server: { QUERY_STRING: '', REQUEST_URI: '/dump.php?' },
  },
  {
    name: 'GET /dump.php?a=&b&=c&a=2: QUERY_STRING byte for byte (case 14)',
    request: { uri: '/dump.php?a=&b&=c&a=2' },
    ran: 'dump.php',
    server: { QUERY_STRING: 'a=&b&=c&a=2', REQUEST_URI: '/dump.php?a=&b&=c&a=2' },
    get: { a: '2', b: '' },
  },
  {
    name: 'GET /no/such/page?x=1: the front controller runs with the original REQUEST_URI and no PATH_INFO',
    request: { uri: '/no/such/page?x=1' },
    ran: 'index.php',
    server: {
      SCRIPT_NAME: '/index.php',
      SCRIPT_FILENAME: `${D}/index.php`,
      DOCUMENT_URI: '/index.php',
      PATH_INFO: null,
      REQUEST_URI: '/no/such/page?x=1',
      QUERY_STRING: 'x=1',
    },
  },
  {
    name: 'GET /missing.php: a script that does not exist runs the front controller',
    request: { uri: '/missing.php' },
    ran: 'index.php',
    server: { SCRIPT_NAME: '/index.php', REQUEST_URI: '/missing.php' },
  },
  {
    name: 'Host example.com:8080: SERVER_NAME without the port, HTTP_HOST as sent, SERVER_PORT the listener (case 16)',
    request: { uri: '/dump.php', headers: ['Host', 'example.com:8080'] },
    ran: 'dump.php',
    server: { SERVER_NAME: 'example.com', SERVER_PORT: '8080' },
    http: { HTTP_HOST: 'example.com:8080' },
  },
  {
    name: 'Host [::1]:8080: SERVER_NAME keeps the brackets (case 16)',
    request: { uri: '/dump.php', headers: ['Host', '[::1]:8080'] },
    ran: 'dump.php',
    server: { SERVER_NAME: '[::1]' },
    http: { HTTP_HOST: '[::1]:8080' },
  },
  {
    name: 'a TLS client: HTTPS=on and REQUEST_SCHEME=https (case 17)',
    request: { uri: '/dump.php', https: true },
    ran: 'dump.php',
    server: { HTTPS: 'on', REQUEST_SCHEME: 'https' },
  },
  {
    name: 'HTTP/2.0 is passed as SERVER_PROTOCOL',
    request: { uri: '/dump.php', protocol: 'HTTP/2.0' },
    ran: 'dump.php',
    server: { SERVER_PROTOCOL: 'HTTP/2.0' },
  },
  {
    name: 'headers named like php-fpm params reach PHP only with the HTTP_ prefix (case 22)',
    request: {
      uri: '/dump.php',
      headers: [
        'Php-Value',
        'display_errors=1',
        'Request-Body-File',
        '/etc/passwd',
        'Script-Filename',
        '/etc/passwd',
      ],
    },
    ran: 'dump.php',
    server: { PHP_VALUE: null, REQUEST_BODY_FILE: null, SCRIPT_FILENAME: `${D}/dump.php` },
    http: {
      HTTP_PHP_VALUE: 'display_errors=1',
      HTTP_REQUEST_BODY_FILE: '/etc/passwd',
      HTTP_SCRIPT_FILENAME: '/etc/passwd',
    },
  },
  {
    name: 'X-Foo-Bar: 1 → HTTP_X_FOO_BAR=1 (case 23)',
    request: { uri: '/dump.php', headers: ['X-Foo-Bar', '1'] },
    ran: 'dump.php',
    server: {},
    http: { HTTP_X_FOO_BAR: '1' },
  },
  {
    name: 'X_Foo and X.Foo are dropped, so only X-Foo makes HTTP_X_FOO (case 24)',
    request: { uri: '/dump.php', headers: ['X_Foo', 'evil', 'X-Foo', 'good', 'X.Foo', 'evil'] },
    ran: 'dump.php',
    server: {},
    http: { HTTP_X_FOO: 'good' },
  },
  {
    name: 'Proxy: never HTTP_PROXY (httpoxy, case 25)',
    request: { uri: '/dump.php', headers: ['Proxy', 'http://evil.example:8080'] },
    ran: 'dump.php',
    server: { HTTP_PROXY: null },
    http: {},
  },
  {
    name: 'Authorization: Basic is passed, with AUTH_TYPE and REMOTE_USER; PHP derives PHP_AUTH_* (case 26)',
    request: { uri: '/dump.php', headers: ['Authorization', basic('alice:s3cret')] },
    ran: 'dump.php',
    server: { AUTH_TYPE: 'Basic', REMOTE_USER: 'alice', PHP_AUTH_USER: 'alice', PHP_AUTH_PW: 's3cret' },
    http: { HTTP_AUTHORIZATION: basic('alice:s3cret') },
  },
  {
    name: 'Authorization: Bearer is passed as it is, with no AUTH_TYPE or REMOTE_USER (case 26)',
    request: { uri: '/dump.php', headers: ['Authorization', 'Bearer abc.def'] },
    ran: 'dump.php',
    server: { AUTH_TYPE: null, REMOTE_USER: null, PHP_AUTH_USER: null },
    http: { HTTP_AUTHORIZATION: 'Bearer abc.def' },
  },
  {
    name: 'hop-by-hop headers and Proxy-Authorization are not passed (case 27)',
    request: {
      uri: '/dump.php',
      headers: [
        'Connection',
        'keep-alive, X-Kept',
        'Keep-Alive',
        'timeout=5',
        'TE',
        'trailers',
        'Trailer',
        'X-T',
        'Upgrade',
        'websocket',
        'Proxy-Authorization',
        'Basic eDp5',
        'X-Kept',
        '1',
      ],
    },
    ran: 'dump.php',
    server: {},
    http: { HTTP_X_KEPT: '1' },
  },
  {
    name: 'Content-Type and Content-Length reach PHP as CONTENT_TYPE and CONTENT_LENGTH only (case 28)',
    request: {
      method: 'POST',
      uri: '/dump.php',
      headers: ['Content-Type', 'application/x-www-form-urlencoded', 'Content-Length', '3'],
      body: 'a=1',
    },
    ran: 'dump.php',
    server: {
      CONTENT_TYPE: 'application/x-www-form-urlencoded',
      CONTENT_LENGTH: '3',
      REQUEST_METHOD: 'POST',
    },
    http: {},
    post: { a: '1' },
  },
  {
    name: 'two Cookie headers are joined with "; " and PHP parses both (case 29)',
    request: { uri: '/dump.php', headers: ['Cookie', 'a=1', 'Cookie', 'b=2'] },
    ran: 'dump.php',
    server: {},
    http: { HTTP_COOKIE: 'a=1; b=2' },
    cookie: { a: '1', b: '2' },
  },
  {
    name: 'two X-A headers are joined with ", " into one param (case 30)',
    request: { uri: '/dump.php', headers: ['X-A', 'v1', 'X-A', 'v2'] },
    ran: 'dump.php',
    server: {},
    http: { HTTP_X_A: 'v1, v2' },
  },
  {
    name: 'a POST with an empty body has CONTENT_LENGTH 0 (case 37)',
    request: { method: 'POST', uri: '/dump.php', body: '' },
    ran: 'dump.php',
    server: { CONTENT_LENGTH: '0', CONTENT_TYPE: null },
  },
  {
    name: 'a GET with a body forwards it (case 36)',
    request: { uri: '/dump.php', body: 'abc' },
    ran: 'dump.php',
    server: { CONTENT_LENGTH: '3', REQUEST_METHOD: 'GET' },
  },
];

describe('Bridge over a real php-fpm', () => {
  let t: TestBridge;
  before(async () => {
    t = await startBridge();
  });
  after(() => t.close());

  describe('what PHP sees in $_SERVER', () => {
    for (const c of SERVER_CASES) {
      test(c.name, async () => {
        const res = await t.request(c.request);
        assert.equal(res.status, 200);
        const dump = res.json();
        assert.equal(dump.ran, join(D, c.ran));
        const sent = t.dispatched.at(-1)!.filter((_, i) => i % 2 === 0);
        for (const [name, value] of Object.entries(c.server)) {
          if (value === null) {
            // Absent from the params too: PHP itself drops some names (HTTP_PROXY), the bridge must not rely on it.
            assert.equal(sent.includes(name), false, `param ${name} is not sent`);
            assert.equal(name in dump.server, false, `$_SERVER['${name}'] is not set`);
          } else {
            assert.equal(dump.server[name], value, `$_SERVER['${name}']`);
          }
        }
        if (c.http !== undefined) assert.deepEqual(httpKeys(dump.server), c.http);
        if (c.get !== undefined) assert.deepEqual(dump.get, c.get);
        if (c.post !== undefined) assert.deepEqual(dump.post, c.post);
        if (c.cookie !== undefined) assert.deepEqual(dump.cookie, c.cookie);
      });
    }

    test('a client Php-Value or Php-Admin-Value header does not change any ini setting', async () => {
      const res = await t.request({
        uri: '/dump.php',
        headers: ['Php-Value', `auto_prepend_file=${D}/hello.txt`, 'Php-Admin-Value', 'display_errors=1'],
      });
      const dump = res.json();
      assert.deepEqual(dump.ini, { auto_prepend_file: '', display_errors: '' });
      assert.equal(dump.server.HTTP_PHP_VALUE, `auto_prepend_file=${D}/hello.txt`);
      assert.equal(dump.server.HTTP_PHP_ADMIN_VALUE, 'display_errors=1');
      assert.equal('PHP_VALUE' in dump.server, false);
      assert.equal('PHP_ADMIN_VALUE' in dump.server, false);
    });

    test('the params sent for a bodiless GET have no CONTENT_LENGTH and no CONTENT_TYPE', async () => {
      await t.request({ uri: '/dump.php', headers: ['Host', 'a.example'] });
      const params = t.dispatched.at(-1)!;
      const names = params.filter((_, i) => i % 2 === 0);
      assert.equal(names.includes('CONTENT_LENGTH'), false);
      assert.equal(names.includes('CONTENT_TYPE'), false);
      assert.equal(new Set(names).size, names.length, 'no param name is sent twice');
    });
  });

  describe('request bodies', () => {
    test('a form POST fills $_POST, nested fields included', async () => {
      const body = 'a=1&b=two+words&c%5B%5D=x&c%5B%5D=y&d%5Bk%5D=v';
      const res = await t.request({
        method: 'POST',
        uri: '/dump.php',
        headers: ['Content-Type', 'application/x-www-form-urlencoded'],
        body,
      });
      const dump = res.json();
      assert.deepEqual(dump.post, { a: '1', b: 'two words', c: ['x', 'y'], d: { k: 'v' } });
      assert.deepEqual(dump.input, { length: body.length, md5: md5(body) });
    });

    test('a multipart upload fills $_FILES with the right name, size and md5, and $_POST with the fields', async () => {
      const boundary = 'fpm-bridge-boundary-7MA4YWxk';
      const file = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7 + 3) % 256));
      const body = Buffer.concat([
        Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nholiday\r\n`),
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="photo"; filename="photo.bin"\r\n` +
            'Content-Type: application/octet-stream\r\n\r\n',
        ),
        file,
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ]);
      const res = await t.request({
        method: 'POST',
        uri: '/dump.php',
        headers: ['Content-Type', `multipart/form-data; boundary=${boundary}`],
        body,
      });
      const dump = res.json();
      assert.deepEqual(dump.post, { title: 'holiday' });
      assert.deepEqual(dump.files, {
        photo: { name: 'photo.bin', type: 'application/octet-stream', size: 3000, error: 0, md5: md5(file) },
      });
    });

    test('a 200 KiB body arrives whole: php://input has its length and md5 (case 35)', async () => {
      const body = Buffer.from(Array.from({ length: 200 * 1024 }, (_, i) => (i * 31 + (i >> 8)) % 256));
      const res = await t.request({
        method: 'PUT',
        uri: '/dump.php',
        headers: ['Content-Type', 'application/octet-stream'],
        body,
      });
      const dump = res.json();
      assert.equal(dump.server.CONTENT_LENGTH, '204800');
      assert.deepEqual(dump.input, { length: 204800, md5: md5(body) });
    });
  });

  describe('responses', () => {
    test('http_response_code(418) gives 418 with the reason PHP sends', async () => {
      const res = await t.request({ uri: '/status.php?code=418' });
      assert.equal(res.status, 418);
      assert.equal(res.statusText, "I'm a Teapot");
      assert.equal(res.body.toString(), 'status set');
    });

    test("header('Status: 299 Custom') sets code and reason; the Status header itself is not passed on", async () => {
      const res = await t.request({ uri: '/status.php?header=299%20Custom' });
      assert.equal(res.status, 299);
      assert.equal(res.statusText, 'Custom');
      assert.deepEqual(res.headerValues('Status'), []);
    });

    test("header('Status: 404') without reason gives 404 Not Found", async () => {
      const res = await t.request({ uri: '/status.php?header=404' });
      assert.equal(res.status, 404);
      assert.equal(res.statusText, 'Not Found');
    });

    test("header('Location: /login') without a status gives 302 Found", async () => {
      const res = await t.request({ uri: '/redirect.php' });
      assert.equal(res.status, 302);
      assert.equal(res.statusText, 'Found');
      assert.deepEqual(res.headerValues('Location'), ['/login']);
    });

    test("header('Location: /moved', true, 301) keeps the explicit 301", async () => {
      const res = await t.request({ uri: '/redirect.php?status=301' });
      assert.equal(res.status, 301);
      assert.equal(res.statusText, 'Moved Permanently');
      assert.deepEqual(res.headerValues('Location'), ['/moved']);
    });

    test('several Set-Cookie headers arrive as separate headers, in order (case 45)', async () => {
      const res = await t.request({ uri: '/headers.php' });
      assert.deepEqual(res.headerValues('Set-Cookie'), [
        'first=1',
        'second=two%20words; path=/sub; HttpOnly',
        'third=3; Secure',
      ]);
      assert.deepEqual(res.headerValues('X-Multi'), ['a', 'b']);
      assert.deepEqual(res.headerValues('X-Custom'), ['one']);
    });

    test('a binary response arrives byte for byte (case 47)', async () => {
      const res = await t.request({ uri: '/binary.php' });
      assert.deepEqual(res.headerValues('Content-Type'), ['image/png']);
      assert.deepEqual(res.body, readFileSync(join(D, 'pixel.png')));
    });

    test('a HEAD request gets the headers and no body (PHP writes none)', async () => {
      const res = await t.request({ method: 'HEAD', uri: '/dump.php' });
      assert.equal(res.status, 200);
      assert.deepEqual(res.headerValues('Content-Type'), ['application/json']);
      assert.equal(res.body.length, 0);
    });

    test('a 10 MiB response streamed with flush() arrives complete through bridge.stream', async () => {
      const res = await t.stream({ uri: '/stream.php?mb=10' });
      assert.equal(res.status, 200);
      const expected = createHash('md5');
      for (let i = 0; i < 160; i++) expected.update(Buffer.alloc(65536, 65 + (i % 26)));
      const hash = createHash('md5');
      let length = 0;
      let chunks = 0;
      for await (const chunk of res.body) {
        hash.update(chunk as Buffer);
        length += (chunk as Buffer).length;
        chunks++;
      }
      assert.equal(length, 10 * 1024 * 1024);
      assert.equal(hash.digest('hex'), expected.digest('hex'));
      assert.ok(chunks > 1, `the body streamed in ${chunks} chunk(s)`);
      assert.equal(res.appStatus, 0);
    });

    test('bridge.stream delivers a small body and its headers too', async () => {
      const res = await t.stream({ uri: '/status.php?code=201' });
      assert.equal(res.status, 201);
      assert.equal((await readAll(res.body)).toString(), 'status set');
    });
  });

  describe('PHP errors and stderr', () => {
    test('stderr goes to the log with the request id and never into the body or headers (case 46)', async () => {
      const res = await t.request({ uri: '/stderr.php' });
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'body only');
      assert.deepEqual(res.headers, ['Content-type', 'text/html; charset=UTF-8']);
      // error_log() arrives as a FastCGI STDERR record of this request.
      const own = t.log.filter((e) => e.fields.requestId === res.requestId);
      assert.deepEqual(
        own.map((e) => [e.level, e.fields.source, e.msg]),
        [['warn', 'php', 'PHP message: stderr.php: via error_log']],
      );
      // php://stderr is the worker's own stderr: php-fpm's master relays it to the log, without a request id.
      await waitFor(
        () => t.log.some((e) => e.msg === 'stderr.php: via php://stderr' && e.fields.source === 'php'),
        'the php://stderr line in the log',
      );
    });

    test('a fatal error answers 500 with only what was echoed before; the message is logged (case 49)', async () => {
      const res = await t.request({ uri: '/fatal.php' });
      assert.equal(res.status, 500);
      assert.equal(res.body.toString(), 'before fatal');
      const own = t.log.filter((e) => e.fields.requestId === res.requestId).map((e) => e.msg);
      assert.ok(
        own.includes(
          'PHP message: PHP Fatal error:  Uncaught Error: Call to undefined function this_function_does_not_exist() in ' +
            `${D}/fatal.php:4`,
        ),
        JSON.stringify(own),
      );
    });

    test('a script that exits with a code still answers; php-fpm reports appStatus 0 whatever the code', async () => {
      const res = await t.request({ uri: '/exit.php?code=3' });
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'before exit');
      assert.equal(res.appStatus, 0);
    });
  });

  describe('requests refused before php-fpm', () => {
    const refused: [
      what: string,
      uri: string,
      error: typeof BadRequestError | typeof NotFoundError,
      status: number,
    ][] = [
      ['%0a in the path (CVE-2019-11043, case 8)', '/dump.php/%0Afoo', BadRequestError, 400],
      ['%00 in the path (case 9)', '/dump.php%00.jpg', BadRequestError, 400],
      ['/../ climbing out of the docroot (case 12)', '/../../etc/passwd.php', NotFoundError, 404],
      ['an encoded /../ (case 12)', '/%2e%2e/dump.php', NotFoundError, 404],
      ['x.PHP, neither run nor served', '/x.PHP', NotFoundError, 404],
      ['a dotfile', '/.env', NotFoundError, 404],
    ];
    for (const [what, uri, error, status] of refused) {
      test(`${what}: ${uri} → ${error.name} (${status}), php-fpm not asked`, async () => {
        const sentBefore = t.dispatched.length;
        await assert.rejects(t.request({ uri }), error);
        await assert.rejects(t.request({ uri }), { statusCode: status });
        assert.equal(t.dispatched.length, sentBefore);
      });
    }

    test('/sub (a directory with an index) is a redirect route to /sub/ with the query kept', async () => {
      const sentBefore = t.dispatched.length;
      const res = await t.request({ uri: '/sub?p=2' });
      assert.deepEqual(res.route, { kind: 'redirect', location: '/sub/?p=2' });
      assert.equal(t.dispatched.length, sentBefore);
    });

    test('a static file is a static route, served byte for byte without php-fpm', async () => {
      const sentBefore = t.dispatched.length;
      const text = await t.request({ uri: '/hello.txt' });
      assert.equal(text.route.kind, 'static');
      assert.equal(text.body.toString(), 'hello from a static file\n');
      const png = await t.request({ uri: '/pixel.png' });
      assert.deepEqual(png.body, readFileSync(join(D, 'pixel.png')));
      assert.equal(t.dispatched.length, sentBefore);
    });
  });

  describe('timeouts', () => {
    test('a script that outlives the timeout ends in TimeoutError (504)', async () => {
      await assert.rejects(t.request({ uri: '/sleep.php?s=2', timeout: 200 }), TimeoutError);
    });

    test('after a timeout the next request is served', async () => {
      const res = await t.request({ uri: '/status.php?code=200' });
      assert.equal(res.body.toString(), 'status set');
    });
  });
});

describe('Bridge with frontControllerOnly', () => {
  let t: TestBridge;
  before(async () => {
    t = await startBridge({ overrides: { frontControllerOnly: true, workers: 1 } });
  });
  after(() => t.close());

  test('/upload/evil.php runs index.php, never evil.php', async () => {
    const res = await t.request({ uri: '/upload/evil.php' });
    const dump = res.json();
    assert.equal(dump.ran, join(D, 'index.php'));
    assert.equal(dump.server.SCRIPT_NAME, '/index.php');
    assert.equal(dump.server.SCRIPT_FILENAME, `${D}/index.php`);
    assert.equal(dump.server.REQUEST_URI, '/upload/evil.php');
    assert.equal('PATH_INFO' in dump.server, false);
  });

  test('static files and x.PHP run the front controller too', async () => {
    for (const uri of ['/hello.txt', '/x.PHP', '/dump.php/x']) {
      const res = await t.request({ uri });
      assert.equal(res.json().ran, join(D, 'index.php'), uri);
    }
  });
});

describe('Bridge with frontController: false', () => {
  let t: TestBridge;
  before(async () => {
    t = await startBridge({ overrides: { frontController: false, workers: 1 } });
  });
  after(() => t.close());

  test('an unknown path is a NotFoundError and php-fpm is not asked', async () => {
    await assert.rejects(t.request({ uri: '/no/such/page' }), NotFoundError);
    await assert.rejects(t.request({ uri: '/missing.php' }), NotFoundError);
    assert.equal(t.dispatched.length, 0);
  });

  test('existing scripts still run', async () => {
    const res = await t.request({ uri: '/dump.php/x' });
    assert.equal(res.json().server.PATH_INFO, '/x');
  });
});

describe('Bridge with setParams, hideHeaders and logStderr: ignore', () => {
  let t: TestBridge;
  before(async () => {
    t = await startBridge({
      overrides: {
        workers: 1,
        setParams: {
          APP_ENV: 'test',
          SERVER_NAME: 'canonical.example',
          TENANT: '%[req.hdr(X-Tenant)]',
          CLIENT: '%[src]:%[src_port]',
          ROUTE: '%[method] %[path] %[query] %[url]',
          REMOTE_ADDR: '%[req.hdr(X-Real-IP)]',
          PHP_VALUE: 'display_errors=1',
        },
        hideHeaders: ['Authorization'],
        logStderr: 'ignore',
      },
    });
  });
  after(() => t.close());

  test('set-params add params, override defaults and fill placeholders from the request (case 18)', async () => {
    const res = await t.request({
      method: 'POST',
      uri: '/dump.php/a%20b?q=%20',
      headers: ['Host', 'example.com', 'X-Tenant', 'acme', 'X-Real-IP', '198.51.100.9'],
      body: '',
    });
    const { server } = res.json();
    assert.equal(server.APP_ENV, 'test');
    assert.equal(server.SERVER_NAME, 'canonical.example');
    assert.equal(server.HTTP_HOST, 'example.com');
    assert.equal(server.TENANT, 'acme');
    assert.equal(server.CLIENT, '203.0.113.7:54321');
    assert.equal(server.ROUTE, 'POST /dump.php/a%20b q=%20 /dump.php/a%20b?q=%20');
    assert.equal(server.REMOTE_ADDR, '198.51.100.9');
    const names = t.dispatched.at(-1)!.filter((_, i) => i % 2 === 0);
    assert.equal(names.filter((n) => n === 'SERVER_NAME').length, 1);
    assert.equal(names.filter((n) => n === 'REMOTE_ADDR').length, 1);
  });

  test('a placeholder that comes out empty keeps the default, and a new param is not set (case 19)', async () => {
    const { server } = (await t.request({ uri: '/dump.php' })).json();
    assert.equal(server.REMOTE_ADDR, '203.0.113.7');
    assert.equal('TENANT' in server, false);
  });

  test('PHP_VALUE from the config does change ini (the control for the client header test)', async () => {
    const { ini } = (await t.request({ uri: '/dump.php' })).json();
    assert.equal(ini.display_errors, '1');
  });

  test('hideHeaders hides Authorization: no HTTP_AUTHORIZATION, AUTH_TYPE, REMOTE_USER or PHP_AUTH_USER', async () => {
    const { server } = (
      await t.request({ uri: '/dump.php', headers: ['Authorization', basic('alice:pw')] })
    ).json();
    for (const name of ['HTTP_AUTHORIZATION', 'AUTH_TYPE', 'REMOTE_USER', 'PHP_AUTH_USER', 'PHP_AUTH_PW']) {
      assert.equal(name in server, false, name);
    }
  });

  test('logStderr: ignore drops the STDERR records; the body is unchanged', async () => {
    const res = await t.request({ uri: '/stderr.php' });
    assert.equal(res.body.toString(), 'body only');
    assert.deepEqual(
      t.log.filter((e) => e.fields.requestId === res.requestId),
      [],
    );
  });
});
