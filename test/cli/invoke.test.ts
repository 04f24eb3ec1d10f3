import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, afterEach, before, describe, it } from 'node:test';
import { InvokeCommand, type InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { invoke } from '../../cli/invoke.ts';
import { AwsError, BadEventError, UsageError } from '../../proxy/errors.ts';
import { FIXTURES_DOCROOT } from '../support/bridge.ts';
import { runCli } from '../support/cli.ts';
import { EVENTS_DIR } from '../support/events.ts';

/** Runs `fpm-bridge invoke ARGS` in this process; resolves with what it printed on stdout. */
async function run(args: string[]): Promise<string> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d) => (text += d));
  await invoke(args, out);
  return text;
}

/** dump.php's answer inside an HTTP API result. */
interface DumpResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: boolean;
}

const fixture = (path: string) => join(EVENTS_DIR, path);
const md5 = (body: string | Buffer) => createHash('md5').update(body).digest('hex');

describe('fpm-bridge invoke, running the handler here on a real php-fpm', () => {
  it('builds an HTTP API event from --path, --method, --header and --body, and prints the result as JSON', async () => {
    const out = await run([
      '--path',
      '/dump.php/extra?x=1&y=%20',
      '--method',
      'put',
      '--header',
      'Content-Type: application/x-www-form-urlencoded',
      '--header',
      'Cookie: a=1; b=2',
      '--header',
      'X-Twice: one',
      '--header',
      'X-Twice: two',
      '--body',
      'name=%C3%BC&n=2',
      '--docroot',
      FIXTURES_DOCROOT,
    ]);
    const result = JSON.parse(out) as DumpResult;
    assert.equal(out, `${JSON.stringify(result, null, 2)}\n`);
    assert.equal(result.statusCode, 200);
    assert.equal(result.headers['content-type'], 'application/json');
    assert.equal(result.isBase64Encoded, false);
    const dump = JSON.parse(result.body) as { server: Record<string, string>; cookie: object; input: object };
    const s = dump.server;
    assert.deepEqual(
      {
        REQUEST_METHOD: s.REQUEST_METHOD,
        REQUEST_URI: s.REQUEST_URI,
        SCRIPT_NAME: s.SCRIPT_NAME,
        PATH_INFO: s.PATH_INFO,
        QUERY_STRING: s.QUERY_STRING,
        CONTENT_TYPE: s.CONTENT_TYPE,
        CONTENT_LENGTH: s.CONTENT_LENGTH,
        HTTP_HOST: s.HTTP_HOST,
        HTTP_X_TWICE: s.HTTP_X_TWICE,
        HTTPS: s.HTTPS,
        REMOTE_ADDR: s.REMOTE_ADDR,
      },
      {
        REQUEST_METHOD: 'PUT',
        REQUEST_URI: '/dump.php/extra?x=1&y=%20',
        SCRIPT_NAME: '/dump.php',
        PATH_INFO: '/extra',
        QUERY_STRING: 'x=1&y=%20',
        CONTENT_TYPE: 'application/x-www-form-urlencoded',
        CONTENT_LENGTH: '15',
        HTTP_HOST: 'localhost',
        HTTP_X_TWICE: 'one,two',
        HTTPS: 'on',
        REMOTE_ADDR: '127.0.0.1',
      },
    );
    assert.deepEqual(dump.cookie, { a: '1', b: '2' });
    assert.deepEqual(dump.input, { length: 15, md5: md5('name=%C3%BC&n=2') });
    // What the handler passes from the Context the local run made up.
    const invocation = JSON.parse(s.LAMBDA_INVOCATION_CONTEXT!) as { invokedFunctionArn: string };
    assert.equal(
      invocation.invokedFunctionArn,
      'arn:aws:lambda:local:000000000000:function:fpm-bridge-local',
    );
  });

  it('POSTs when --body is given without --method, reading the body from a file with @', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-invoke-'));
    try {
      const file = join(dir, 'body.bin');
      writeFileSync(file, Buffer.from([0, 1, 2, 255]));
      const result = JSON.parse(
        await run(['--path', '/dump.php', '--body', `@${file}`, '--docroot', FIXTURES_DOCROOT]),
      ) as DumpResult;
      const dump = JSON.parse(result.body) as { server: Record<string, string>; input: object };
      assert.equal(dump.server.REQUEST_METHOD, 'POST');
      assert.deepEqual(dump.input, { length: 4, md5: md5(Buffer.from([0, 1, 2, 255])) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('with --raw prints the status line, every header (each Set-Cookie apart) and the decoded body', async () => {
    const out = await run(['--path', '/headers.php', '--docroot', FIXTURES_DOCROOT, '--raw']);
    assert.equal(
      out.replace(/\nx-powered-by: PHP\/[\d.]+/, ''),
      [
        'HTTP/1.1 200 OK',
        'x-custom: one',
        'x-multi: a, b',
        'content-type: text/html; charset=UTF-8',
        'set-cookie: first=1',
        'set-cookie: second=two%20words; path=/sub; HttpOnly',
        'set-cookie: third=3; Secure',
        '',
        'headers set',
      ].join('\n'),
    );
  });

  it('with --raw decodes a base64 body back to its bytes', async () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (d: Buffer) => chunks.push(d));
    await invoke(['--path', '/binary.php', '--docroot', FIXTURES_DOCROOT, '--raw'], out);
    const raw = Buffer.concat(chunks);
    const split = raw.indexOf('\n\n');
    assert.match(raw.subarray(0, split).toString(), /^HTTP\/1\.1 200 OK\n/);
    const result = JSON.parse(
      await run(['--path', '/binary.php', '--docroot', FIXTURES_DOCROOT]),
    ) as DumpResult;
    assert.equal(result.isBase64Encoded, true);
    assert.deepEqual(raw.subarray(split + 2), Buffer.from(result.body, 'base64'));
  });

  it('runs an event file as it is: a REST API event gets a multi-value reply', async () => {
    const result = JSON.parse(
      await run([fixture('apigw-rest/get-query.json'), '--docroot', FIXTURES_DOCROOT]),
    ) as { statusCode: number; multiValueHeaders: Record<string, string[]>; body: string };
    assert.equal(result.statusCode, 200);
    assert.deepEqual(result.multiValueHeaders['Content-type'] ?? result.multiValueHeaders['Content-Type'], [
      'application/json',
    ]);
    const dump = JSON.parse(result.body) as { server: Record<string, string> };
    // The REST adapter rebuilt the query from the fixture's decoded parameters.
    assert.equal(dump.server.REQUEST_URI, '/search?a[]=1&a[]=2&empty=&q=hello%20world&plus=a%2Bb');
  });

  it('reads settings from --config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-invoke-'));
    try {
      const config = join(dir, 'fpm-bridge.yml');
      writeFileSync(config, `docroot: ${FIXTURES_DOCROOT}\nfrontController: false\n`);
      const result = JSON.parse(await run(['--path', '/no-such-page', '--config', config])) as DumpResult;
      assert.equal(result.statusCode, 404);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("fails with the handler's one-line error for an event it does not handle", async () => {
    await assert.rejects(
      run([fixture('other/sqs.json'), '--docroot', FIXTURES_DOCROOT]),
      new BadEventError(
        'fpm-bridge received an SQS event; it handles API Gateway (REST, HTTP API), ALB and Function URL events — set "eventsScript" to send other events to a PHP script',
      ),
    );
  });

  describe('refuses a command line that does not say one event', () => {
    const cases: [string, string[], string][] = [
      [
        'no event at all',
        [],
        'give an event: EVENT.json, or --path /some/path — run "fpm-bridge invoke --help"',
      ],
      ['an event file and --path', ['e.json', '--path', '/'], 'pass an event file or --path, not both'],
      [
        'the event file twice',
        ['e.json', '--event', 'f.json'],
        'name the event file once: as EVENT.json or with --event, not both',
      ],
      [
        '--method without --path',
        ['e.json', '--method', 'POST'],
        '--method builds a request with --path; it needs --path',
      ],
      [
        'a header without a colon',
        ['--path', '/', '--header', 'X-A'],
        'invalid --header "X-A" — expected "Name: value"',
      ],
      [
        '--endpoint without --function',
        ['--path', '/', '--endpoint', 'http://127.0.0.1:3002'],
        '--endpoint needs --function NAME: the function to invoke',
      ],
      [
        '--docroot with --function',
        ['--path', '/', '--function', 'web', '--docroot', '.'],
        '--docroot is for local runs; drop it or --function',
      ],
      [
        'an event file that is not there',
        ['/nonexistent/e.json'],
        'cannot read the event file /nonexistent/e.json (ENOENT)',
      ],
      [
        'a --body file that is not there',
        ['--path', '/', '--body', '@/nonexistent/body'],
        'cannot read --body file /nonexistent/body (ENOENT)',
      ],
    ];
    for (const [what, args, message] of cases) {
      it(what, async () => {
        await assert.rejects(run(args), new UsageError(message));
      });
    }
  });
});

describe('fpm-bridge invoke as a process', () => {
  /** Processes whose environment holds `marker` (php-fpm inherits the CLI's environment). */
  function processesMarked(marker: string): number[] {
    const pids: number[] = [];
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        if (readFileSync(`/proc/${pid}/environ`, 'utf8').includes(marker)) pids.push(Number(pid));
      } catch {
        // Gone meanwhile, or not ours to read.
      }
    }
    return pids;
  }

  it('prints the result, stops php-fpm and exits 0', async () => {
    const marker = `FPM_BRIDGE_TEST_RUN=${randomUUID()}`;
    const { code, stdout, stderr } = await runCli(
      ['invoke', '--path', '/status.php?code=418', '--docroot', FIXTURES_DOCROOT],
      { FPM_BRIDGE_TEST_RUN: marker.slice(marker.indexOf('=') + 1) },
    );
    assert.equal(code, 0, stderr);
    const result = JSON.parse(stdout) as DumpResult;
    assert.equal(result.statusCode, 418);
    assert.equal(result.body, 'status set');
    assert.deepEqual(processesMarked(marker), []);
  });

  it('exits 1 with one line when the handler refuses the event, leaving no php-fpm behind', async () => {
    const marker = `FPM_BRIDGE_TEST_RUN=${randomUUID()}`;
    const { code, stdout, stderr } = await runCli(
      ['invoke', fixture('other/empty-object.json'), '--docroot', FIXTURES_DOCROOT],
      { FPM_BRIDGE_TEST_RUN: marker.slice(marker.indexOf('=') + 1) },
    );
    assert.deepEqual(
      { code, stdout, stderr },
      {
        code: 1,
        stdout: '',
        stderr:
          'fpm-bridge: fpm-bridge received an empty event {}; it handles API Gateway (REST, HTTP API), ALB and Function URL events — set "eventsScript" to send other events to a PHP script\n',
      },
    );
    assert.deepEqual(processesMarked(marker), []);
  });

  it('prints its help', async () => {
    const { code, stdout } = await runCli(['invoke', '--help']);
    assert.equal(code, 0);
    assert.match(stdout, /^Usage: fpm-bridge invoke \[EVENT\.json\] \[options\]\n/);
  });
});

