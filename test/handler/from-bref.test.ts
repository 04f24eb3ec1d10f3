/**
 * What an app moving from Bref reads on Lambda: LAMBDA_INVOCATION_CONTEXT and LAMBDA_REQUEST_CONTEXT as Bref
 * passes them, and the events tools write rather than AWS (Bref's own test events), accepted where their
 * meaning is plain and refused where it is not. docs/from-bref.md rests on these.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, mock } from 'node:test';
import type { ALBEvent, APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda';
import { createLambdaApp, type LambdaApp } from '../../handler/runtime.ts';
import { BadEventError } from '../../proxy/errors.ts';
import { type DumpBody, FIXTURES_DOCROOT, recordingLogger } from '../support/bridge.ts';
import { HTTP_EVENT_SOURCES, loadEvent } from '../support/events.ts';
import { FAKE_ACCOUNT_ID, FAKE_REGION, fakeContext } from '../support/lambda-context.ts';

const TRACE = 'Root=1-67891233-abcdef012345678912345678;Parent=0123456789abcdef;Sampled=1';
/** The clock the invocation-context tests stop at: 2026-01-01T00:00:00Z. */
const NOW = 1_767_225_600_000;

let app: LambdaApp;

before(async () => {
  app = await createLambdaApp({
    taskRoot: FIXTURES_DOCROOT,
    // What the Node.js runtime puts in the environment for the invocation it hands over.
    env: { _X_AMZN_TRACE_ID: TRACE },
    overrides: { docroot: FIXTURES_DOCROOT, eventsScript: 'dump.php' },
    log: recordingLogger([]),
  });
});
after(() => app.close());

/** What dump.php saw of a request: its $_SERVER and $_GET/$_POST. */
async function dump(event: unknown, context = fakeContext()): Promise<DumpBody> {
  const result = (await app.handler(event, context)) as { statusCode: number; body: string };
  assert.equal(result.statusCode, 200, result.body);
  return JSON.parse(result.body) as DumpBody;
}

/** Runs `fn` with Date.now() stopped at NOW, so that a deadline computed from it is exact. */
async function atNow<T>(fn: () => Promise<T>): Promise<T> {
  mock.timers.enable({ apis: ['Date'], now: NOW });
  try {
    return await fn();
  } finally {
    mock.timers.reset();
  }
}

describe("Lambda handler: Bref's LAMBDA_INVOCATION_CONTEXT and LAMBDA_REQUEST_CONTEXT", () => {
  it("gives PHP the invocation as Bref's Context serializes it: request id, deadline, function ARN, trace id", async () => {
    const event = loadEvent('apigw-http', 'get-root');
    const server = (await atNow(() => dump(event, fakeContext({ awsRequestId: 'c0ffee' })))).server;
    assert.equal(
      server.LAMBDA_INVOCATION_CONTEXT,
      `{"awsRequestId":"c0ffee","deadlineMs":${NOW + 30_000},"invokedFunctionArn":"arn:aws:lambda:${FAKE_REGION}:${FAKE_ACCOUNT_ID}:function:fpm-bridge-test","traceId":"${TRACE}"}`,
    );
  });

  it('gives the same invocation context to the eventsScript of a non-HTTP event', async () => {
    const result = (await atNow(() =>
      app.handler(loadEvent('other', 'sqs'), fakeContext({ awsRequestId: 'beef' })),
    )) as DumpBody;
    assert.deepEqual(JSON.parse(String(result.server.LAMBDA_INVOCATION_CONTEXT)), {
      awsRequestId: 'beef',
      deadlineMs: NOW + 30_000,
      invokedFunctionArn: `arn:aws:lambda:${FAKE_REGION}:${FAKE_ACCOUNT_ID}:function:fpm-bridge-test`,
      traceId: TRACE,
    });
  });

  it("gives PHP the event's requestContext as it came, for every source", async () => {
    for (const source of HTTP_EVENT_SOURCES) {
      const event = loadEvent(source, 'post-binary');
      const { server } = await dump(event);
      assert.equal(server.LAMBDA_REQUEST_CONTEXT, JSON.stringify(event.requestContext), source);
    }
  });

  it("gives `[]` for an event without requestContext, as Bref's json_encode of an empty array does", async () => {
    const { server } = await dump(loadEvent('tools', 'bref-v1-no-request-context'));
    assert.equal(server.LAMBDA_REQUEST_CONTEXT, '[]');
  });
});

