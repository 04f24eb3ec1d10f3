/**
 * Environment values naming SSM parameters (`bref-ssm:/path`, `ssm:/path`), resolved at Lambda init
 * (handler/ssm-env.ts): against moto's SSM with a real php-fpm and php CLI reading them, and with
 * aws-sdk-client-mock for what moto does not produce (access denied, no credentials).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { GetParametersCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { httpApiEvent } from '../../handler/http-api-event.ts';
import { createLambdaApp } from '../../handler/runtime.ts';
import { parameterResource, resolveSsmEnvironment, ssmReferences } from '../../handler/ssm-env.ts';
import { SsmError } from '../../proxy/errors.ts';
import { run } from '../e2e/serverless.ts';
import { type LogEntry, recordingLogger } from '../support/bridge.ts';
import { ROOT } from '../support/cli.ts';
import { fakeContext } from '../support/lambda-context.ts';
import { type Moto, motoMissing, startMoto } from '../support/moto.ts';

/** Sets process.env keys for a test and gives back a function that puts the old values back. */
function setEnv(values: Record<string, string | undefined>): () => void {
  const old = Object.fromEntries(Object.keys(values).map((k) => [k, process.env[k]]));
  const apply = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) delete process.env[k];
      else process.env[k] = x;
    }
  };
  apply(values);
  return () => apply(old);
}

describe('ssm: references in the environment', () => {
  it("finds Bref's bref-ssm: and fpm-bridge's ssm: values, and nothing else", () => {
    assert.deepEqual(
      ssmReferences({
        A: 'bref-ssm:/app/a',
        B: 'ssm:/app/b',
        C: 'ssm:shared-name:3',
        D: 'https://ssm:443/',
        E: 'plain',
        F: undefined,
      }),
      [
        { variable: 'A', parameter: '/app/a' },
        { variable: 'B', parameter: '/app/b' },
        { variable: 'C', parameter: 'shared-name:3' },
      ],
    );
  });

  it('names the parameter an IAM policy grants: path or ARN, without a version or label', () => {
    assert.deepEqual(
      ['/app/a', '/app/a:3', 'plain:prod', 'arn:aws:ssm:eu-west-1:210987654321:parameter/shared/key:2'].map(
        parameterResource,
      ),
      [
        { path: 'parameter/app/a' },
        { path: 'parameter/app/a' },
        { path: 'parameter/plain' },
        { arn: 'arn:aws:ssm:eu-west-1:210987654321:parameter/shared/key' },
      ],
    );
  });
});

