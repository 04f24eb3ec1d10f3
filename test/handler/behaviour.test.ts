import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ALBEvent, ALBResult, APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda';
import { createLambdaApp, type LambdaApp } from '../../handler/runtime.ts';
import { type DumpBody, FIXTURES_DOCROOT, type LogEntry, recordingLogger } from '../support/bridge.ts';
import { HTTP_EVENT_SOURCES, type HttpEventSource, type HttpEvents, loadEvent } from '../support/events.ts';
import { type AnyResult, seen } from '../support/http-events.ts';
import { fakeContext } from '../support/lambda-context.ts';
import { phpFpmUnderTest } from '../support/php-fpm.ts';

/** Points an event of any source at `path` (raw) with `method`, as the source would deliver it. */
function at<S extends HttpEventSource>(
  source: S,
  event: HttpEvents[S],
  method: string,
  path: string,
): HttpEvents[S] {
  if (source === 'apigw-rest') {
    const e = event as APIGatewayProxyEvent;
    e.httpMethod = method;
    e.path = path;
    e.requestContext.httpMethod = method;
    e.requestContext.path = `/${e.requestContext.stage}${path}`;
  } else if (source === 'alb') {
    const e = event as ALBEvent;
    e.httpMethod = method;
    e.path = path;
  } else {
    const e = event as APIGatewayProxyEventV2;
    e.rawPath = path;
    e.requestContext.http.method = method;
    e.requestContext.http.path = path;
  }
  return event;
}

/** Replaces the query of an event, in the source's own terms (decoded maps for REST, raw elsewhere). */
function setQuery<S extends HttpEventSource>(source: S, event: HttpEvents[S], raw: string): void {
  const pairs = raw.split('&').map((p) => p.split('=') as [string, string]);
  if (source === 'apigw-rest' || source === 'alb') {
    const e = event as { multiValueQueryStringParameters?: unknown; queryStringParameters?: unknown };
    const multi: Record<string, string[]> = {};
    for (const [k, v] of pairs) multi[k] = [...(multi[k] ?? []), v];
    if (e.multiValueQueryStringParameters != null) e.multiValueQueryStringParameters = multi;
    e.queryStringParameters = Object.fromEntries(pairs);
  } else {
    (event as APIGatewayProxyEventV2).rawQueryString = raw;
  }
}

const QUERY_FIXTURE = {
  'apigw-rest': 'get-query',
  'apigw-http': 'get-query',
  alb: 'get-multi-value',
  'function-url': 'get-query',
} as const;
/** What PHP must see as QUERY_STRING: raw where the source gives it raw, minimally encoded where AWS decoded it. */
const QUERY_STRING = {
  'apigw-rest': 'a[]=1&a[]=2&empty=&q=hello%20world&plus=a%2Bb',
  'apigw-http': 'a[]=1&a[]=2&empty=&q=hello%20world&plus=a%2Bb',
  alb: 'a%5B%5D=1&a%5B%5D=2&q=hello%20world',
  'function-url': 'a[]=1&a[]=2&empty=&q=hello%20world&plus=a%2Bb',
} as const;
const GET = {
  'apigw-rest': { a: ['1', '2'], empty: '', q: 'hello world', plus: 'a+b' },
  'apigw-http': { a: ['1', '2'], empty: '', q: 'hello world', plus: 'a+b' },
  alb: { a: ['1', '2'], q: 'hello world' },
  'function-url': { a: ['1', '2'], empty: '', q: 'hello world', plus: 'a+b' },
} as const;

/** The PNG the fixtures upload, and the (other) one binary.php answers. */
const UPLOADED = Buffer.from(loadEvent('apigw-http', 'post-binary').body!, 'base64');
const PNG = readFileSync(join(FIXTURES_DOCROOT, 'pixel.png'));
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

let app: LambdaApp;
const log: LogEntry[] = [];

before(async () => {
  app = await createLambdaApp({
    taskRoot: FIXTURES_DOCROOT,
    env: {},
    overrides: { phpFpmBinary: phpFpmUnderTest(), docroot: FIXTURES_DOCROOT },
    log: recordingLogger(log),
  });
});
after(() => app.close());

