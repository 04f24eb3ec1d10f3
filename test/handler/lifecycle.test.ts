import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { ResponseStreamFactory } from '../../handler/runtime.ts';
import { createLambdaApp, type LambdaApp } from '../../handler/runtime.ts';
import type { Config } from '../../proxy/config.ts';
import { BadEventError } from '../../proxy/errors.ts';
import { FIXTURES_DOCROOT, type LogEntry, recordingLogger, waitFor } from '../support/bridge.ts';
import { type EventName, loadEvent } from '../support/events.ts';
import { fakeContext } from '../support/lambda-context.ts';
import { phpFpmUnderTest } from '../support/php-fpm.ts';
import { childrenOf } from '../support/proc.ts';

const TASK_ROOT = fileURLToPath(new URL('../fixtures/task', import.meta.url));

async function start(
  overrides: Partial<Record<keyof Config, unknown>> = {},
  log: LogEntry[] = [],
): Promise<LambdaApp> {
  return createLambdaApp({
    taskRoot: TASK_ROOT,
    env: {},
    overrides: { phpFpmBinary: phpFpmUnderTest(), docroot: FIXTURES_DOCROOT, ...overrides },
    log: recordingLogger(log),
  });
}

function get(path: string, query = '', headers: Record<string, string> = {}): APIGatewayProxyEventV2 {
  const event = loadEvent('apigw-http', 'get-root');
  event.rawPath = path;
  event.rawQueryString = query;
  event.requestContext.http.path = path;
  event.headers = { ...event.headers, ...headers };
  return event;
}

describe('Lambda handler: events that are not HTTP', () => {
  let app: LambdaApp;
  before(async () => {
    app = await start();
  });
  after(() => app.close());

  const named: [EventName<'other'>, string][] = [
    ['sqs', 'an SQS event'],
    ['sns', 'an SNS event'],
    ['s3', 'an S3 event'],
    ['eventbridge', 'an EventBridge event'],
    ['schedule', 'a scheduled (EventBridge) event'],
    ['api-gateway-websocket', 'an API Gateway WebSocket event'],
    ['empty-object', 'an empty event {}'],
  ];
  for (const [fixture, description] of named) {
    it(`fails ${description} with an error naming it and the way to handle it`, async () => {
      await assert.rejects(app.handler(loadEvent('other', fixture), fakeContext()), (err: unknown) => {
        assert.ok(err instanceof BadEventError);
        assert.equal(err.code, 'FPM_BRIDGE_ERR_BAD_EVENT');
        assert.equal(
          err.message,
          `fpm-bridge received ${description}; it handles API Gateway (REST, HTTP API), ALB and Function URL events — set "eventsScript" to send other events to a PHP script`,
        );
        return true;
      });
    });
  }

  it('answers a warmer ping without PHP', async () => {
    const before = app.bridge.backend.pools[0]!.stats;
    assert.deepEqual(await app.handler(loadEvent('other', 'warmer'), fakeContext()), { warmed: true });
    assert.deepEqual(app.bridge.backend.pools[0]!.stats, before);
  });

  it('runs a console event with php in the task root and returns exit code and output', async () => {
    const result = await app.handler({ cli: 'artisan migrate --force "two words" --exit=3' }, fakeContext());
    assert.deepEqual(result, {
      exitCode: 3,
      output: `args: ["migrate","--force","two words","--exit=3"]\ncwd: ${TASK_ROOT}\n`,
    });
  });

  it('fails a malformed HTTP event, naming the source', async () => {
    const event = get('/') as unknown as { requestContext: { http: { method?: string } } };
    delete event.requestContext.http.method;
    await assert.rejects(app.handler(event, fakeContext()), (err: unknown) => {
      assert.ok(err instanceof BadEventError);
      assert.match(err.message, /^malformed HTTP API \/ Function URL event: /);
      return true;
    });
  });

  /** An HTTP API event as JSON can spoil it: any field may hold any value. */
  type Spoilable = {
    rawQueryString: unknown;
    requestContext: { http: { sourceIp: unknown } };
    headers: Record<string, unknown>;
  };
  const notStrings: [string, (e: Spoilable) => void, string][] = [
    [
      'a query string that is an object',
      (e) => (e.rawQueryString = {}),
      'malformed HTTP API / Function URL event: its query string is an object; expected a string',
    ],
    [
      'a source IP that is a number',
      (e) => (e.requestContext.http.sourceIp = 7),
      'malformed HTTP API / Function URL event: its source IP is a number; expected a string',
    ],
    [
      'a header whose value is an array',
      (e) => (e.headers['cloudfront-viewer-asn'] = [0]),
      'request header "cloudfront-viewer-asn" has an array as its value; expected a string',
    ],
  ];
  for (const [what, spoil, message] of notStrings) {
    it(`fails an HTTP event with ${what}, saying so, without running PHP`, async () => {
      const event = get('/dump.php') as unknown as Spoilable;
      spoil(event);
      const before = app.bridge.backend.pools[0]!.stats;
      await assert.rejects(app.handler(event, fakeContext()), (err: unknown) => {
        assert.ok(err instanceof BadEventError);
        assert.equal(err.message, message);
        return true;
      });
      assert.deepEqual(app.bridge.backend.pools[0]!.stats, before);
    });
  }

  for (const [forwarded, port] of [
    ['8443', '8443'],
    ['abc', '443'],
    ['70000', '443'],
    // What Number() would read as 8443.
    ['0x20fb', '443'],
    ['8.443e3', '443'],
    ['8443\u00a0', '443'],
  ] as const) {
    it(`takes SERVER_PORT ${port} from X-Forwarded-Port "${forwarded}" (anything but a port is ignored)`, async () => {
      const result = (await app.handler(
        get('/dump.php', '', { 'x-forwarded-port': forwarded }),
        fakeContext(),
      )) as APIGatewayProxyStructuredResultV2;
      assert.equal(JSON.parse(result.body!).server.SERVER_PORT, port);
    });
  }
});