describe('resolving ssm: values (aws-sdk-client-mock)', () => {
  const ssm = mockClient(SSMClient);
  const log: LogEntry[] = [];
  let restore: () => void;
  before(() => {
    restore = setEnv({ AWS_REGION: 'eu-west-1' });
  });
  after(() => {
    restore();
    ssm.restore();
  });
  afterEach(() => {
    ssm.reset();
    log.length = 0;
  });

  it('leaves an environment that names no parameter alone, calling nothing', async () => {
    const env = { A: 'plain', B: 'https://ssm:443/' };
    await resolveSsmEnvironment(env, recordingLogger(log));
    assert.deepEqual(env, { A: 'plain', B: 'https://ssm:443/' });
    assert.equal(ssm.calls().length, 0);
    assert.deepEqual(log, []);
  });

  it('replaces each value with its parameter, reading 12 names in two calls of 10 and 2, decrypted', async () => {
    ssm.on(GetParametersCommand).callsFake((input: { Names: string[] }) => ({
      Parameters: input.Names.map((n) => ({ Name: n, Value: `value of ${n}` })),
      InvalidParameters: [],
    }));
    const env: NodeJS.ProcessEnv = { PLAIN: 'x', SAME: 'ssm:/p/0' };
    for (let i = 0; i < 12; i++) env[`V${i}`] = `${i % 2 ? 'bref-ssm' : 'ssm'}:/p/${i}`;
    await resolveSsmEnvironment(env, recordingLogger(log));
    const names = Array.from({ length: 12 }, (_, i) => `/p/${i}`);
    assert.deepEqual(
      ssm.commandCalls(GetParametersCommand).map((c) => c.args[0].input),
      [
        { Names: names.slice(0, 10), WithDecryption: true },
        { Names: names.slice(10), WithDecryption: true },
      ],
    );
    assert.equal(env.PLAIN, 'x');
    assert.equal(env.SAME, 'value of /p/0');
    for (let i = 0; i < 12; i++) assert.equal(env[`V${i}`], `value of /p/${i}`);
    assert.deepEqual(log[0]?.msg, 'environment values read from SSM Parameter Store');
  });

  it("matches a version or label selector with SSM's answer, which gives it apart from the name", async () => {
    ssm.on(GetParametersCommand).resolves({
      Parameters: [
        { Name: '/app/key', Selector: ':3', Value: 'third' },
        { Name: '/app/key', Selector: ':prod', Value: 'live' },
      ],
    });
    const env = { OLD: 'ssm:/app/key:3', LIVE: 'ssm:/app/key:prod' };
    await resolveSsmEnvironment(env, recordingLogger(log));
    assert.deepEqual(env, { OLD: 'third', LIVE: 'live' });
  });

  it('names the parameters not found and the variables that name them, and changes nothing', async () => {
    ssm.on(GetParametersCommand).resolves({
      Parameters: [{ Name: '/app/here', Value: 'x' }],
      InvalidParameters: ['/app/gone', '/app/typo'],
    });
    const env = {
      HERE: 'ssm:/app/here',
      GONE: 'bref-ssm:/app/gone',
      ALSO: 'ssm:/app/gone',
      TYPO: 'ssm:/app/typo',
    };
    await assert.rejects(resolveSsmEnvironment(env, recordingLogger(log)), (err: unknown) => {
      assert.ok(err instanceof SsmError);
      assert.equal(err.code, 'FPM_BRIDGE_ERR_SSM');
      assert.equal(
        err.message,
        "SSM parameters not found in eu-west-1: /app/gone (GONE, ALSO), /app/typo (TYPO) — create them (aws ssm put-parameter --region eu-west-1 --name /app/gone --type SecureString --value …) or correct the name in the function's environment",
      );
      return true;
    });
    assert.equal(env.HERE, 'ssm:/app/here');
  });

  it('names ssm:GetParameters and the ARNs to allow when the role may not read the parameters', async () => {
    const denied = Object.assign(
      new Error(
        'User: arn:aws:sts::123456789012:assumed-role/app-dev-eu-west-1-lambdaRole/app-dev-web is not authorized to perform: ssm:GetParameters on resource: arn:aws:ssm:eu-west-1:123456789012:parameter/app/db because no identity-based policy allows the ssm:GetParameters action',
      ),
      { name: 'AccessDeniedException' },
    );
    ssm.on(GetParametersCommand).rejects(denied);
    const env = { DB: 'bref-ssm:/app/db', KEY: 'ssm:/app/key:2' };
    await assert.rejects(resolveSsmEnvironment(env, recordingLogger(log)), (err: unknown) => {
      assert.ok(err instanceof SsmError);
      assert.equal(
        err.message,
        `the function may not read SSM parameters /app/db (DB), /app/key:2 (KEY) (AccessDeniedException: ${denied.message}) — allow ssm:GetParameters on arn:aws:ssm:eu-west-1:123456789012:parameter/app/db, arn:aws:ssm:eu-west-1:123456789012:parameter/app/key in its role (the fpm-bridge Serverless plugin does for the ssm: values of serverless.yml); a SecureString under a customer managed KMS key also needs kms:Decrypt on that key`,
      );
      return true;
    });
  });

  it('says there are no credentials, and where they come from, when the SDK finds none', async () => {
    ssm.on(GetParametersCommand).rejects(
      Object.assign(new Error('Could not load credentials from any providers'), {
        name: 'CredentialsProviderError',
      }),
    );
    await assert.rejects(resolveSsmEnvironment({ A: 'ssm:/a' }, recordingLogger(log)), {
      name: 'SsmError',
      message:
        "no AWS credentials to read SSM parameters /a (A) — on Lambda the function's role provides them; elsewhere set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (Could not load credentials from any providers)",
    });
  });

  it('refuses a value that names no parameter, before calling SSM', async () => {
    await assert.rejects(resolveSsmEnvironment({ A: 'ssm:' }, recordingLogger(log)), {
      name: 'SsmError',
      message:
        'environment variable A is "ssm:", which names no SSM parameter — write ssm:/path/to/parameter (or bref-ssm:/path/to/parameter)',
    });
    assert.equal(ssm.calls().length, 0);
  });
});

