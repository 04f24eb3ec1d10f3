import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compileSetParam, hostName, ParamsBuilder, type ParamsOptions } from '../../../proxy/cgi/params.ts';
import type { ProxyRequest } from '../../../proxy/cgi/request.ts';
import type { Route } from '../../../proxy/cgi/route.ts';
import { ConfigError } from '../../../proxy/errors.ts';

const DOCROOT = '/var/task/public';

function builder(options: Partial<ParamsOptions> = {}): ParamsBuilder {
  return new ParamsBuilder({
    docroot: DOCROOT,
    serverSoftware: 'fpm-bridge/test',
    setParams: [],
    passHeaders: [],
    hideHeaders: [],
    ...options,
  });
}

function request(overrides: Partial<ProxyRequest> = {}): ProxyRequest {
  return {
    method: 'GET',
    uri: '/index.php',
    path: '/index.php',
    query: '',
    headers: [],
    protocol: 'HTTP/1.1',
    https: false,
    remoteAddress: '203.0.113.7',
    remotePort: 54321,
    serverAddress: '10.0.0.1',
    serverPort: 8080,
    contentLength: null,
    ...overrides,
  };
}

type ScriptRoute = Extract<Route, { kind: 'script' }>;
const INDEX: ScriptRoute = { kind: 'script', scriptName: '/index.php', pathInfo: '' };

/** The flat list as name → value; fails if a name repeats (php-fpm would keep only the last). */
function toMap(params: readonly string[]): Map<string, string> {
  assert.equal(params.length % 2, 0, 'params come in name, value pairs');
  const map = new Map<string, string>();
  for (let i = 0; i < params.length; i += 2) {
    assert.ok(!map.has(params[i]!), `param ${params[i]} is sent twice`);
    map.set(params[i]!, params[i + 1]!);
  }
  return map;
}

function build(
  req: Partial<ProxyRequest>,
  options: Partial<ParamsOptions> = {},
  route: ScriptRoute = INDEX,
): Map<string, string> {
  return toMap(builder(options).build(request(req), route));
}

/** The HTTP_* params only. */
function httpParams(params: Map<string, string>): Record<string, string> {
  return Object.fromEntries([...params].filter(([name]) => name.startsWith('HTTP_')));
}