for (const source of HTTP_EVENT_SOURCES) {
  describe(`Lambda handler, ${source} events`, () => {
    it('passes the query string, client address and TLS facts to PHP as CGI params', async () => {
      const event = loadEvent(source, QUERY_FIXTURE[source]) as HttpEvents[typeof source];
      const context = fakeContext({ awsRequestId: 'c0ffee' });
      const res = seen(await app.handler(event, context));
      assert.equal(res.status, 200);
      const dump = JSON.parse(res.body.toString()) as DumpBody;
      const s = dump.server;
      assert.equal(s.QUERY_STRING, QUERY_STRING[source]);
      assert.equal(s.REQUEST_URI, `/search?${QUERY_STRING[source]}`);
      assert.deepEqual(dump.get, GET[source]);
      assert.equal(s.REMOTE_ADDR, '203.0.113.42');
      assert.equal(s.HTTPS, 'on');
      assert.equal(s.REQUEST_SCHEME, 'https');
      assert.equal(s.SERVER_PORT, '443');
      assert.equal(s.SCRIPT_NAME, '/index.php');
      assert.equal(s.SCRIPT_FILENAME, join(FIXTURES_DOCROOT, 'index.php'));
      assert.equal(s.DOCUMENT_ROOT, FIXTURES_DOCROOT);
      assert.equal(s.GATEWAY_INTERFACE, 'CGI/1.1');
      const multi = (event as { multiValueHeaders?: Record<string, string[]> }).multiValueHeaders;
      const host = event.headers?.host ?? event.headers?.Host ?? multi?.host?.[0];
      assert.equal(s.SERVER_NAME, host);
      assert.equal('CONTENT_TYPE' in s, false);
      assert.equal('CONTENT_LENGTH' in s, false);
      assert.equal('REMOTE_PORT' in s, false);
      assert.deepEqual(JSON.parse(String(s.LAMBDA_REQUEST_CONTEXT)), event.requestContext);
      assert.equal(JSON.parse(String(s.LAMBDA_INVOCATION_CONTEXT)).awsRequestId, 'c0ffee');
    });

    it("hands PHP the UTF-8 bytes of the event's path, query and header text, encoded once", async () => {
      const event = at(
        source,
        loadEvent(source, QUERY_FIXTURE[source]) as HttpEvents[typeof source],
        'GET',
        '/hex.php/é',
      );
      setQuery(source, event, 'q=é');
      const e = event as { headers?: Record<string, string>; multiValueHeaders?: Record<string, string[]> };
      if (e.multiValueHeaders != null) e.multiValueHeaders['x-name'] = ['Zoë'];
      e.headers = { ...e.headers, 'x-name': 'Zoë' };
      const { server } = JSON.parse(seen(await app.handler(event, fakeContext())).body.toString()) as {
        server: Record<string, string>;
      };
      const bytes = (name: string) => Buffer.from(server[name]!, 'hex').toString('latin1');
      // REST hands over decoded parameters, which are encoded again; the other sources give the query raw.
      const query = source === 'apigw-rest' ? 'q=%C3%A9' : 'q=\xc3\xa9';
      assert.deepEqual(['REQUEST_URI', 'QUERY_STRING', 'PATH_INFO', 'HTTP_X_NAME'].map(bytes), [
        `/hex.php/%C3%A9?${query}`,
        query,
        '/\xc3\xa9',
        'Zo\xc3\xab',
      ]);
    });

    it('decodes a base64 PNG body and hands PHP the exact bytes with their type and length', async () => {
      const event = loadEvent(source, 'post-binary') as HttpEvents[typeof source];
      const dump = JSON.parse(seen(await app.handler(event, fakeContext())).body.toString()) as DumpBody;
      assert.deepEqual(dump.input, { length: UPLOADED.length, md5: md5(UPLOADED) });
      assert.equal(dump.server.CONTENT_TYPE, 'image/png');
      assert.equal(dump.server.CONTENT_LENGTH, String(UPLOADED.length));
    });

    it('returns a binary response base64-encoded, byte for byte', async () => {
      const event = at(
        source,
        loadEvent(source, QUERY_FIXTURE[source]) as HttpEvents[typeof source],
        'GET',
        '/binary.php',
      );
      const result = (await app.handler(event, fakeContext())) as AnyResult;
      assert.equal(result.isBase64Encoded, true);
      const res = seen(result);
      assert.deepEqual(res.headers['content-type'], ['image/png']);
      assert.deepEqual(res.body, PNG);
    });

    it('returns text as text and keeps every Set-Cookie apart', async () => {
      const event = at(
        source,
        loadEvent(source, QUERY_FIXTURE[source]) as HttpEvents[typeof source],
        'GET',
        '/headers.php',
      );
      const result = (await app.handler(event, fakeContext())) as AnyResult;
      assert.equal(result.isBase64Encoded, false);
      const res = seen(result);
      assert.equal(res.body.toString(), 'headers set');
      assert.deepEqual(res.headers['set-cookie'], [
        'first=1',
        'second=two%20words; path=/sub; HttpOnly',
        'third=3; Secure',
      ]);
      assert.deepEqual(
        res.headers['x-multi'],
        source === 'apigw-rest' || source === 'alb' ? ['a', 'b'] : ['a, b'],
      );
    });

    it('gives exactly this result for a custom status with a text body', async () => {
      const event = at(
        source,
        loadEvent(source, QUERY_FIXTURE[source]) as HttpEvents[typeof source],
        'GET',
        '/status.php',
      );
      setQuery(source, event, 'code=418');
      const result = await app.handler(event, fakeContext());
      const type = 'text/html; charset=UTF-8';
      const expected = {
        'apigw-rest': {
          statusCode: 418,
          multiValueHeaders: { 'Content-type': [type] },
          body: 'status set',
          isBase64Encoded: false,
        },
        'apigw-http': {
          statusCode: 418,
          headers: { 'content-type': type },
          body: 'status set',
          isBase64Encoded: false,
        },
        'function-url': {
          statusCode: 418,
          headers: { 'content-type': type },
          body: 'status set',
          isBase64Encoded: false,
        },
        alb: {
          statusCode: 418,
          statusDescription: "418 I'm a Teapot",
          multiValueHeaders: { 'Content-type': [type] },
          body: 'status set',
          isBase64Encoded: false,
        },
      }[source];
      assert.deepEqual(result, expected);
    });

    it('sends no body with 204 and 304', async () => {
      for (const code of [204, 304]) {
        const event = at(
          source,
          loadEvent(source, QUERY_FIXTURE[source]) as HttpEvents[typeof source],
          'GET',
          '/status.php',
        );
        setQuery(source, event, `code=${code}`);
        const result = (await app.handler(event, fakeContext())) as AnyResult;
        assert.equal(result.statusCode, code);
        assert.equal(result.body, '');
      }
    });

    it('answers a redirect with its status and Location', async () => {
      const event = at(
        source,
        loadEvent(source, QUERY_FIXTURE[source]) as HttpEvents[typeof source],
        'GET',
        '/redirect.php',
      );
      const res = seen(await app.handler(event, fakeContext()));
      assert.equal(res.status, 302);
      assert.deepEqual(res.headers.location, ['/login']);
    });

    it('answers HEAD with headers and no body', async () => {
      const event = at(
        source,
        loadEvent(source, QUERY_FIXTURE[source]) as HttpEvents[typeof source],
        'HEAD',
        '/dump.php',
      );
      const res = seen(await app.handler(event, fakeContext()));
      assert.equal(res.status, 200);
      assert.deepEqual(res.headers['content-type'], ['application/json']);
      assert.equal(res.body.length, 0);
    });

    it("hands on PHP's Date and Server once, as PHP set them, and none of PHP's hop-by-hop fields", async () => {
      const event = at(
        source,
        loadEvent(source, QUERY_FIXTURE[source]) as HttpEvents[typeof source],
        'GET',
        '/front-fields.php',
      );
      setQuery(source, event, 'date=1&server=1&hop=1&length=1');
      const { headers } = seen(await app.handler(event, fakeContext()));
      assert.deepEqual(
        ['date', 'server', 'connection', 'keep-alive', 'content-length', 'transfer-encoding'].map(
          (n) => headers[n],
        ),
        [['Mon, 01 Jan 2001 00:00:00 GMT'], ['php-app'], undefined, undefined, ['10'], undefined],
      );
    });

    it('keeps a UTF-8 byte-order mark at the start of a text body', async () => {
      const event = at(
        source,
        loadEvent(source, QUERY_FIXTURE[source]) as HttpEvents[typeof source],
        'GET',
        '/bom.php',
      );
      const result = (await app.handler(event, fakeContext())) as AnyResult;
      assert.equal(result.isBase64Encoded, false);
      assert.deepEqual(seen(result).body, Buffer.from('\uFEFFname,city\nJosé,Zürich\n', 'utf8'));
    });

    it("drops a Content-Length from PHP that is not its body's length, and logs it", async () => {
      const event = at(
        source,
        loadEvent(source, QUERY_FIXTURE[source]) as HttpEvents[typeof source],
        'GET',
        '/length.php',
      );
      setQuery(source, event, 'declare=10&size=3');
      const context = fakeContext({ awsRequestId: `length-${source}` });
      const res = seen(await app.handler(event, context));
      assert.deepEqual(
        { length: res.headers['content-length'], body: res.body.toString() },
        {
          length: undefined,
          body: 'xxx',
        },
      );
      const entry = log.find((e) => e.fields.requestId === `length-${source}` && e.level === 'error');
      assert.deepEqual(entry, {
        level: 'error',
        fields: { requestId: `length-${source}`, code: 'FPM_BRIDGE_ERR_BAD_RESPONSE' },
        msg: 'PHP\'s body is 3 bytes but it sent "Content-Length: 10"; the header was dropped',
      });
    });

    it('hands on UTF-8 header values from PHP as the characters they encode', async () => {
      const event = at(
        source,
        loadEvent(source, QUERY_FIXTURE[source]) as HttpEvents[typeof source],
        'GET',
        '/utf8-headers.php',
      );
      const res = seen(await app.handler(event, fakeContext()));
      assert.deepEqual(res.headers['content-disposition'], ['attachment; filename="café.txt"']);
      assert.deepEqual(res.headers['x-name'], ['Zoë']);
      assert.deepEqual(res.headers['set-cookie'], ['name=Zoë; Path=/']);
    });

    it('answers HEAD with no body also when fpm-bridge answers itself (400, 308)', async () => {
      const bad = at(
        source,
        loadEvent(source, QUERY_FIXTURE[source]) as HttpEvents[typeof source],
        'HEAD',
        '/index.php/%0Afoo',
      );
      const refused = (await app.handler(bad, fakeContext())) as AnyResult;
      assert.equal(refused.statusCode, 400);
      assert.equal(refused.body, '');
      const dir = at(
        source,
        loadEvent(source, QUERY_FIXTURE[source]) as HttpEvents[typeof source],
        'HEAD',
        '/sub',
      );
      setQuery(source, dir, 'x=1');
      const redirect = (await app.handler(dir, fakeContext())) as AnyResult;
      assert.equal(redirect.statusCode, 308);
      assert.equal(redirect.body, '');
    });

    it('refuses a %0a path with 400 and a path above the docroot with 404, without running PHP', async () => {
      const bad = at(
        source,
        loadEvent(source, QUERY_FIXTURE[source]) as HttpEvents[typeof source],
        'GET',
        '/index.php/%0Afoo',
      );
      const res = seen(await app.handler(bad, fakeContext()));
      assert.equal(res.status, 400);
      assert.equal(res.body.toString(), '400 Bad Request\n');
      const up = at(
        source,
        loadEvent(source, QUERY_FIXTURE[source]) as HttpEvents[typeof source],
        'GET',
        '/%2e%2e/etc/passwd',
      );
      assert.equal(seen(await app.handler(up, fakeContext())).status, 404);
    });
  });
}