describe('Lambda handler: eventsScript', () => {
  let app: LambdaApp;
  before(async () => {
    app = await start({ eventsScript: 'events.php' });
  });
  after(() => app.close());

  it('posts a non-HTTP event as JSON to the script and returns its JSON answer', async () => {
    assert.deepEqual(await app.handler(loadEvent('other', 'sqs'), fakeContext()), {
      records: loadEvent('other', 'sqs').Records.length,
      type: 'application/json',
    });
  });

  it('fails the invocation when the script answers outside 2xx, so the event is retried', async () => {
    await assert.rejects(app.handler({ answer: 500 }, fakeContext()), {
      message: '"eventsScript" /events.php answered 500 Internal Server Error: refused',
    });
  });
});

describe('Lambda handler: eventsScript past the invocation time', () => {
  let app: LambdaApp;
  before(async () => {
    app = await start({ eventsScript: 'sleep.php' });
  });
  after(() => app.close());

  it('fails the invocation and restarts php-fpm, so the next invocation finds its worker free', async () => {
    const supervisor = app.bridge.backend.supervisor!;
    const restarts = supervisor.restarts;
    await assert.rejects(app.handler(loadEvent('other', 'sqs'), fakeContext({ remainingMs: 1500 })), {
      code: 'FPM_BRIDGE_ERR_TIMEOUT',
    });
    assert.equal(supervisor.restarts, restarts + 1);
    const next = (await app.handler(get('/hello.txt'), fakeContext())) as APIGatewayProxyStructuredResultV2;
    assert.equal(next.statusCode, 200);
  });
});