describe('ParamsBuilder: the whole list', () => {
  test('GET /index.php with only a Host header gives exactly these params, in this order', () => {
    const params = builder().build(request({ headers: ['Host', 'example.com'] }), INDEX);
    assert.deepEqual(
      params,
      [
        ['GATEWAY_INTERFACE', 'CGI/1.1'],
        ['SERVER_SOFTWARE', 'fpm-bridge/test'],
        ['REQUEST_METHOD', 'GET'],
        ['REQUEST_URI', '/index.php'],
        ['QUERY_STRING', ''],
        ['DOCUMENT_ROOT', '/var/task/public'],
        ['DOCUMENT_URI', '/index.php'],
        ['SCRIPT_NAME', '/index.php'],
        ['SCRIPT_FILENAME', '/var/task/public/index.php'],
        ['SERVER_PROTOCOL', 'HTTP/1.1'],
        ['REQUEST_SCHEME', 'http'],
        ['SERVER_PORT', '8080'],
        ['REMOTE_ADDR', '203.0.113.7'],
        ['REDIRECT_STATUS', '200'],
        ['SERVER_ADDR', '10.0.0.1'],
        ['REMOTE_PORT', '54321'],
        ['HTTP_HOST', 'example.com'],
        ['SERVER_NAME', 'example.com'],
      ].flat(),
    );
  });

  test('a TLS POST with path info, a body, headers and set-params gives exactly these params', () => {
    const params = builder({ setParams: [{ name: 'APP_ENV', value: 'prod' }] }).build(
      request({
        method: 'POST',
        uri: '/info.php/foo%20bar?x=1&y=%20',
        path: '/info.php/foo%20bar',
        query: 'x=1&y=%20',
        headers: [
          'Host',
          'example.com:8443',
          'Content-Type',
          'application/x-www-form-urlencoded',
          'Content-Length',
          '5',
          'X-Request-Id',
          'abc',
          'Cookie',
          'a=1',
          'Cookie',
          'b=2',
        ],
        protocol: 'HTTP/2.0',
        https: true,
        serverPort: 8443,
        contentLength: 5,
        extraParams: ['LAMBDA_REQUEST_CONTEXT', '{}'],
      }),
      { kind: 'script', scriptName: '/info.php', pathInfo: '/foo bar' },
    );
    assert.deepEqual(
      params,
      [
        ['GATEWAY_INTERFACE', 'CGI/1.1'],
        ['SERVER_SOFTWARE', 'fpm-bridge/test'],
        ['REQUEST_METHOD', 'POST'],
        ['REQUEST_URI', '/info.php/foo%20bar?x=1&y=%20'],
        ['QUERY_STRING', 'x=1&y=%20'],
        ['DOCUMENT_ROOT', '/var/task/public'],
        ['DOCUMENT_URI', '/info.php/foo bar'],
        ['SCRIPT_NAME', '/info.php'],
        ['SCRIPT_FILENAME', '/var/task/public/info.php'],
        ['SERVER_PROTOCOL', 'HTTP/2.0'],
        ['REQUEST_SCHEME', 'https'],
        ['SERVER_PORT', '8443'],
        ['REMOTE_ADDR', '203.0.113.7'],
        ['REDIRECT_STATUS', '200'],
        ['SERVER_ADDR', '10.0.0.1'],
        ['REMOTE_PORT', '54321'],
        ['PATH_INFO', '/foo bar'],
        ['PATH_TRANSLATED', '/var/task/public/foo bar'],
        ['HTTPS', 'on'],
        ['CONTENT_LENGTH', '5'],
        ['HTTP_HOST', 'example.com:8443'],
        ['CONTENT_TYPE', 'application/x-www-form-urlencoded'],
        ['HTTP_X_REQUEST_ID', 'abc'],
        ['HTTP_COOKIE', 'a=1; b=2'],
        ['SERVER_NAME', 'example.com'],
        ['LAMBDA_REQUEST_CONTEXT', '{}'],
        ['APP_ENV', 'prod'],
      ].flat(),
    );
  });

  test('an unknown server address and remote port (Lambda) are left out rather than invented', () => {
    const params = toMap(builder().build(request({ serverAddress: '', remotePort: null }), INDEX));
    assert.equal(params.has('SERVER_ADDR'), false);
    assert.equal(params.has('REMOTE_PORT'), false);
    assert.equal(params.get('REMOTE_ADDR'), '203.0.113.7');
  });

  test('with docroot "/" the file names have no doubled slash', () => {
    const params = build(
      { uri: '/app.php/x', path: '/app.php/x' },
      {},
      { kind: 'script', scriptName: '/app.php', pathInfo: '/x' },
    );
    const root = toMap(
      builder({ docroot: '/' }).build(request({ uri: '/app.php/x', path: '/app.php/x' }), {
        kind: 'script',
        scriptName: '/app.php',
        pathInfo: '/x',
      }),
    );
    assert.equal(params.get('SCRIPT_FILENAME'), '/var/task/public/app.php');
    assert.equal(root.get('DOCUMENT_ROOT'), '/');
    assert.equal(root.get('SCRIPT_FILENAME'), '/app.php');
    assert.equal(root.get('PATH_TRANSLATED'), '/x');
  });
});

