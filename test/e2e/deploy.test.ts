/**
 * `serverless deploy` of this repository's serverless.yml (the demo app, `plugins: [fpm-bridge]`) with no
 * layer ARN anywhere, for real, against moto's AWS API emulator: osls and Serverless Framework v3, the
 * stack and function they create, PHP answering events from the artefacts moto holds (run in bubblewrap,
 * test/support/lambda-sandbox.ts), invoke, logs, a redeploy, a new layer version, a wrong ARN, remove.
 *
 * The layer is real: the first deploy has the plugin build it (Debian's packages cached in
 * $TMPDIR/fpm-bridge-layer-cache, shared with test/layer), and this file builds it once more from the
 * same packages, which gives the same bytes: the zip run in the sandbox is checked against the sha256
 * moto holds. Where moto falls short of AWS the harness works around it, said where it does.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { APIGatewayClient, GetResourcesCommand, GetRestApisCommand } from '@aws-sdk/client-api-gateway';
import {
  CloudFormationClient,
  DescribeStackResourceCommand,
  GetTemplateCommand,
  ListStacksCommand,
} from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient, DescribeLogGroupsCommand } from '@aws-sdk/client-cloudwatch-logs';
import {
  GetFunctionCommand,
  GetLayerVersionCommand,
  LambdaClient,
  ListFunctionsCommand,
  ListLayerVersionsCommand,
} from '@aws-sdk/client-lambda';
import { GetObjectCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { buildLayer, PHP_VERSIONS } from '../../layer/build.ts';
import { DEFAULT_EXTENSIONS } from '../../layer/extensions.ts';
import { layerManifest, layerName, publishLayer } from '../../layer/publish.ts';
import { ROOT } from '../support/cli.ts';
import { loadEvent } from '../support/events.ts';
import { type Moto, motoMissing, startMoto } from '../support/moto.ts';
import { run, SERVERLESS, SERVERLESS_V3 } from './serverless.ts';

/** Shared with test/layer: apt's lists and the .deb files, kept between runs. */
const LAYER_CACHE = join(tmpdir(), 'fpm-bridge-layer-cache');
const REGION = 'us-east-1';
const PHP = PHP_VERSIONS[0];
const DEPLOY_TIMEOUT_MS = 300_000;
const PRELOAD_V2_ENDPOINTS = join(ROOT, 'test', 'support', 'sdk-v2-endpoints.cjs');

function skipReason(): string | false {
  const moto = motoMissing();
  if (moto !== null) return moto;
  if (spawnSync('bwrap', ['--version']).error !== undefined) return 'bubblewrap (bwrap) is not installed';
  return false;
}

const sha256 = (bytes: Uint8Array, encoding: 'hex' | 'base64') =>
  createHash('sha256').update(bytes).digest(encoding);

