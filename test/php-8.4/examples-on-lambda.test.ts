/**
 * examples/laravel and examples/symfony as their own serverless.yml packages them (`serverless package`,
 * offline, with fpm-bridge's plugin), then as Lambda runs the package: the function's zip at /var/task and
 * the PHP 8.4 layer at /opt, both read-only, as an unprivileged user in a bubblewrap sandbox
 * (test/support/lambda-sandbox.ts). Nothing in the apps says where to write: whatever the frameworks write
 * must land in /tmp by fpm-bridge's defaults, or the page, the job or the schedule fails.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SQSEvent } from 'aws-lambda';
import { copyWithPlugin, resourcesOf, run, SERVERLESS, zipEntries } from '../e2e/serverless.ts';
import { FIXTURES_DOCROOT } from '../support/bridge.ts';
import { ROOT } from '../support/cli.ts';
import { loadEvent } from '../support/events.ts';
import { appDir, type ExampleApp, ensureVendor, jsonLogText, SUITE_PHP } from '../support/example-apps.ts';
import { eventFor, seen } from '../support/http-events.ts';
import { type DeployedFunction, type Invocation, invokeInSandbox } from '../support/lambda-sandbox.ts';
import { layerPhpMissing } from '../support/layer-php.ts';

const LAYER_ARN = 'arn:aws:lambda:us-east-1:123456789012:layer:fpm-bridge-php-84:1';
const PACKAGE_TIMEOUT_MS = 120_000;

const skip =
  layerPhpMissing('8.4') ??
  (spawnSync('bwrap', ['--version']).status === 0 ? false : 'no bwrap (Debian package bubblewrap)');

/** What CloudFormation would resolve the template's references to, for the function's environment. */
const RESOLVED: Record<string, string> = {
  SQS_QUEUE: 'https://sqs.us-east-1.amazonaws.com/123456789012/jobs',
  MESSENGER_TRANSPORT_DSN: 'https://sqs.us-east-1.amazonaws.com/123456789012/messages?auto_setup=false',
};