describe('Lambda handler: limits and faults', () => {
  const log: LogEntry[] = [];
  let app: LambdaApp;
  before(async () => {
    app = await start({}, log);
  });
  after(() => app.close());

  it('answers 504 when PHP outlives the invocation, and restarts php-fpm so the next one is clean', async () => {
    const supervisor = app.bridge.backend.supervisor!;
    const restarts = supervisor.restarts;
    const result = (await app.handler(
      get('/sleep.php', 's=5'),
      fakeContext({ remainingMs: 1500 }),
    )) as APIGatewayProxyStructuredResultV2;
    assert.equal(result.statusCode, 504);
    assert.equal(result.body, '504 Gateway Timeout\n');
    assert.equal(supervisor.restarts, restarts + 1);
    const next = (await app.handler(get('/hello.txt'), fakeContext())) as APIGatewayProxyStructuredResultV2;
    assert.equal(next.statusCode, 200);
    assert.ok(log.some((e) => e.fields.code === 'FPM_BRIDGE_ERR_TIMEOUT'));
  });

  it('answers 502 to a GET whose worker is killed while PHP runs it, without running it again', async () => {
    const name = `killed-${process.pid}`;
    const file = join(tmpdir(), `ran-${name}.log`);
    rmSync(file, { force: true });
    try {
      const supervisor = app.bridge.backend.supervisor!;
      const running = app.handler(get('/ran.php', `name=${name}&s=10`), fakeContext({ remainingMs: 20_000 }));
      await waitFor(() => existsSync(file), 'the script to start');
      for (const worker of childrenOf(supervisor.pid!)) process.kill(worker, 'SIGKILL');
      const result = (await running) as APIGatewayProxyStructuredResultV2;
      assert.equal(result.statusCode, 502);
      assert.equal(readFileSync(file, 'utf8'), 'ran\n');
      const next = (await app.handler(get('/hello.txt'), fakeContext())) as APIGatewayProxyStructuredResultV2;
      assert.equal(next.statusCode, 200);
    } finally {
      rmSync(file, { force: true });
    }
  });

  it("tags PHP's log lines with the invocation's request id, php://stderr writes relayed by php-fpm too", async () => {
    await app.handler(get('/stderr.php'), fakeContext({ awsRequestId: 'tagged-1' }));
    const line = (text: string) => log.find((e) => e.msg?.includes(text));
    await waitFor(() => line('via php://stderr') !== undefined, "php-fpm's relay of the php://stderr line");
    assert.equal(line('via error_log')?.fields.requestId, 'tagged-1');
    assert.equal(line('via php://stderr')?.fields.requestId, 'tagged-1');
  });

  it('answers 504 without starting PHP when the invocation has no time left past timeoutMargin', async () => {
    const supervisor = app.bridge.backend.supervisor!;
    const restarts = supervisor.restarts;
    const result = (await app.handler(
      get('/dump.php'),
      fakeContext({ remainingMs: 800 }),
    )) as APIGatewayProxyStructuredResultV2;
    assert.equal(result.statusCode, 504);
    assert.equal(supervisor.restarts, restarts);
  });

  it('serves a request that arrives the moment php-fpm died: it waits for the restart, then runs', async () => {
    const supervisor = app.bridge.backend.supervisor!;
    // The whole php-fpm at once (the OOM killer). The event loop is held while the processes die, so the
    // request finds the socket dead before the supervisor has seen the exit.
    process.kill(-supervisor.pid!, 'SIGKILL');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    const result = (await app.handler(get('/dump.php'), fakeContext())) as APIGatewayProxyStructuredResultV2;
    assert.equal(result.statusCode, 200);
  });

  it('serves the next request after php-fpm was killed between invocations', async () => {
    const supervisor = app.bridge.backend.supervisor!;
    const restarts = supervisor.restarts;
    process.kill(supervisor.pid!, 'SIGKILL');
    // Between invocations: the supervisor has seen it die (and killed the workers it left) before the next.
    await waitFor(() => supervisor.restarts === restarts + 1, 'the supervisor to see php-fpm die');
    const result = (await app.handler(get('/dump.php'), fakeContext())) as APIGatewayProxyStructuredResultV2;
    assert.equal(result.statusCode, 200);
  });

  it('compresses a response over the 6 MB limit when the client accepts gzip', async () => {
    const result = (await app.handler(
      get('/big.php', 'mb=7&kind=text', { 'accept-encoding': 'gzip' }),
      fakeContext(),
    )) as APIGatewayProxyStructuredResultV2;
    assert.equal(result.statusCode, 200);
    assert.equal(result.headers?.['content-encoding'], 'gzip');
    assert.equal(result.isBase64Encoded, true);
    const text = gunzipSync(Buffer.from(result.body!, 'base64')).toString();
    assert.equal(text.length, Math.floor((7 * 1048576) / 33) * 33);
  });

  it('answers 502 and logs the sizes when even the compressed response is over the limit', async () => {
    const result = (await app.handler(
      get('/big.php', 'mb=10&kind=random', { 'accept-encoding': 'gzip, br' }),
      fakeContext(),
    )) as APIGatewayProxyStructuredResultV2;
    assert.equal(result.statusCode, 502);
    const entry = log.find((e) => e.fields.limit === 6 * 1024 * 1024);
    assert.ok(entry !== undefined);
    assert.match(entry.msg ?? '', /payload limit even compressed/);
  });
});