describe('ParamsBuilder: request values', () => {
  test('QUERY_STRING is always sent, empty when the target has no query', () => {
    assert.equal(build({}).get('QUERY_STRING'), '');
    assert.equal(build({ uri: '/index.php?', query: '' }).get('QUERY_STRING'), '');
  });

  test('REQUEST_URI and QUERY_STRING are passed byte for byte, never decoded or reordered', () => {
    const p = build({
      uri: '/a%2Fb.php?a=&b&=c&a=2&sp=%20+',
      path: '/a%2Fb.php',
      query: 'a=&b&=c&a=2&sp=%20+',
    });
    assert.equal(p.get('REQUEST_URI'), '/a%2Fb.php?a=&b&=c&a=2&sp=%20+');
    assert.equal(p.get('QUERY_STRING'), 'a=&b&=c&a=2&sp=%20+');
  });

  test('no PATH_INFO or PATH_TRANSLATED when the route has no path info', () => {
    const p = build({});
    assert.equal(p.has('PATH_INFO'), false);
    assert.equal(p.has('PATH_TRANSLATED'), false);
  });

  test('HTTPS=on only when the client used TLS; never HTTPS=off', () => {
    assert.equal(build({ https: true }).get('HTTPS'), 'on');
    assert.equal(build({ https: true }).get('REQUEST_SCHEME'), 'https');
    assert.equal(build({ https: false }).has('HTTPS'), false);
    assert.equal(build({ https: false }).get('REQUEST_SCHEME'), 'http');
  });

  test('CONTENT_LENGTH comes from the request body length: absent without a body, "0" for an empty one', () => {
    assert.equal(build({ contentLength: null }).has('CONTENT_LENGTH'), false);
    assert.equal(build({ method: 'POST', contentLength: 0 }).get('CONTENT_LENGTH'), '0');
    assert.equal(build({ method: 'POST', contentLength: 204800 }).get('CONTENT_LENGTH'), '204800');
  });

  test('a Content-Length header alone makes no CONTENT_LENGTH: the front states the body length', () => {
    const p = build({ headers: ['Content-Length', '5'], contentLength: null });
    assert.equal(p.has('CONTENT_LENGTH'), false);
    assert.equal(p.has('HTTP_CONTENT_LENGTH'), false);
  });

  test('a bodiless GET has neither CONTENT_LENGTH nor CONTENT_TYPE', () => {
    const p = build({ headers: ['Host', 'a', 'Accept', '*/*'] });
    assert.equal(p.has('CONTENT_LENGTH'), false);
    assert.equal(p.has('CONTENT_TYPE'), false);
  });

  test('REMOTE_ADDR and SERVER_ADDR carry IPv6 addresses without brackets', () => {
    const p = build({ remoteAddress: '2001:db8::7', serverAddress: '::1' });
    assert.equal(p.get('REMOTE_ADDR'), '2001:db8::7');
    assert.equal(p.get('SERVER_ADDR'), '::1');
    assert.equal(p.get('SERVER_NAME'), '::1');
  });
});

describe('ParamsBuilder: SERVER_NAME', () => {
  const cases: [host: string | null, serverName: string][] = [
    ['example.com', 'example.com'],
    ['example.com:8080', 'example.com'],
    ['[::1]:8080', '[::1]'],
    ['[::1]', '[::1]'],
    ['[2001:db8::1]:443', '[2001:db8::1]'],
    [null, '10.0.0.1'],
    ['', '10.0.0.1'],
  ];
  for (const [host, serverName] of cases) {
    test(`Host ${host === null ? '(none)' : JSON.stringify(host)} → SERVER_NAME ${JSON.stringify(serverName)}, HTTP_HOST unchanged`, () => {
      const p = build({ headers: host === null ? [] : ['Host', host] });
      assert.equal(p.get('SERVER_NAME'), serverName);
      assert.equal(p.get('HTTP_HOST'), host ?? undefined);
    });
  }

  test('a second Host header is a BadRequestError (400) saying so', () => {
    assert.throws(() => build({ headers: ['Host', 'app.example', 'host', 'evil.example'] }), {
      name: 'BadRequestError',
      code: 'FPM_BRIDGE_ERR_BAD_REQUEST',
      statusCode: 400,
      message: 'the request has more than one Host header; HTTP/1.1 allows one (RFC 9112 §3.2)',
    });
  });

  for (const host of ['evil.example/../admin', 'a\\b', 'a..b', 'a b']) {
    test(`Host ${JSON.stringify(host)} is a BadRequestError (400) naming it`, () => {
      assert.throws(() => build({ headers: ['Host', host] }), {
        name: 'BadRequestError',
        statusCode: 400,
        message: `Host header "${host}" is not a host name: "/", "\\", "..", spaces and control characters are refused`,
      });
    });
  }

  test('SERVER_PORT is the listener port, whatever the Host header says', () => {
    assert.equal(build({ headers: ['Host', 'example.com:9999'] }).get('SERVER_PORT'), '8080');
  });

  test('hostName strips the port and keeps IPv6 brackets', () => {
    assert.equal(hostName('a.example:1'), 'a.example');
    assert.equal(hostName('[fe80::1]:80'), '[fe80::1]');
    assert.equal(hostName('[broken'), '[broken');
  });
});