describe('Lambda handler, source specifics', () => {
  it('HTTP API: joins the cookies array into one Cookie header for PHP', async () => {
    const dump = JSON.parse(
      seen(await app.handler(loadEvent('apigw-http', 'cookies'), fakeContext())).body.toString(),
    ) as DumpBody;
    assert.equal(dump.server.HTTP_COOKIE, 'a=1; b=2');
    assert.deepEqual(dump.cookie, { a: '1', b: '2' });
  });

  it('HTTP API: a path AWS decoded to a bare "%" reaches PHP re-encoded, not refused', async () => {
    // The client asked for /files/100%25.pdf; HTTP API hands rawPath over decoded.
    const event = at('apigw-http', loadEvent('apigw-http', 'get-query'), 'GET', '/files/100%.pdf');
    event.rawQueryString = '';
    const res = seen(await app.handler(event, fakeContext()));
    assert.equal(res.status, 200);
    const dump = JSON.parse(res.body.toString()) as DumpBody;
    assert.equal(dump.server.REQUEST_URI, '/files/100%25.pdf');
    assert.equal(dump.server.SCRIPT_NAME, '/index.php');
  });

  it('REST: joins repeated headers with ", " and repeated cookies with "; "', async () => {
    const dump = JSON.parse(
      seen(await app.handler(loadEvent('apigw-rest', 'repeated-headers'), fakeContext())).body.toString(),
    ) as DumpBody;
    assert.equal(dump.server.HTTP_X_CUSTOM, 'one, two');
    assert.equal(dump.server.HTTP_COOKIE, 'a=1; b=2');
  });

  it('REST: a query value holding a lone UTF-16 surrogate reaches PHP as U+FFFD instead of failing', async () => {
    const event = loadEvent('apigw-rest', 'get-query');
    event.multiValueQueryStringParameters = { q: ['a\ud800b'] };
    event.queryStringParameters = { q: 'a\ud800b' };
    const dump = JSON.parse(seen(await app.handler(event, fakeContext())).body.toString()) as DumpBody;
    assert.equal(dump.server.QUERY_STRING, 'q=a%EF%BF%BDb');
  });

  it('REST: a multipart upload reaches $_FILES intact', async () => {
    const dump = JSON.parse(
      seen(await app.handler(loadEvent('apigw-rest', 'multipart-upload'), fakeContext())).body.toString(),
    ) as DumpBody;
    const file = Object.values(dump.files)[0]!;
    assert.equal(file.size, UPLOADED.length);
    assert.equal(file.md5, md5(UPLOADED));
    assert.equal(file.error, 0);
  });

  it('REST: Basic auth gives PHP_AUTH_USER, AUTH_TYPE and REMOTE_USER', async () => {
    const dump = JSON.parse(
      seen(await app.handler(loadEvent('apigw-rest', 'basic-auth'), fakeContext())).body.toString(),
    ) as DumpBody;
    assert.equal(dump.server.PHP_AUTH_USER, 'alice');
    assert.equal(dump.server.AUTH_TYPE, 'Basic');
    assert.equal(dump.server.REMOTE_USER, 'alice');
  });

  it('ALB: replies in the mode of the request, with a status description', async () => {
    const single = (await app.handler(
      at('alb', loadEvent('alb', 'get-single-value'), 'GET', '/headers.php'),
      fakeContext(),
    )) as ALBResult;
    assert.equal(single.statusDescription, '200 OK');
    assert.equal(single.multiValueHeaders, undefined);
    assert.equal(single.headers?.['x-multi'], 'a, b');
    const multi = (await app.handler(
      at('alb', loadEvent('alb', 'get-multi-value'), 'GET', '/headers.php'),
      fakeContext(),
    )) as ALBResult;
    assert.equal(multi.headers, undefined);
    assert.deepEqual(multi.multiValueHeaders?.['X-Multi'], ['a', 'b']);
  });

  it('ALB: takes REMOTE_ADDR from the last X-Forwarded-For entry without the SP and HTAB around it, and only those', async () => {
    const remote = async (forwardedFor: string) => {
      const event = loadEvent('alb', 'get-single-value');
      event.headers!['x-forwarded-for'] = forwardedFor;
      const res = seen(await app.handler(event, fakeContext()));
      return (JSON.parse(res.body.toString()) as DumpBody).server.REMOTE_ADDR;
    };
    assert.deepEqual(
      [await remote('198.51.100.7,\t203.0.113.42 '), await remote('198.51.100.7,\u00a0203.0.113.42')],
      ['203.0.113.42', '\u00a0203.0.113.42'],
    );
  });

  it('ALB: passes still-encoded query values through without encoding them twice', async () => {
    const dump = JSON.parse(
      seen(await app.handler(loadEvent('alb', 'get-single-value'), fakeContext())).body.toString(),
    ) as DumpBody;
    assert.equal(dump.server.QUERY_STRING, 'q=hello%20world&plus=a%2Bb&space=a+b&empty=');
    assert.deepEqual(dump.get, { q: 'hello world', plus: 'a+b', space: 'a b', empty: '' });
  });
});