describe('Lambda handler: a sandbox frozen between invocations, with "timeout" set', () => {
  it("keeps the worker of the kept connection: php-fpm's clock ran on through the freeze, and nothing kills on thaw", async () => {
    const log: LogEntry[] = [];
    const app = await start({ timeout: 1000 }, log);
    try {
      const dump = (await app.handler(get('/dump.php'), fakeContext())) as APIGatewayProxyStructuredResultV2;
      assert.equal(dump.statusCode, 200);
      const pool = app.bridge.backend.pools[0]!;
      assert.equal(pool.stats.connections, 1, 'the connection is kept');
      const master = app.bridge.backend.supervisor!.pid!;
      const workers = childrenOf(master);
      // Lambda freezes the sandbox's processes; php-fpm's master and worker here, for 3 s: past the 2 s
      // (timeout + 1 s) a request_terminate_timeout would allow, as a frozen Lambda is for minutes.
      process.kill(-master, 'SIGSTOP');
      await new Promise((resolve) => setTimeout(resolve, 3000));
      process.kill(-master, 'SIGCONT');
      // The master's check (every third of request_terminate_timeout) runs on thaw: time to kill, if it would.
      await new Promise((resolve) => setTimeout(resolve, 2000));
      assert.deepEqual(childrenOf(master), workers);
      assert.deepEqual(
        log.filter((e) => /execution timed out/.test(e.msg ?? '')),
        [],
      );
      const next = (await app.handler(get('/dump.php'), fakeContext())) as APIGatewayProxyStructuredResultV2;
      assert.equal(next.statusCode, 200);
    } finally {
      await app.close();
    }
  });
});

describe('Lambda handler: failOn5xx', () => {
  it('fails the invocation when PHP answers 5xx', async () => {
    const app = await start({ failOn5xx: true });
    try {
      await assert.rejects(app.handler(get('/status.php', 'code=503'), fakeContext()), {
        message: 'PHP answered 503 Service Unavailable (failOn5xx is on)',
      });
    } finally {
      await app.close();
    }
  });
});