describe('ParamsBuilder: headers', () => {
  test('a header becomes HTTP_ + its name upper-cased with "-" as "_"', () => {
    const p = build({ headers: ['X-Foo-Bar', '1', 'x-lower-case', 'two', 'ACCEPT', 'text/html'] });
    assert.deepEqual(httpParams(p), {
      HTTP_X_FOO_BAR: '1',
      HTTP_X_LOWER_CASE: 'two',
      HTTP_ACCEPT: 'text/html',
    });
  });

  test('header names with "_", ".", spaces or non-ASCII are dropped, so X_Foo cannot pose as X-Foo', () => {
    const p = build({
      headers: [
        'X_Foo',
        'evil',
        'X-Foo',
        'good',
        'X.Foo',
        'evil',
        'X Foo',
        'evil',
        'X-Fö',
        'evil',
        'X-Foo:',
        'evil',
      ],
    });
    assert.deepEqual(httpParams(p), { HTTP_X_FOO: 'good' });
  });

  test('repeated headers become one param joined with ", "; names are matched case-insensitively', () => {
    const p = build({ headers: ['X-A', 'v1', 'x-a', 'v2', 'X-A', 'v3'] });
    assert.deepEqual(httpParams(p), { HTTP_X_A: 'v1, v2, v3' });
  });

  test('repeated Cookie headers are joined with "; " (what PHP parses), not ", "', () => {
    const p = build({ headers: ['Cookie', 'a=1', 'cookie', 'b=2; c=3'] });
    assert.equal(p.get('HTTP_COOKIE'), 'a=1; b=2; c=3');
  });

  test('Content-Type becomes CONTENT_TYPE only; Content-Length never becomes a header param', () => {
    const p = build({
      method: 'POST',
      headers: ['content-type', 'text/plain', 'Content-Length', '3'],
      contentLength: 3,
    });
    assert.equal(p.get('CONTENT_TYPE'), 'text/plain');
    assert.equal(p.get('CONTENT_LENGTH'), '3');
    assert.deepEqual(httpParams(p), {});
  });

  test('Proxy never becomes HTTP_PROXY (httpoxy), not even when listed in passHeaders', () => {
    assert.equal(build({ headers: ['Proxy', 'http://evil:8080'] }).has('HTTP_PROXY'), false);
    assert.equal(
      build({ headers: ['PROXY', 'http://evil:8080'] }, { passHeaders: ['proxy'] }).has('HTTP_PROXY'),
      false,
    );
  });

  test('passHeaders cannot bring Content-Type or Content-Length back as HTTP_*', () => {
    const p = build(
      { headers: ['Content-Type', 'a/b', 'Content-Length', '0'], contentLength: 0 },
      { passHeaders: ['Content-Type', 'Content-Length'] },
    );
    assert.deepEqual(httpParams(p), {});
  });

  const hopByHop = [
    'Connection',
    'Keep-Alive',
    'Proxy-Authorization',
    'Proxy-Authenticate',
    'TE',
    'Trailer',
    'Trailers',
    'Transfer-Encoding',
    'Upgrade',
    'HTTP2-Settings',
  ];
  test(`hop-by-hop headers are not passed: ${hopByHop.join(', ')}`, () => {
    const headers = hopByHop.flatMap((name) => [name, 'x']);
    assert.deepEqual(httpParams(build({ headers: [...headers, 'X-Kept', '1'] })), { HTTP_X_KEPT: '1' });
  });

  test('passHeaders passes a hidden header anyway, matched case-insensitively', () => {
    const p = build(
      { headers: ['Proxy-Authorization', 'Basic eA=='] },
      { passHeaders: ['PROXY-AUTHORIZATION'] },
    );
    assert.deepEqual(httpParams(p), { HTTP_PROXY_AUTHORIZATION: 'Basic eA==' });
  });

  test('client headers named like php-fpm params only ever arrive with the HTTP_ prefix', () => {
    const p = build({
      headers: [
        'Php-Value',
        'auto_prepend_file=/etc/passwd',
        'PHP-Admin-Value',
        'disable_functions=',
        'Request-Body-File',
        '/etc/passwd',
        'Script-Filename',
        '/etc/passwd',
        'Https',
        'on',
      ],
    });
    assert.deepEqual(httpParams(p), {
      HTTP_PHP_VALUE: 'auto_prepend_file=/etc/passwd',
      HTTP_PHP_ADMIN_VALUE: 'disable_functions=',
      HTTP_REQUEST_BODY_FILE: '/etc/passwd',
      HTTP_SCRIPT_FILENAME: '/etc/passwd',
      HTTP_HTTPS: 'on',
    });
    for (const name of ['PHP_VALUE', 'PHP_ADMIN_VALUE', 'REQUEST_BODY_FILE', 'HTTPS'])
      assert.equal(p.has(name), false);
    assert.equal(p.get('SCRIPT_FILENAME'), '/var/task/public/index.php');
  });
});