/** A payload as the SDK hands it over (its blob type is a Uint8Array with helpers the CLI does not use). */
function payload(value: unknown): InvokeCommandOutput['Payload'] {
  return Buffer.from(JSON.stringify(value)) as unknown as InvokeCommandOutput['Payload'];
}

describe('fpm-bridge invoke --function, calling Lambda Invoke', () => {
  const lambda = mockClient(LambdaClient);
  // With --endpoint the CLI looks for credentials before it falls back to placeholders: keep that lookup
  // off the EC2 metadata address, whatever machine the tests run on.
  const metadata = process.env.AWS_EC2_METADATA_DISABLED;
  before(() => {
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
  });
  afterEach(() => lambda.reset());
  after(() => {
    lambda.restore();
    if (metadata === undefined) delete process.env.AWS_EC2_METADATA_DISABLED;
    else process.env.AWS_EC2_METADATA_DISABLED = metadata;
  });

  const RESULT = {
    statusCode: 201,
    headers: { 'content-type': 'text/plain' },
    cookies: ['a=1'],
    body: 'aGk=',
    isBase64Encoded: true,
  };

  it('sends the event file as the payload and prints the decoded result', async () => {
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: payload(RESULT) });
    const file = fixture('apigw-http/get-query.json');
    const out = await run([file, '--function', 'fpm-bridge-demo-dev-web', '--region', 'eu-west-1']);
    assert.equal(out, `${JSON.stringify(RESULT, null, 2)}\n`);
    const calls = lambda.commandCalls(InvokeCommand);
    assert.equal(calls.length, 1);
    const { FunctionName, Payload, ...rest } = calls[0]!.args[0].input;
    assert.deepEqual(rest, {});
    assert.equal(FunctionName, 'fpm-bridge-demo-dev-web');
    assert.equal(
      Buffer.from(Payload as Uint8Array).toString(),
      JSON.stringify(JSON.parse(readFileSync(file, 'utf8'))),
    );
  });

  it('sends the HTTP API event --path builds, and with --raw prints the response', async () => {
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: payload(RESULT) });
    const out = await run([
      '--path',
      '/hello?who=you',
      '--header',
      'Accept: text/plain',
      '--function',
      'web',
      '--region',
      'eu-west-1',
      '--raw',
    ]);
    assert.equal(out, 'HTTP/1.1 201 Created\ncontent-type: text/plain\nset-cookie: a=1\n\nhi');
    const sent = JSON.parse(
      Buffer.from(lambda.commandCalls(InvokeCommand)[0]!.args[0].input.Payload as Uint8Array).toString(),
    ) as APIGatewayProxyEventV2;
    const { requestId, time, timeEpoch } = sent.requestContext;
    assert.deepEqual(sent, {
      version: '2.0',
      routeKey: '$default',
      rawPath: '/hello',
      rawQueryString: 'who=you',
      headers: { accept: 'text/plain', host: 'localhost' },
      requestContext: {
        accountId: 'anonymous',
        apiId: 'local',
        domainName: 'localhost',
        domainPrefix: 'localhost',
        http: { method: 'GET', path: '/hello', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: '' },
        requestId,
        routeKey: '$default',
        stage: '$default',
        time,
        timeEpoch,
      },
      isBase64Encoded: false,
      queryStringParameters: { who: 'you' },
    });
  });

  it("fails with the function's errorType and errorMessage when it threw (FunctionError)", async () => {
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      FunctionError: 'Unhandled',
      Payload: payload({
        errorType: 'BadEventError',
        errorMessage: 'fpm-bridge received an SQS event',
        trace: [],
      }),
    });
    await assert.rejects(
      run([fixture('other/sqs.json'), '--function', 'web', '--region', 'eu-west-1']),
      new AwsError('function "web" failed (Unhandled): BadEventError: fpm-bridge received an SQS event'),
    );
  });

  it('names the endpoint when the function is not found there', async () => {
    lambda
      .on(InvokeCommand)
      .rejects(Object.assign(new Error('Function not found: nope'), { name: 'ResourceNotFoundException' }));
    await assert.rejects(
      run(['--path', '/', '--function', 'nope', '--endpoint', 'http://127.0.0.1:3002']),
      new AwsError(
        'Invoke "nope" at http://127.0.0.1:3002: not found (ResourceNotFoundException: Function not found: nope) — check the name and the region',
      ),
    );
  });
});