describe('Lambda streaming handler (Function URL, RESPONSE_STREAM)', () => {
  let app: LambdaApp;
  before(async () => {
    app = await start();
  });
  after(() => app.close());

  /** Stands in for awslambda.HttpResponseStream.from: records the prelude and collects the body. */
  function capture() {
    const chunks: Buffer[] = [];
    let metadata: Parameters<ResponseStreamFactory>[1] | null = null;
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        chunks.push(Buffer.from(chunk));
        done();
      },
    });
    const from: ResponseStreamFactory = (stream, m) => {
      metadata = m;
      return stream;
    };
    return { sink, from, metadata: () => metadata, body: () => Buffer.concat(chunks) };
  }

  it('streams a 10 MB response past the 6 MB buffered limit, with status and cookies in the prelude', async () => {
    const c = capture();
    await app.streamingHandler(get('/stream.php'), c.sink, fakeContext(), c.from);
    assert.equal(c.metadata()?.statusCode, 200);
    assert.equal(c.body().length, 10 * 1024 * 1024);
  });

  it('sends Set-Cookie as the prelude cookies', async () => {
    const c = capture();
    await app.streamingHandler(get('/headers.php'), c.sink, fakeContext(), c.from);
    assert.deepEqual(c.metadata()?.cookies, [
      'first=1',
      'second=two%20words; path=/sub; HttpOnly',
      'third=3; Secure',
    ]);
    assert.equal(c.metadata()?.headers['x-multi'], 'a, b');
    assert.equal(c.body().toString(), 'headers set');
  });

  it('sends no body for 204, even when PHP wrote one, nor to HEAD, and reads PHP to its end', async () => {
    const noContent = capture();
    await app.streamingHandler(get('/status.php', 'code=204'), noContent.sink, fakeContext(), noContent.from);
    assert.equal(noContent.metadata()?.statusCode, 204);
    assert.equal(noContent.body().length, 0);
    const head = capture();
    const event = get('/dump.php');
    event.requestContext.http.method = 'HEAD';
    await app.streamingHandler(event, head.sink, fakeContext(), head.from);
    assert.equal(head.metadata()?.statusCode, 200);
    assert.equal(head.body().length, 0);
    // The worker is free again: the next request is answered.
    const next = capture();
    await app.streamingHandler(get('/headers.php'), next.sink, fakeContext(), next.from);
    assert.equal(next.body().toString(), 'headers set');
  });

  it('answers a static file only to GET and HEAD: POST gets 405 with Allow, as under serve', async () => {
    const files = await start({ staticFiles: true });
    try {
      const post = get('/hello.txt');
      post.requestContext.http.method = 'POST';
      const refused = (await files.handler(post, fakeContext())) as APIGatewayProxyStructuredResultV2;
      assert.equal(refused.statusCode, 405);
      assert.equal(refused.headers?.allow, 'GET, HEAD');
      const head = get('/hello.txt');
      head.requestContext.http.method = 'HEAD';
      const headed = (await files.handler(head, fakeContext())) as APIGatewayProxyStructuredResultV2;
      assert.deepEqual([headed.statusCode, headed.body], [200, '']);
    } finally {
      await files.close();
    }
  });

  it('answers a static file with validators, 304 to a matching If-None-Match and 206 to a Range, as under serve', async () => {
    const files = await start({ staticFiles: true });
    try {
      const text = readFileSync(join(FIXTURES_DOCROOT, 'hello.txt'), 'utf8');
      const whole = (await files.handler(
        get('/hello.txt'),
        fakeContext(),
      )) as APIGatewayProxyStructuredResultV2;
      const etag = String(whole.headers?.etag);
      assert.deepEqual(
        {
          status: whole.statusCode,
          body: whole.body,
          etag: /^W\/"[0-9a-f]+-[0-9a-f]+"$/.test(etag),
          ranges: whole.headers?.['accept-ranges'],
          modified: typeof whole.headers?.['last-modified'],
        },
        { status: 200, body: text, etag: true, ranges: 'bytes', modified: 'string' },
      );
      const again = get('/hello.txt', '', { 'if-none-match': etag });
      const cached = (await files.handler(again, fakeContext())) as APIGatewayProxyStructuredResultV2;
      assert.deepEqual([cached.statusCode, cached.body, cached.headers?.etag], [304, '', etag]);
      const part = get('/hello.txt', '', { range: 'bytes=1-3' });
      const partial = (await files.handler(part, fakeContext())) as APIGatewayProxyStructuredResultV2;
      assert.deepEqual(
        [partial.statusCode, partial.body, partial.headers?.['content-range']],
        [206, text.slice(1, 4), `bytes 1-3/${Buffer.byteLength(text)}`],
      );
      const c = capture();
      await files.streamingHandler(part, c.sink, fakeContext(), c.from);
      assert.deepEqual([c.metadata()?.statusCode, c.body().toString()], [206, text.slice(1, 4)]);
    } finally {
      await files.close();
    }
  });

  it('answers HEAD for a static file with its type and no body', async () => {
    const files = await start({ staticFiles: true });
    try {
      const c = capture();
      const event = get('/hello.txt');
      event.requestContext.http.method = 'HEAD';
      await files.streamingHandler(event, c.sink, fakeContext(), c.from);
      assert.equal(c.metadata()?.statusCode, 200);
      assert.equal(c.metadata()?.headers['content-type'], 'text/plain; charset=utf-8');
      assert.equal(c.body().length, 0);
    } finally {
      await files.close();
    }
  });

  it('hands on UTF-8 header values from PHP as the characters they encode, in the prelude', async () => {
    const c = capture();
    await app.streamingHandler(get('/utf8-headers.php'), c.sink, fakeContext(), c.from);
    assert.equal(c.metadata()?.headers['x-name'], 'Zoë');
    assert.deepEqual(c.metadata()?.cookies, ['name=Zoë; Path=/']);
  });

  it('sends one prelude only: when PHP dies mid-body the body is cut short, no second prelude follows', async () => {
    const preludes: number[] = [];
    const sink = new Writable({
      write(_chunk, _enc, done) {
        done();
      },
    });
    const from: ResponseStreamFactory = (stream, m) => {
      preludes.push(m.statusCode);
      return stream;
    };
    // stream.php writes 10 MB; its worker is killed as soon as the prelude is out.
    const killing: ResponseStreamFactory = (stream, m) => {
      for (const worker of childrenOf(app.bridge.backend.supervisor!.pid!)) process.kill(worker, 'SIGKILL');
      return from(stream, m);
    };
    await app.streamingHandler(get('/stream.php'), sink, fakeContext(), killing);
    assert.deepEqual(preludes, [200]);
    assert.equal(sink.writableEnded, false);
  });

  it('answers 400 in the prelude for a %0a path', async () => {
    const c = capture();
    await app.streamingHandler(get('/index.php/%0Afoo'), c.sink, fakeContext(), c.from);
    assert.equal(c.metadata()?.statusCode, 400);
    assert.equal(c.body().toString(), '400 Bad Request\n');
  });
});