describe('serverless deploy with no layer ARN, against moto', { skip: skipReason() }, () => {
  let moto: Moto;
  let app = '';
  let work = '';
  /** The layer zip this file built: the same bytes as the plugin's build. */
  let layerZip = '';
  let expectedLayer = '';
  let clients: {
    lambda: LambdaClient;
    cfn: CloudFormationClient;
    s3: S3Client;
    apigw: APIGatewayClient;
    logs: CloudWatchLogsClient;
  };

  /** Runs osls (or v3) in the app folder against moto. */
  function sls(args: string[], framework: 'osls' | 'v3' = 'osls') {
    const bin = framework === 'osls' ? [SERVERLESS] : ['--require', PRELOAD_V2_ENDPOINTS, SERVERLESS_V3];
    return run(process.execPath, [...bin, ...args], DEPLOY_TIMEOUT_MS, {
      cwd: app,
      env: {
        AWS_ENDPOINT_URL: moto.url,
        AWS_ACCESS_KEY_ID: 'fpm-bridge-test',
        AWS_SECRET_ACCESS_KEY: 'fpm-bridge-test',
        AWS_REGION: REGION,
        // No proxy: moto is on loopback, and the plugin's layer build reaches Debian's mirror.
        HTTP_PROXY: undefined,
        HTTPS_PROXY: undefined,
        // The plugin's layer build finds its package cache under $XDG_CACHE_HOME/fpm-bridge/layer.
        XDG_CACHE_HOME: join(work, 'xdg'),
        SLS_TELEMETRY_DISABLED: '1',
        SLS_NOTIFICATIONS_MODE: 'off',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
    });
  }

  /** This repository's serverless.yml in the app folder, with `plugins` as an app has them. */
  function writeServerlessYml(fpmBridge = '') {
    const yml = readFileSync(join(ROOT, 'serverless.yml'), 'utf8')
      .replace('./dist/serverless-plugin.cjs', 'fpm-bridge')
      .replace(/^ {2}- serverless-offline\n/m, '');
    writeFileSync(join(app, 'serverless.yml'), fpmBridge === '' ? yml : `${yml}  fpmBridge:\n${fpmBridge}`);
  }

  /** What the deployed function runs: its handler, environment and layers. */
  async function deployedFunction(name: string) {
    const { Configuration: c } = await clients.lambda.send(new GetFunctionCommand({ FunctionName: name }));
    return {
      handler: c!.Handler!,
      environment: c!.Environment?.Variables ?? {},
      layers: (c!.Layers ?? []).map((l) => l.Arn!),
    };
  }

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'fpm-bridge-deploy-'));
    const build = await run(process.execPath, ['scripts/build.mjs'], 60_000);
    assert.equal(build.code, 0, build.output);
    // The app folder: the demo, serverless.yml, and node_modules/fpm-bridge as `npm install` leaves it.
    app = join(work, 'app');
    cpSync(join(ROOT, 'examples', 'demo'), join(app, 'examples', 'demo'), { recursive: true });
    mkdirSync(join(app, 'node_modules', 'fpm-bridge'), { recursive: true });
    cpSync(join(ROOT, 'package.json'), join(app, 'node_modules', 'fpm-bridge', 'package.json'));
    symlinkSync(join(ROOT, 'dist'), join(app, 'node_modules', 'fpm-bridge', 'dist'));
    writeServerlessYml();
    mkdirSync(join(work, 'xdg', 'fpm-bridge'), { recursive: true });
    mkdirSync(LAYER_CACHE, { recursive: true });
    symlinkSync(LAYER_CACHE, join(work, 'xdg', 'fpm-bridge', 'layer'));

    const report = await buildLayer({
      out: join(work, 'layer'),
      php: PHP,
      extensions: [...DEFAULT_EXTENSIONS],
      arch: 'x86_64',
      cacheDir: LAYER_CACHE,
    });
    layerZip = report.zip;
    const manifest = layerManifest(readFileSync(layerZip))!;
    expectedLayer = `arn:aws:lambda:${REGION}:123456789012:layer:${layerName(manifest.php!, 'x86_64')}`;

    moto = await startMoto();
    const config = {
      region: REGION,
      endpoint: moto.url,
      credentials: { accessKeyId: 'fpm-bridge-test', secretAccessKey: 'fpm-bridge-test' },
    };
    clients = {
      lambda: new LambdaClient(config),
      cfn: new CloudFormationClient(config),
      s3: new S3Client({ ...config, forcePathStyle: true }),
      apigw: new APIGatewayClient(config),
      logs: new CloudWatchLogsClient(config),
    };
  });

  after(async () => {
    for (const client of Object.values(clients ?? {})) client.destroy();
    await moto?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('osls deploys the demo in one command: the plugin builds the PHP layer, publishes it and wires it in', async () => {
    const r = await sls(['deploy']);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, new RegExp(`fpm-bridge: published ${expectedLayer}:1\\n`));
    assert.match(r.output, /✔ Service deployed to stack fpm-bridge-demo-dev/);
  });

  it('makes the function as serverless.yml and the plugin ask, with the layer moto holds byte for byte', async () => {
    const fn = await clients.lambda.send(new GetFunctionCommand({ FunctionName: 'fpm-bridge-demo-dev-web' }));
    const c = fn.Configuration!;
    assert.deepEqual(
      {
        Runtime: c.Runtime,
        Handler: c.Handler,
        MemorySize: c.MemorySize,
        Timeout: c.Timeout,
        Architectures: c.Architectures,
        Environment: c.Environment?.Variables,
        Layers: c.Layers?.map((l) => l.Arn),
      },
      {
        Runtime: 'nodejs22.x',
        Handler: '.fpm-bridge/handler.handler',
        MemorySize: 1024,
        Timeout: 28,
        Architectures: ['x86_64'],
        Environment: { FPM_BRIDGE_DOCROOT: '/var/task/examples/demo/public' },
        Layers: [`${expectedLayer}:1`],
      },
    );
    // The plugin's build and this file's are the same bytes: reproducible from the same packages.
    const layer = await clients.lambda.send(
      new GetLayerVersionCommand({ LayerName: layerName(PHP, 'x86_64'), VersionNumber: 1 }),
    );
    assert.equal(layer.Content?.CodeSha256, sha256(readFileSync(layerZip), 'base64'));
    assert.deepEqual(layer.CompatibleArchitectures, ['x86_64']);
    assert.deepEqual(layer.CompatibleRuntimes, ['nodejs22.x', 'nodejs24.x']);
  });

  it('routes every path of the HTTP API and the REST API to the function', async () => {
    // moto skips AWS::ApiGatewayV2 resources: the HTTP API's route is read from the stack's template.
    const { TemplateBody } = await clients.cfn.send(
      new GetTemplateCommand({ StackName: 'fpm-bridge-demo-dev' }),
    );
    const resources = Object.values(
      (
        JSON.parse(TemplateBody!) as {
          Resources: Record<string, { Type: string; Properties: { RouteKey?: string } }>;
        }
      ).Resources,
    );
    assert.deepEqual(
      resources.filter((r) => r.Type === 'AWS::ApiGatewayV2::Route').map((r) => r.Properties.RouteKey),
      ['$default'],
    );
    const { items } = await clients.apigw.send(new GetRestApisCommand({}));
    assert.deepEqual(
      items?.map((a) => a.name),
      ['dev-fpm-bridge-demo'],
    );
    const { items: paths } = await clients.apigw.send(new GetResourcesCommand({ restApiId: items![0]!.id! }));
    assert.deepEqual(paths?.map((p) => [p.path, Object.keys(p.resourceMethods ?? {})]).sort(), [
      ['/', ['ANY']],
      ['/{proxy+}', ['ANY']],
    ]);
  });

  it('keeps the function zip in the deployment bucket byte for byte', async () => {
    const got = await clients.lambda.send(
      new GetFunctionCommand({ FunctionName: 'fpm-bridge-demo-dev-web' }),
    );
    // moto's Code.Location names a host it does not serve; the key in it is the deployment bucket's.
    const key = new URL(got.Code!.Location!).pathname.slice(1);
    const { StackResourceDetail } = await clients.cfn.send(
      new DescribeStackResourceCommand({
        StackName: 'fpm-bridge-demo-dev',
        LogicalResourceId: 'ServerlessDeploymentBucket',
      }),
    );
    const object = await clients.s3.send(
      new GetObjectCommand({ Bucket: StackResourceDetail!.PhysicalResourceId!, Key: key }),
    );
    assert.equal(sha256(await object.Body!.transformToByteArray(), 'base64'), got.Configuration!.CodeSha256);
  });

  it('serverless invoke answers HTTP API, REST and console events with PHP, from the function and layer moto holds', async () => {
    const invoke = async (event: unknown) => {
      const file = join(work, 'event.json');
      writeFileSync(file, JSON.stringify(event));
      const r = await sls(['invoke', '-f', 'web', '--path', file]);
      assert.equal(r.code, 0, r.output);
      return JSON.parse(r.output) as Record<string, unknown>;
    };
    const heading = new RegExp(`<h1>Hello from PHP ${PHP.replace('.', '\\.')}\\.\\d+ behind fpm-bridge</h1>`);
    for (const event of [loadEvent('apigw-http', 'get-root'), loadEvent('apigw-rest', 'get-root')]) {
      const answer = await invoke(event);
      assert.equal(answer.statusCode, 200, JSON.stringify(answer));
      assert.match(String(answer.body), heading);
    }
    const cli = await invoke({ cli: '-r "echo PHP_VERSION, \' \', php_sapi_name();"' });
    assert.equal(cli.exitCode, 0, JSON.stringify(cli));
    assert.match(String(cli.output), new RegExp(`^${PHP.replace('.', '\\.')}\\.\\d+ cli$`));
  });

  it('serverless logs reads the function log group', async () => {
    const r = await sls(['logs', '-f', 'web', '--startTime', '1h']);
    assert.equal(r.code, 0, r.output);
    // osls prints each invocation's START line as the word alone, and leaves END lines out.
    assert.equal(r.output, 'START\nSTART\nSTART\n');
  });

  it('a redeploy with the same layer zip publishes nothing', async () => {
    writeServerlessYml(`    layerZip: ${layerZip}\n`);
    const r = await sls(['deploy']);
    assert.equal(r.code, 0, r.output);
    assert.match(
      r.output,
      new RegExp(`fpm-bridge: PHP layer ${layerName(PHP, 'x86_64')}:1 already holds this zip`),
    );
    const { LayerVersions } = await clients.lambda.send(
      new ListLayerVersionsCommand({ LayerName: layerName(PHP, 'x86_64') }),
    );
    assert.deepEqual(
      LayerVersions?.map((v) => v.Version),
      [1],
    );
  });

  it('Serverless Framework v3 deploys the same app, reusing the layer already published', async () => {
    const r = await sls(['deploy', '--stage', 'v3'], 'v3');
    assert.equal(r.code, 0, r.output);
    assert.match(
      r.output,
      new RegExp(`fpm-bridge: PHP layer ${layerName(PHP, 'x86_64')}:1 already holds this zip`),
    );
    const fn = await deployedFunction('fpm-bridge-demo-v3-web');
    assert.deepEqual(
      [fn.handler, fn.environment, fn.layers],
      [
        '.fpm-bridge/handler.handler',
        { FPM_BRIDGE_DOCROOT: '/var/task/examples/demo/public' },
        [`${expectedLayer}:1`],
      ],
    );
  });

  it('a redeploy with a new layer version given by ARN moves the function to it', async () => {
    const v2 = await publishLayer(clients.lambda, {
      name: layerName(PHP, 'x86_64'),
      content: { zipFile: readFileSync(layerZip) },
      runtimes: ['nodejs22.x'],
      architectures: ['x86_64'],
    });
    assert.equal(v2.arn, `${expectedLayer}:2`);
    const r = await sls(['deploy', '--param', `phpLayer=${v2.arn}`]);
    assert.equal(r.code, 0, r.output);
    assert.deepEqual((await deployedFunction('fpm-bridge-demo-dev-web')).layers, [v2.arn]);
  });

  it('a deploy with a layer ARN that does not exist fails before the stack changes, naming it', async () => {
    const unknown = `${expectedLayer}:99`;
    const r = await sls(['deploy', '--param', `phpLayer=${unknown}`]);
    assert.equal(r.code, 1, r.output);
    assert.match(
      r.output,
      new RegExp(
        `fpm-bridge: the PHP layer ${unknown} does not exist in ${REGION}, or this account may not use it`,
      ),
    );
    assert.deepEqual((await deployedFunction('fpm-bridge-demo-dev-web')).layers, [`${expectedLayer}:2`]);
  });

  it('serverless remove leaves no stack, function, bucket or log group; the shared layer stays', async () => {
    for (const [framework, stage] of [
      ['osls', 'dev'],
      ['v3', 'v3'],
    ] as const) {
      const r = await sls(['remove', '--stage', stage], framework);
      assert.equal(r.code, 0, r.output);
    }
    const { StackSummaries } = await clients.cfn.send(new ListStacksCommand({}));
    assert.deepEqual(
      StackSummaries?.filter((s) => s.StackStatus !== 'DELETE_COMPLETE').map((s) => s.StackName),
      [],
    );
    assert.deepEqual((await clients.lambda.send(new ListFunctionsCommand({}))).Functions, []);
    // Not the REST APIs: moto leaves an AWS::ApiGateway::RestApi behind when it deletes its stack; AWS
    // deletes it with the stack.
    const left = {
      buckets: (await clients.s3.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name) ?? [],
      logGroups:
        (await clients.logs.send(new DescribeLogGroupsCommand({}))).logGroups?.map((g) => g.logGroupName) ??
        [],
    };
    assert.deepEqual(left, { buckets: [], logGroups: [] });
    const { LayerVersions } = await clients.lambda.send(
      new ListLayerVersionsCommand({ LayerName: layerName(PHP, 'x86_64') }),
    );
    assert.deepEqual(LayerVersions?.map((v) => v.Version).sort(), [1, 2]);
  });
});