describe('ssm: values against SSM (moto), read by php-fpm and the php CLI', {
  skip: motoMissing() ?? false,
}, () => {
  let moto: Moto;
  let root = '';
  let restore = () => {};
  const secrets = Array.from({ length: 11 }, (_, i) => [`/fpm-bridge-test/n${i}`, `value ${i} é`] as const);

  before(async () => {
    moto = await startMoto();
    restore = setEnv({
      AWS_ENDPOINT_URL: moto.url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_SESSION_TOKEN: undefined,
      AWS_PROFILE: undefined,
    });
    const client = new SSMClient({});
    try {
      await client.send(
        new PutParameterCommand({
          Name: '/fpm-bridge-test/db-password',
          Type: 'SecureString',
          Value: 's3cret',
        }),
      );
      await client.send(
        new PutParameterCommand({ Name: 'plain-name', Type: 'String', Value: 'plain value' }),
      );
      for (const [Name, Value] of secrets)
        await client.send(new PutParameterCommand({ Name, Type: 'String', Value }));
    } finally {
      client.destroy();
    }
    root = mkdtempSync(join(tmpdir(), 'fpm-bridge-ssm-'));
    writeFileSync(
      join(root, 'env.php'),
      "<?php\nheader('Content-Type: application/json');\n$names = json_decode(file_get_contents('php://input'), true) ?? [];\necho json_encode(array_map(fn ($n) => getenv($n), array_combine($names, $names)));\n",
    );
  });
  after(async () => {
    restore();
    await moto.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('gives PHP the parameters, SecureStrings decrypted, in php-fpm and in cli commands alike', async () => {
    const names = ['DB_PASSWORD', 'PLAIN', ...secrets.map((_, i) => `N${i}`)];
    const undo = setEnv({
      DB_PASSWORD: 'bref-ssm:/fpm-bridge-test/db-password',
      PLAIN: 'ssm:plain-name',
      ...Object.fromEntries(secrets.map(([name], i) => [`N${i}`, `ssm:${name}`])),
    });
    const log: LogEntry[] = [];
    try {
      const app = await createLambdaApp({
        taskRoot: root,
        env: {},
        overrides: { docroot: root },
        log: recordingLogger(log),
      });
      try {
        const result = (await app.handler(
          httpApiEvent({ method: 'POST', target: '/env.php', body: Buffer.from(JSON.stringify(names)) }),
          fakeContext(),
        )) as APIGatewayProxyStructuredResultV2;
        assert.deepEqual(JSON.parse(result.body!), {
          DB_PASSWORD: 's3cret',
          PLAIN: 'plain value',
          ...Object.fromEntries(secrets.map(([, value], i) => [`N${i}`, value])),
        });
        const cli = await app.handler({ cli: '-r "echo getenv(\'DB_PASSWORD\');"' }, fakeContext());
        assert.deepEqual(cli, { exitCode: 0, output: 's3cret' });
      } finally {
        await app.close();
      }
      assert.deepEqual(
        log.find((e) => e.msg === 'environment values read from SSM Parameter Store')?.fields.variables,
        names,
      );
    } finally {
      undo();
    }
  });

  it("runs from the bundle, which imports the SDK from handler-ssm.mjs beside it; the SDK's own awslambda global is not taken for Lambda's", async () => {
    const build = await run(process.execPath, ['scripts/build.mjs'], 60_000);
    assert.equal(build.code, 0, build.output);
    const event = httpApiEvent({ method: 'POST', target: '/env.php', body: Buffer.from('["DB_PASSWORD"]') });
    const code = `const m = await import(${JSON.stringify(join(ROOT, 'dist', 'handler.js'))});
      const r = await m.handler(${JSON.stringify(event)}, { awsRequestId: 'x', invokedFunctionArn: 'x', getRemainingTimeInMillis: () => 30000 });
      process.stdout.write(JSON.stringify({ streaming: typeof m.streamingHandler, body: r.body }));
      process.exit(0);`;
    const child = await run(process.execPath, ['--input-type=module', '-e', code], 60_000, {
      env: {
        LAMBDA_TASK_ROOT: root,
        FPM_BRIDGE_DOCROOT: root,
        DB_PASSWORD: 'bref-ssm:/fpm-bridge-test/db-password',
        // The SDK's advice to move to Node 22 would fill stderr, which is read with stdout here.
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
    });
    assert.equal(child.code, 0, child.output);
    const result = JSON.parse(child.output.slice(child.output.lastIndexOf('{"streaming"')));
    assert.deepEqual(result, { streaming: 'undefined', body: '{"DB_PASSWORD":"s3cret"}' });
  });

  it('fails the init naming the parameter SSM does not have, and starts no php-fpm', async () => {
    const undo = setEnv({
      APP_KEY: 'bref-ssm:/fpm-bridge-test/missing',
      DB_PASSWORD: 'ssm:/fpm-bridge-test/db-password',
    });
    try {
      await assert.rejects(
        createLambdaApp({ taskRoot: root, env: {}, overrides: { docroot: root }, log: recordingLogger([]) }),
        {
          name: 'SsmError',
          message:
            "SSM parameter not found in us-east-1: /fpm-bridge-test/missing (APP_KEY) — create it (aws ssm put-parameter --region us-east-1 --name /fpm-bridge-test/missing --type SecureString --value …) or correct the name in the function's environment",
        },
      );
    } finally {
      undo();
    }
  });
});