describe('ParamsBuilder: Authorization', () => {
  const basic = (credentials: string) => `Basic ${Buffer.from(credentials).toString('base64')}`;

  test('Basic credentials are passed as HTTP_AUTHORIZATION plus AUTH_TYPE and REMOTE_USER', () => {
    const p = build({ headers: ['Authorization', basic('alice:s3cr:et')] });
    assert.equal(p.get('HTTP_AUTHORIZATION'), 'Basic YWxpY2U6czNjcjpldA==');
    assert.equal(p.get('AUTH_TYPE'), 'Basic');
    assert.equal(p.get('REMOTE_USER'), 'alice');
  });

  test('the scheme name is case-insensitive', () => {
    assert.equal(
      build({ headers: ['authorization', `basic ${Buffer.from('bob:pw').toString('base64')}`] }).get(
        'REMOTE_USER',
      ),
      'bob',
    );
  });

  test('other schemes and Basic without a colon pass the header only', () => {
    for (const value of ['Bearer abc.def', basic('no-colon'), 'Basic']) {
      const p = build({ headers: ['Authorization', value] });
      assert.equal(p.get('HTTP_AUTHORIZATION'), value);
      assert.equal(p.has('AUTH_TYPE'), false);
      assert.equal(p.has('REMOTE_USER'), false);
    }
  });

  test('two Authorization headers are a 400: PHP_AUTH_USER and REMOTE_USER would name different users', () => {
    assert.throws(
      () => build({ headers: ['Authorization', basic('admin:x'), 'Authorization', basic('guest:y')] }),
      { name: 'BadRequestError', message: 'the request has more than one Authorization header' },
    );
  });

  test('hideHeaders can hide it, and then no AUTH_TYPE or REMOTE_USER is derived either', () => {
    const p = build({ headers: ['Authorization', basic('alice:pw')] }, { hideHeaders: ['AUTHORIZATION'] });
    assert.equal(p.has('HTTP_AUTHORIZATION'), false);
    assert.equal(p.has('AUTH_TYPE'), false);
    assert.equal(p.has('REMOTE_USER'), false);
  });
});