describe('Lambda handler: HTTP events written by tools rather than by AWS', () => {
  it("runs Bref's REST event without requestContext as a REST request, with no client address", async () => {
    const { server, get } = await dump(loadEvent('tools', 'bref-v1-no-request-context'));
    assert.deepEqual(
      {
        REQUEST_METHOD: server.REQUEST_METHOD,
        REQUEST_URI: server.REQUEST_URI,
        QUERY_STRING: server.QUERY_STRING,
        SCRIPT_NAME: server.SCRIPT_NAME,
        SERVER_PROTOCOL: server.SERVER_PROTOCOL,
        HTTPS: server.HTTPS,
        SERVER_PORT: server.SERVER_PORT,
        SERVER_NAME: server.SERVER_NAME,
        REMOTE_ADDR: server.REMOTE_ADDR,
      },
      {
        REQUEST_METHOD: 'GET',
        REQUEST_URI: '/hello?foo=bar&bim=baz',
        QUERY_STRING: 'foo=bar&bim=baz',
        SCRIPT_NAME: '/index.php',
        SERVER_PROTOCOL: 'HTTP/1.1',
        HTTPS: 'on',
        SERVER_PORT: '443',
        SERVER_NAME: '',
        REMOTE_ADDR: '',
      },
    );
    assert.deepEqual(get, { foo: 'bar', bim: 'baz' });
  });

  it("takes header values given as JSON numbers as their text (Bref's REST form POST, `Content-Length: 15`)", async () => {
    const { server, post, input } = await dump(loadEvent('tools', 'bref-v1-body-form'));
    assert.deepEqual([server.CONTENT_LENGTH, input.length, server.HTTP_HOST], ['15', 15, 'example.org']);
    // The event names no Content-Type. Bref makes one up (application/x-www-form-urlencoded) and PHP fills
    // $_POST; fpm-bridge passes none, as nginx would, and the form stays in php://input.
    assert.deepEqual([server.CONTENT_TYPE, post], [undefined, {}]);
  });

  it("takes them in an HTTP API event too (Bref's JSON PUT, `Content-Length: 13`), and booleans as true/false", async () => {
    const event = loadEvent('tools', 'bref-v2-body-json');
    (event.headers as Record<string, unknown>)['X-Debug'] = true;
    (event.headers as Record<string, unknown>)['X-Dry-Run'] = false;
    (event.headers as Record<string, unknown>)['X-Ratio'] = 0.5;
    const { server, input } = await dump(event);
    assert.deepEqual(
      [server.REQUEST_METHOD, server.CONTENT_TYPE, server.CONTENT_LENGTH, input.length],
      ['PUT', 'application/json', '13', 13],
    );
    assert.deepEqual(
      [server.HTTP_X_DEBUG, server.HTTP_X_DRY_RUN, server.HTTP_X_RATIO],
      ['true', 'false', '0.5'],
    );
  });

  it('takes numbers in multi-value headers as their text', async () => {
    const event = loadEvent('apigw-rest', 'get-root');
    (event.multiValueHeaders as Record<string, unknown>)['X-Count'] = [3, 4];
    assert.equal((await dump(event)).server.HTTP_X_COUNT, '3, 4');
  });

  it('joins the values of a repeated header (a header named 12345 in Bref’s event), where Bref keeps the last', async () => {
    const { server } = await dump(loadEvent('tools', 'bref-v1-header-numeric-multivalue'));
    assert.equal(server.HTTP_12345, 'Hello world, Hello john');
  });

  for (const source of ['apigw-rest', 'apigw-http', 'function-url'] as const) {
    it(`takes SERVER_NAME from requestContext.domainName when a ${source} event has no Host header`, async () => {
      const event = loadEvent(source, 'post-binary');
      const headers = event.headers as Record<string, string>;
      for (const name of Object.keys(headers)) if (name.toLowerCase() === 'host') delete headers[name];
      const multi = (event as APIGatewayProxyEvent).multiValueHeaders;
      if (multi != null)
        for (const name of Object.keys(multi)) if (name.toLowerCase() === 'host') delete multi[name];
      const { server } = await dump(event);
      assert.equal(server.SERVER_NAME, event.requestContext.domainName);
      assert.equal(server.HTTP_HOST, undefined);
    });
  }

  it('leaves SERVER_NAME to the Host header when there is one, and strips a port from the domain name', async () => {
    const withHost = loadEvent('apigw-http', 'get-root');
    withHost.headers.host = 'www.example.com';
    assert.equal((await dump(withHost)).server.SERVER_NAME, 'www.example.com');
    const withPort = loadEvent('apigw-http', 'get-root');
    delete withPort.headers.host;
    withPort.requestContext.domainName = 'localhost:3000';
    assert.equal((await dump(withPort)).server.SERVER_NAME, 'localhost');
  });

  it('runs an ALB health check (no Host, no forwarding headers) with SERVER_NAME empty: ALB has no domain name', async () => {
    const event = loadEvent('alb', 'get-single-value') as ALBEvent;
    event.headers = { 'user-agent': 'ELB-HealthChecker/2.0' };
    event.queryStringParameters = {};
    const { server } = await dump(event);
    assert.deepEqual(
      [server.SERVER_NAME, server.HTTP_HOST, server.REQUEST_URI, server.HTTP_USER_AGENT],
      ['', undefined, '/search', 'ELB-HealthChecker/2.0'],
    );
  });

  it('uses no domain name that is no host name: SERVER_NAME stays empty', async () => {
    const event = loadEvent('apigw-http', 'get-root');
    delete event.headers.host;
    event.requestContext.domainName = 'evil.example/../x';
    assert.equal((await dump(event)).server.SERVER_NAME, '');
  });
});