interface Packaged {
  template: { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
  zip: Buffer;
  /** The zip unpacked, as Lambda unpacks it to /var/task. */
  task: string;
}

/** `serverless package` of a copy of the example with the plugin installed, and its zip unpacked. */
async function packageExample(app: ExampleApp, work: string): Promise<Packaged> {
  const dir = join(work, 'service');
  copyWithPlugin(appDir(app), dir);
  const out = join(work, 'out');
  const result = await run(
    process.execPath,
    [SERVERLESS, 'package', '--package', out, '--param', `phpLayer=${LAYER_ARN}`],
    PACKAGE_TIMEOUT_MS,
    { cwd: dir },
  );
  assert.equal(result.code, 0, result.output);
  const zipFile = join(out, `fpm-bridge-${app}.zip`);
  const task = join(work, 'task');
  mkdirSync(task);
  execFileSync('unzip', ['-q', zipFile, '-d', task]);
  return {
    template: JSON.parse(readFileSync(join(out, 'cloudformation-template-update-stack.json'), 'utf8')),
    zip: readFileSync(zipFile),
    task,
  };
}

/** The function `name` of the template, to run in the sandbox with its environment resolved. */
function deployed(packaged: Packaged, name: string): DeployedFunction {
  const fn = packaged.template.Resources[`${name[0]!.toUpperCase()}${name.slice(1)}LambdaFunction`]!;
  const p = fn.Properties as {
    FunctionName: string;
    Handler: string;
    MemorySize: number;
    Timeout: number;
    Environment: { Variables: Record<string, unknown> };
  };
  const environment = Object.fromEntries(
    Object.entries(p.Environment.Variables).map(([k, v]) => [k, typeof v === 'string' ? v : RESOLVED[k]!]),
  );
  return {
    layer: '/opt',
    task: packaged.task,
    name: p.FunctionName,
    arn: `arn:aws:lambda:us-east-1:123456789012:function:${p.FunctionName}`,
    handler: p.Handler,
    memoryMb: p.MemorySize,
    timeoutS: p.Timeout,
    environment,
  };
}

/** An SQS event of the example's messages for each visitor, made by the app's own code (test/fixtures/apps). */
function sqsEvent(
  app: ExampleApp,
  work: string,
  ids: readonly string[],
  visitors: readonly string[],
): SQSEvent {
  const script = join(
    FIXTURES_DOCROOT,
    '..',
    'apps',
    app === 'laravel' ? 'laravel-job.php' : 'symfony-message.php',
  );
  // Laravel writes its bootstrap caches as it boots: not into the checkout.
  const env = {
    ...process.env,
    LARAVEL_STORAGE_PATH: join(work, 'storage'),
    APP_SERVICES_CACHE: join(work, 'services.php'),
    APP_PACKAGES_CACHE: join(work, 'packages.php'),
  };
  mkdirSync(join(work, 'storage', 'framework', 'views'), { recursive: true });
  const lines = execFileSync(SUITE_PHP.cli, [script, appDir(app), ...visitors], { encoding: 'utf8', env })
    .trim()
    .split('\n');
  const event = loadEvent('other', 'sqs');
  event.Records = lines.map((line, i) => ({
    ...event.Records[0]!,
    messageId: ids[i]!,
    body: app === 'laravel' ? line : (JSON.parse(line) as string),
  }));
  return event;
}

/** The properties of the template's one resource of `type`. */
function one(packaged: Packaged, type: string): Record<string, unknown> {
  const found = resourcesOf(packaged.template).ofType(type);
  assert.equal(found.length, 1, type);
  return found[0]![1].Properties;
}

const result = (i: Invocation) => {
  assert.equal(i.errorMessage, undefined, i.errorMessage);
  return i.result as Record<string, unknown>;
};

describe('the examples packaged by their serverless.yml, run as Lambda runs them', { skip }, () => {
  const work = mkdtempSync(join(tmpdir(), 'fpm-bridge-examples-lambda-'));
  before(async () => {
    const build = await run(process.execPath, ['scripts/build.mjs'], PACKAGE_TIMEOUT_MS, { cwd: ROOT });
    assert.equal(build.code, 0, build.output);
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  describe('Laravel', () => {
    const dir = join(work, 'laravel');
    let packaged: Packaged;
    before(async () => {
      await ensureVendor('laravel');
      mkdirSync(dir);
      packaged = await packageExample('laravel', dir);
    });

    it('packages the app, vendor/ and fpm-bridge, but not storage/', () => {
      const entries = zipEntries(packaged.zip);
      for (const file of ['.fpm-bridge/handler.mjs', '.fpm-bridge/php/laravel-sqs.php', 'artisan', '.env']) {
        assert.ok(entries.includes(file), file);
      }
      assert.ok(entries.includes('vendor/Illuminate/Foundation/Application.php'));
      assert.deepEqual(
        entries.filter((e) => e.startsWith('storage/') || e.startsWith('node_modules/')),
        [],
      );
    });

    it('wires the HTTP API, the queue with ReportBatchItemFailures and the schedule to PHP functions', () => {
      const { resources, ofType } = resourcesOf(packaged.template);
      for (const name of ['Web', 'Queue', 'Scheduler']) {
        const p = resources[`${name}LambdaFunction`]!.Properties;
        assert.deepEqual(
          [p.Handler, p.Runtime, p.Layers],
          ['.fpm-bridge/handler.handler', 'nodejs22.x', [LAYER_ARN]],
        );
      }
      const mapping = one(packaged, 'AWS::Lambda::EventSourceMapping');
      assert.deepEqual(mapping, {
        BatchSize: 10,
        EventSourceArn: { 'Fn::GetAtt': ['JobsQueue', 'Arn'] },
        FunctionName: { 'Fn::GetAtt': ['QueueLambdaFunction', 'Arn'] },
        Enabled: true,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
      const rule = one(packaged, 'AWS::Events::Rule');
      assert.equal(rule.ScheduleExpression, 'rate(1 minute)');
      assert.equal(ofType('AWS::ApiGatewayV2::Route').length, 1);
    });

    it('serves a page, runs artisan, a batch of jobs and the scheduler from a read-only /var/task', async () => {
      const events = [
        eventFor('apigw-http', { target: '/hello/Zo%C3%AB' }),
        eventFor('apigw-http', {
          method: 'POST',
          target: '/api/orders',
          headers: [
            ['content-type', 'application/json'],
            ['accept', 'application/json'],
          ],
          body: Buffer.from('{"quantity":0}'),
        }),
        { cli: 'artisan app:greet Zoë' },
        sqsEvent('laravel', dir, ['good-1', 'bad-2'], ['Zoë', 'crash']),
        loadEvent('other', 'schedule'),
        {
          cli: `-r 'echo file_get_contents("/tmp/storage/app/visits.log"), count(glob("/tmp/storage/framework/views/*.php"));'`,
        },
      ];
      const web = await invokeInSandbox(deployed(packaged, 'web'), events);
      const [page, invalid, greeted, batch, scheduled, written] = web.invocations.map(result);
      assert.equal(seen(page).status, 200);
      assert.match(seen(page).body.toString(), /<h1>Hello, Zoë!<\/h1>[\s\S]*on PHP 8\.4\.\d+<\/footer>/);
      assert.equal(seen(invalid).status, 422);
      assert.deepEqual(Object.keys(JSON.parse(seen(invalid).body.toString()).errors), ['item', 'quantity']);
      assert.deepEqual(greeted, { exitCode: 0, output: greeted!.output });
      assert.match(String(greeted!.output), /^Hello, Zoë, from artisan on PHP 8\.4\.\d+\n$/);
      assert.deepEqual(batch, { batchItemFailures: [{ itemIdentifier: 'bad-2' }] });
      assert.equal(scheduled!.exitCode, 0);
      // The visit the good job recorded, and the compiled views (the page's and its layout).
      assert.deepEqual(written, { exitCode: 0, output: 'Zoë\n2' });
      // Laravel's log is the function's (LOG_CHANNEL=errorlog), with the id of the invocation it belongs to.
      const batchId = '00000000-0000-4000-8000-000000000003';
      assert.match(
        jsonLogText(web.log),
        new RegExp(`production\\.ERROR: cannot record a visit for "crash".*"requestId":"${batchId}"`),
      );
      assert.match(
        jsonLogText(web.log),
        /#0 \/var\/task\/vendor\/Illuminate\/Container\/BoundMethod\.php.*"requestId":"00000000-0000-4000-8000-000000000003"/,
      );
    });
  });

  describe('Symfony', () => {
    const dir = join(work, 'symfony');
    let packaged: Packaged;
    before(async () => {
      await ensureVendor('symfony');
      mkdirSync(dir);
      packaged = await packageExample('symfony', dir);
    });

    it('wires the HTTP API, Messenger’s queue with ReportBatchItemFailures and the cron to PHP functions', () => {
      const { resources, ofType } = resourcesOf(packaged.template);
      for (const name of ['Web', 'Messages', 'Cron']) {
        const p = resources[`${name}LambdaFunction`]!.Properties;
        assert.deepEqual(
          [p.Handler, p.Runtime, p.Layers],
          ['.fpm-bridge/handler.handler', 'nodejs22.x', [LAYER_ARN]],
        );
      }
      const mapping = one(packaged, 'AWS::Lambda::EventSourceMapping');
      assert.deepEqual(mapping.FunctionResponseTypes, ['ReportBatchItemFailures']);
      assert.equal(ofType('AWS::ApiGatewayV2::Route').length, 1);
    });

    it('serves a page, runs bin/console, a batch of messages and the cron’s input from a read-only /var/task', async () => {
      const rule = one(packaged, 'AWS::Events::Rule');
      const events = [
        eventFor('apigw-http', { target: '/hello/Zo%C3%AB' }),
        { cli: 'bin/console app:greet Zoë' },
        sqsEvent('symfony', dir, ['good-1', 'bad-2'], ['Zoë', 'crash']),
        // What EventBridge sends the function: the rule's input.
        JSON.parse((rule.Targets as { Input: string }[])[0]!.Input),
        {
          cli: `-r 'echo file_get_contents("/tmp/log/visits.log"), is_file("/tmp/cache/prod/App_KernelProdContainer.php") ? "compiled" : "";'`,
        },
      ];
      const web = await invokeInSandbox(deployed(packaged, 'web'), events);
      const [page, greeted, batch, cron, written] = web.invocations.map(result);
      assert.equal(seen(page).status, 200);
      assert.match(seen(page).body.toString(), /<h1>Hello, Zoë!<\/h1>[\s\S]*on PHP 8\.4\.\d+<\/footer>/);
      assert.equal(greeted!.exitCode, 0);
      assert.match(String(greeted!.output), /Hello, Zoë, from bin\/console on PHP 8\.4\.\d+\n$/);
      assert.deepEqual(batch, { batchItemFailures: [{ itemIdentifier: 'bad-2' }] });
      assert.equal(cron!.exitCode, 0);
      assert.match(String(cron!.output), /Hello, cron, from bin\/console/);
      assert.deepEqual(written, { exitCode: 0, output: 'Zoë\ncompiled' });
      assert.match(jsonLogText(web.log), /SQS message bad-2 failed: .*HandlerFailedException/);
    });
  });
});