describe('ParamsBuilder: setParams', () => {
  const hdr = (name: string, value: string) => ({ name, value });

  test('a new param is appended after everything else', () => {
    const params = builder({ setParams: [hdr('APP_ENV', 'production')] }).build(request(), INDEX);
    assert.deepEqual(params.slice(-2), ['APP_ENV', 'production']);
  });

  test('a param that exists is overridden in place and sent once', () => {
    const params = builder({
      setParams: [hdr('SERVER_NAME', 'canonical.example'), hdr('SCRIPT_NAME', '/app.php')],
    }).build(request({ headers: ['Host', 'example.com'] }), INDEX);
    const p = toMap(params);
    assert.equal(p.get('SERVER_NAME'), 'canonical.example');
    assert.equal(p.get('SCRIPT_NAME'), '/app.php');
    assert.equal(params.indexOf('SCRIPT_NAME'), 14);
  });

  test('setParams override params a front added (extraParams)', () => {
    const p = build({ extraParams: ['STAGE', 'front'] }, { setParams: [hdr('STAGE', 'config')] });
    assert.equal(p.get('STAGE'), 'config');
  });

  test('placeholders take request values: req.hdr(Name), src, src_port, method, path, query, url', () => {
    const p = build(
      {
        method: 'PUT',
        uri: '/a%20b.php?x=%20',
        path: '/a%20b.php',
        query: 'x=%20',
        headers: ['x-tenant', 'acme', 'X-Tenant', 'second'],
      },
      {
        setParams: [
          hdr('TENANT', 'tenant-%[req.hdr(X-Tenant)]'),
          hdr('CLIENT', '%[src]:%[src_port]'),
          hdr('ROUTE', '%[method] %[path] %[query] %[url]'),
        ],
      },
    );
    // req.hdr takes the first of repeated headers, matched case-insensitively.
    assert.equal(p.get('TENANT'), 'tenant-acme');
    assert.equal(p.get('CLIENT'), '203.0.113.7:54321');
    assert.equal(p.get('ROUTE'), 'PUT /a%20b.php x=%20 /a%20b.php?x=%20');
  });

  test('control characters are stripped from req.hdr values', () => {
    const p = build(
      { headers: ['X-Tenant', 'ac\u0001me\u007f'] },
      { setParams: [hdr('TENANT', '%[req.hdr(X-Tenant)]')] },
    );
    assert.equal(p.get('TENANT'), 'acme');
  });

  test('a rule whose value comes out empty is ignored: the default stays, a new param is not sent', () => {
    const options = {
      setParams: [hdr('REMOTE_ADDR', '%[req.hdr(X-Real-IP)]'), hdr('TENANT', '%[req.hdr(X-Tenant)]')],
    };
    const without = build({}, options);
    assert.equal(without.get('REMOTE_ADDR'), '203.0.113.7');
    assert.equal(without.has('TENANT'), false);
    const withHeader = build({ headers: ['X-Real-IP', '198.51.100.9'] }, options);
    assert.equal(withHeader.get('REMOTE_ADDR'), '198.51.100.9');
  });

  test('a literal PHP_VALUE may be set from config', () => {
    assert.equal(
      build({}, { setParams: [hdr('PHP_VALUE', 'display_errors=1')] }).get('PHP_VALUE'),
      'display_errors=1',
    );
  });

  const invalid: [what: string, name: string, value: string, message: RegExp][] = [
    ['a name with "-"', 'my-var', 'x', /invalid "setParams" name "my-var"/],
    ['a name starting with a digit', '1ABC', 'x', /invalid "setParams" name "1ABC"/],
    ['REQUEST_BODY_FILE', 'REQUEST_BODY_FILE', '/tmp/x', /may not set REQUEST_BODY_FILE/],
    ['PHP_VALUE from request data', 'PHP_VALUE', '%[req.hdr(X-Ini)]', /PHP_VALUE may not use placeholders/],
    [
      'PHP_ADMIN_VALUE from request data',
      'PHP_ADMIN_VALUE',
      'x=%[query]',
      /PHP_ADMIN_VALUE may not use placeholders/,
    ],
    ['an unknown placeholder', 'X', '%[ssl_fc]', /unknown placeholder "%\[ssl_fc\]"/],
    ['req.hdr without a name', 'X', '%[req.hdr()]', /unknown placeholder "%\[req\.hdr\(\)\]"/],
  ];
  for (const [what, name, value, message] of invalid) {
    test(`${what} is refused with a ConfigError`, () => {
      assert.throws(() => compileSetParam({ name, value }), ConfigError);
      assert.throws(() => compileSetParam({ name, value }), { code: 'FPM_BRIDGE_ERR_CONFIG', message });
      assert.throws(() => builder({ setParams: [{ name, value }] }), ConfigError);
    });
  }
});