describe('Lambda handler: what AWS never sends and is ambiguous still fails the invocation', () => {
  type Spoil = (e: Record<string, unknown>) => void;
  const cases: [string, () => unknown, Spoil, string][] = [
    [
      'a header value that is an array in the single-value map',
      () => loadEvent('apigw-http', 'get-root'),
      (e) => ((e.headers as Record<string, unknown>)['x-list'] = ['a', 'b']),
      'request header "x-list" has an array as its value; expected a string',
    ],
    [
      'a header value that is an object',
      () => loadEvent('tools', 'bref-v1-body-form'),
      (e) => ((e.headers as Record<string, unknown>)['X-Obj'] = { a: 1 }),
      'request header "X-Obj" has an object as its value; expected a string',
    ],
    [
      'a multi-value header given as a string, which would be read a character at a time',
      () => loadEvent('apigw-rest', 'get-root'),
      (e) => ((e.multiValueHeaders as Record<string, unknown>)['X-One'] = 'abc'),
      'malformed API Gateway REST event: its multi-value header "X-One" is a string; expected an array',
    ],
    [
      'a multi-value query parameter given as a string',
      () => loadEvent('apigw-rest', 'get-query'),
      (e) => ((e.multiValueQueryStringParameters as Record<string, unknown>).q = 'abc'),
      'malformed API Gateway REST event: its multi-value query parameter "q" is a string; expected an array',
    ],
    [
      'httpMethod and path without requestContext under payload version 2.0',
      () => loadEvent('tools', 'bref-v1-no-request-context'),
      (e) => (e.version = '2.0'),
      'fpm-bridge received an event with keys version, httpMethod, path, queryStringParameters; it handles API Gateway (REST, HTTP API), ALB and Function URL events — set "eventsScript" to send other events to a PHP script',
    ],
    [
      'a requestContext that is no object',
      () => loadEvent('tools', 'bref-v1-no-request-context'),
      (e) => (e.requestContext = 'prod'),
      'fpm-bridge received an event with keys version, httpMethod, path, queryStringParameters, requestContext; it handles API Gateway (REST, HTTP API), ALB and Function URL events — set "eventsScript" to send other events to a PHP script',
    ],
  ];
  let plain: LambdaApp;
  before(async () => {
    // Without eventsScript: an event that is no HTTP event fails instead of going to a script.
    plain = await createLambdaApp({
      taskRoot: FIXTURES_DOCROOT,
      env: {},
      overrides: { docroot: FIXTURES_DOCROOT },
      log: recordingLogger([]),
    });
  });
  after(() => plain.close());

  for (const [what, load, spoil, message] of cases) {
    it(`fails ${what} with FPM_BRIDGE_ERR_BAD_EVENT, saying why`, async () => {
      const event = load() as Record<string, unknown>;
      spoil(event);
      await assert.rejects(plain.handler(event, fakeContext()), (err: unknown) => {
        assert.ok(err instanceof BadEventError);
        assert.equal(err.code, 'FPM_BRIDGE_ERR_BAD_EVENT');
        assert.equal(err.message, message);
        return true;
      });
    });
  }

  it('keeps the HTTP API shape strict: an HTTP API event still needs its requestContext.http', async () => {
    const event = loadEvent('apigw-http', 'get-root') as Partial<APIGatewayProxyEventV2>;
    delete event.requestContext;
    await assert.rejects(plain.handler(event, fakeContext()), BadEventError);
  });
});
