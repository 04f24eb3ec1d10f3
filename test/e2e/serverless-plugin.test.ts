/**
 * fpm-bridge's Serverless plugin (infra/serverless-plugin.ts): the rules it applies to a service, checked on
 * the configuration objects the framework hands it; then as an app uses it, `plugins: [fpm-bridge]` found in
 * the app's node_modules, with `serverless package` run offline on test/fixtures/serverless-app.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  checkLayers,
  type FunctionConfig,
  type ServiceConfig,
  wireService,
} from '../../infra/serverless-plugin.ts';
import { ROOT } from '../support/cli.ts';
import {
  copyWithPlugin,
  PHP_SCRIPTS,
  resourcesOf,
  run,
  SERVERLESS,
  SERVERLESS_V3,
  zipEntries,
} from './serverless.ts';

const APP = join(ROOT, 'test', 'fixtures', 'serverless-app');
const LAYER_ARN = 'arn:aws:lambda:us-east-1:123456789012:layer:fpm-bridge-php-82:7';
/** Every run below is bounded by one of these; a process still running past it is killed. */
const BUILD_TIMEOUT_MS = 30_000;
const PACKAGE_TIMEOUT_MS = 30_000;

/** A service as serverless.yml gives it, with the PHP layer from custom.fpmBridge.layer. */
function service(
  functions: Record<string, FunctionConfig>,
  rest: Partial<ServiceConfig> = {},
): ServiceConfig {
  return { provider: {}, custom: { fpmBridge: { layer: LAYER_ARN } }, functions, ...rest };
}

/** A parameter's ARN as the plugin writes it: resolved by CloudFormation in the stack's account and region. */
function parameterArn(name: string) {
  return { 'Fn::Sub': `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${name}` };
}

/** The message of the ConfigError `fn` throws. */
function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.equal((err as { code?: string }).code, 'FPM_BRIDGE_ERR_CONFIG', String(err));
    return (err as Error).message;
  }
  assert.fail('no error thrown');
}

describe('the plugin, on the configuration of a service', () => {
  it('gives a function with `php:` the handler, nodejs22.x, 1024 MB, 28 s, the layer and the docroot', () => {
    const svc = service({ web: { php: 'public/', events: [{ httpApi: '*' }] } as FunctionConfig });
    assert.deepEqual(wireService(svc, APP), new Map([['web', 'public']]));
    assert.deepEqual(svc.functions!.web, {
      php: 'public/',
      events: [{ httpApi: '*' }],
      handler: '.fpm-bridge/handler.handler',
      runtime: 'nodejs22.x',
      memorySize: 1024,
      timeout: 28,
      layers: [LAYER_ARN],
      environment: { FPM_BRIDGE_DOCROOT: '/var/task/public' },
    });
  });

  it('packages the handler after the patterns of serverless.yml, and no node_modules in a PHP-only service', () => {
    const svc = service({ web: { php: '.' } }, { package: { patterns: ['!tests/**'] } });
    wireService(svc, APP);
    assert.deepEqual(svc.package, {
      patterns: [
        '!node_modules/**',
        '!tests/**',
        '.fpm-bridge/handler.mjs',
        '.fpm-bridge/handler-ssm.mjs',
        '.fpm-bridge/php/*.php',
      ],
    });
    assert.deepEqual(svc.functions!.web!.environment, { FPM_BRIDGE_DOCROOT: '/var/task' });
  });

  it('leaves other functions, and node_modules, to a service that also has Node.js functions', () => {
    const svc = service({ web: { php: 'public' }, worker: { handler: 'worker.handler' } });
    wireService(svc, APP);
    assert.deepEqual(svc.functions!.worker, { handler: 'worker.handler' });
    assert.deepEqual(svc.package, {
      patterns: ['.fpm-bridge/handler.mjs', '.fpm-bridge/handler-ssm.mjs', '.fpm-bridge/php/*.php'],
    });
  });

  it('keeps runtime, memory, timeout and layers that the function or the provider sets', () => {
    const bref = 'arn:aws:lambda:us-east-1:873528684822:layer:php-82-fpm:60';
    const svc = service(
      { web: { php: 'public', runtime: 'nodejs24.x', memorySize: 512 }, api: { php: 'public' } },
      { provider: { runtime: 'nodejs20.x', timeout: 10, layers: [bref] } },
    );
    wireService(svc, APP);
    const { web, api } = svc.functions!;
    assert.deepEqual(
      [web!.runtime, web!.memorySize, web!.timeout, web!.layers],
      ['nodejs24.x', 512, undefined, undefined],
    );
    assert.deepEqual(
      [api!.runtime, api!.memorySize, api!.timeout, api!.layers],
      [undefined, 1024, undefined, undefined],
    );
    assert.doesNotThrow(() => checkLayers(svc, ['web', 'api']));
  });

  it('adds the PHP layer to listed layers that hold none of their own (a monitoring layer)', () => {
    const datadog = 'arn:aws:lambda:us-east-1:464622532012:layer:Datadog-Extension:65';
    const svc = service({ web: { php: 'public' } }, { provider: { layers: [datadog] } });
    wireService(svc, APP);
    assert.deepEqual(svc.functions!.web!.layers, [datadog, LAYER_ARN]);
  });

  it('takes an empty layer value (an unset CI secret) as none, and refuses one that is no layer ARN', () => {
    const empty = service({ web: { php: 'public' } }, { custom: { fpmBridge: { layer: '' } } });
    wireService(empty, APP);
    assert.equal(empty.functions!.web!.layers, undefined);
    assert.equal(
      configError(() =>
        wireService(
          service({ web: { php: 'public' } }, { custom: { fpmBridge: { layer: 'not-an-arn' } } }),
          APP,
        ),
      ),
      'the PHP layer "not-an-arn" is no Lambda layer version ARN (arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION) — check --param="phpLayer=…", FPM_BRIDGE_LAYER_ARN or custom.fpmBridge.layer',
    );
  });

  it('counts only a PHP layer: a function listing a monitoring layer alone has none to package with', () => {
    const datadog = 'arn:aws:lambda:us-east-1:464622532012:layer:Datadog-Extension:65';
    const svc = service(
      { web: { php: 'public' } },
      { provider: { layers: [datadog] }, custom: { fpmBridge: { layer: null } } },
    );
    wireService(svc, APP);
    assert.match(
      configError(() => checkLayers(svc, ['web'])),
      /^function "web" has no PHP layer — /,
    );
  });

  it('runs streamingHandler for a Function URL in RESPONSE_STREAM mode', () => {
    const svc = service({ web: { php: 'public', url: { invokeMode: 'RESPONSE_STREAM' } } });
    wireService(svc, APP);
    assert.equal(svc.functions!.web!.handler, '.fpm-bridge/handler.streamingHandler');
  });

  it('adds the handler to the patterns of a function packaged on its own', () => {
    const svc = service({ web: { php: 'public', package: { individually: true, patterns: ['!**'] } } });
    wireService(svc, APP);
    assert.deepEqual(svc.functions!.web!.package, {
      individually: true,
      patterns: ['!**', '.fpm-bridge/handler.mjs', '.fpm-bridge/handler-ssm.mjs', '.fpm-bridge/php/*.php'],
    });
  });

  it('keeps other fpm-bridge settings in the environment', () => {
    const svc = service(
      { web: { php: 'public', environment: { FPM_BRIDGE_FRONT_CONTROLLER_ONLY: 'true' } } },
      { provider: { environment: { APP_ENV: 'prod', FPM_BRIDGE_CONFIG: 'config/fpm-bridge.yml' } } },
    );
    wireService(svc, APP);
    assert.deepEqual(svc.functions!.web!.environment, {
      FPM_BRIDGE_FRONT_CONTROLLER_ONLY: 'true',
      FPM_BRIDGE_DOCROOT: '/var/task/public',
    });
  });

  it('accepts FPM_BRIDGE_DEBUG, which the handler reads for debug logs though it is no setting', () => {
    const svc = service({ web: { php: 'public', environment: { FPM_BRIDGE_DEBUG: '1' } } });
    wireService(svc, APP);
    assert.deepEqual(svc.functions!.web!.environment, {
      FPM_BRIDGE_DEBUG: '1',
      FPM_BRIDGE_DOCROOT: '/var/task/public',
    });
  });

  it('refuses what cannot work, naming the function, the setting and the fix', () => {
    const wire = (fn: FunctionConfig, rest?: Partial<ServiceConfig>) => () =>
      wireService(service({ web: fn }, rest), APP);
    const fix =
      'give the folder PHP is served from (the one with index.php), relative to serverless.yml, e.g. "public"';
    assert.equal(
      configError(wire({ php: 'web' })),
      `function "web": php "web" is not a folder (${join(APP, 'web')}) — ${fix}`,
    );
    assert.equal(
      configError(wire({ php: '/srv/public' })),
      `function "web": php "/srv/public" is an absolute path — ${fix}`,
    );
    assert.equal(
      configError(wire({ php: '../php' })),
      `function "web": php "../php" is outside the service folder — ${fix}`,
    );
    assert.equal(
      configError(wire({ php: 'public', handler: 'index.handler' })),
      `function "web" sets both "php" and "handler" — remove "handler": with "php" it runs fpm-bridge's handler`,
    );
    assert.equal(
      configError(wire({ php: 'public' }, { provider: { runtime: 'provided.al2' } })),
      `function "web" runs fpm-bridge's Node.js handler, but provider.runtime is "provided.al2" — set functions.web.runtime to nodejs22.x (or nodejs20.x or later)`,
    );
    assert.equal(
      configError(wire({ php: 'public', runtime: 'nodejs18.x' })),
      `function "web" runs fpm-bridge's Node.js handler, but functions.web.runtime is "nodejs18.x" — use nodejs22.x (or nodejs20.x or later), or leave runtime out`,
    );
    assert.equal(
      configError(
        wire({ php: 'public' }, { provider: { environment: { FPM_BRIDGE_DOCROOT: '/var/task' } } }),
      ),
      `function "web": "php" sets FPM_BRIDGE_DOCROOT — remove it from the environment and give the docroot as php`,
    );
    assert.equal(
      configError(wire({ php: 'public', environment: { FPM_BRIDGE_FRONTCONTROLLER: 'app.php' } })),
      `function "web": environment variable FPM_BRIDGE_FRONTCONTROLLER is no fpm-bridge setting — the README's configuration table lists their variables`,
    );
  });

  /** The statement the plugin adds for parameters `/app/a` and `shared` (`Fn::Sub` in the stack's account). */
  const SSM_STATEMENT = {
    Effect: 'Allow',
    Action: ['ssm:GetParameters'],
    Resource: [parameterArn('/app/a'), parameterArn('/shared')],
  };

  it("lets the role read the SSM parameters the PHP functions' environment names, once each", () => {
    const svc = service(
      {
        web: { php: 'public', environment: { B: 'ssm:shared:3', C: 'ssm:/app/a' } },
        worker: { handler: 'worker.handler', environment: { D: 'ssm:/not/php' } },
      },
      {
        provider: {
          environment: { A: 'bref-ssm:/app/a' },
          iam: { role: { statements: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }] } },
        },
      },
    );
    wireService(svc, APP);
    assert.deepEqual(svc.provider.iam, {
      role: { statements: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }, SSM_STATEMENT] },
    });
  });

  it('adds to iamRoleStatements when the service uses that older spelling, which the framework then reads', () => {
    const mine = { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: '*' };
    const svc = service(
      { web: { php: 'public', environment: { A: 'ssm:/app/a', B: 'bref-ssm:shared' } } },
      { provider: { iamRoleStatements: [mine] } },
    );
    wireService(svc, APP);
    assert.deepEqual([svc.provider.iamRoleStatements, svc.provider.iam], [[mine, SSM_STATEMENT], undefined]);
  });

  it("leaves a role of the user's own alone, and adds nothing when no value names a parameter", () => {
    const arn = 'arn:aws:iam::123456789012:role/my-role';
    for (const provider of [
      { role: arn },
      { iam: { role: arn } },
      { iam: { role: { 'Fn::GetAtt': ['R', 'Arn'] } } },
    ]) {
      const svc = service({ web: { php: 'public', environment: { A: 'ssm:/app/a' } } }, { provider });
      wireService(svc, APP);
      assert.deepEqual(svc.provider, provider);
    }
    const plain = service({ web: { php: 'public', environment: { A: 'not-ssm:/x' } } });
    wireService(plain, APP);
    assert.equal(plain.provider.iam, undefined);
  });

  it('refuses to package a PHP function without a layer', () => {
    const svc = service({ web: { php: 'public' } }, { custom: { fpmBridge: { layer: null } } });
    wireService(svc, APP);
    assert.equal(svc.functions!.web!.layers, undefined);
    assert.equal(
      configError(() => checkLayers(svc, ['web'])),
      `function "web" has no PHP layer — "serverless deploy" publishes one itself; to package without deploying, pass a published layer's ARN with --param="phpLayer=ARN", FPM_BRIDGE_LAYER_ARN=ARN or custom.fpmBridge.layer, or list a php-fpm layer (Bref v3's php-82, say) under the function's layers`,
    );
  });
});

describe('serverless package of an app with `plugins: [fpm-bridge]`, offline', () => {
  const dirs: string[] = [];

  /**
   * Packages a copy of the fixture app (or runs `command` there instead of `package`; its serverless.yml
   * replaced by `yml` if given) in a temp dir, with the plugin installed there (copyWithPlugin).
   */
  async function packageApp(
    args: string[],
    options: { yml?: string; env?: NodeJS.ProcessEnv; framework?: string; command?: string[] } = {},
  ) {
    const dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-sls-app-'));
    dirs.push(dir);
    copyWithPlugin(APP, dir);
    if (options.yml !== undefined) writeFileSync(join(dir, 'serverless.yml'), options.yml);
    const out = join(dir, 'out');
    const result = await run(
      process.execPath,
      [options.framework ?? SERVERLESS, ...(options.command ?? ['package', '--package', out]), ...args],
      PACKAGE_TIMEOUT_MS,
      {
        cwd: dir,
        ...(options.env === undefined ? {} : { env: options.env }),
      },
    );
    return { ...result, out };
  }

  before(async () => {
    // The plugin and the handler it copies are the bundles: build them from the current sources.
    const build = await run(process.execPath, ['scripts/build.mjs'], BUILD_TIMEOUT_MS);
    assert.equal(build.code, 0, `npm run build failed:\n${build.output}`);
  });

  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  for (const [framework, bin] of [
    ['osls', SERVERLESS],
    ['Serverless Framework v3', SERVERLESS_V3],
  ] as const) {
    describe(`${framework}, with the layer ARN in FPM_BRIDGE_LAYER_ARN`, () => {
      let result: Awaited<ReturnType<typeof packageApp>>;
      before(async () => {
        result = await packageApp([], {
          framework: bin,
          // v3 would otherwise ask its dashboard and npm for news: the dead proxy makes that fail at once.
          env: {
            FPM_BRIDGE_LAYER_ARN: LAYER_ARN,
            SLS_TELEMETRY_DISABLED: '1',
            SLS_NOTIFICATIONS_MODE: 'off',
          },
        });
      });

      it('succeeds, and the framework accepts `php:` without a warning', () => {
        assert.equal(result.code, 0, result.output);
        assert.doesNotMatch(result.output, /warning|unrecognized/i);
      });

      it('builds the function with the handler, runtime, layer, docroot, memory and timeout', () => {
        const { resources } = resourcesOf(
          JSON.parse(readFileSync(join(result.out, 'cloudformation-template-update-stack.json'), 'utf8')),
        );
        const fn = resources.WebLambdaFunction!;
        assert.equal(fn.Type, 'AWS::Lambda::Function');
        const { Handler, Runtime, Layers, Environment, MemorySize, Timeout } = fn.Properties;
        assert.deepEqual(
          { Handler, Runtime, Layers, Environment, MemorySize, Timeout },
          {
            Handler: '.fpm-bridge/handler.handler',
            Runtime: 'nodejs22.x',
            Layers: [LAYER_ARN],
            Environment: { Variables: { FPM_BRIDGE_DOCROOT: '/var/task/public' } },
            MemorySize: 1024,
            Timeout: 28,
          },
        );
      });

      it('routes every method and path of the HTTP API ($default) to the function', () => {
        const { resources, ofType } = resourcesOf(
          JSON.parse(readFileSync(join(result.out, 'cloudformation-template-update-stack.json'), 'utf8')),
        );
        assert.equal(ofType('AWS::ApiGatewayV2::Api').length, 1);
        assert.deepEqual(
          ofType('AWS::ApiGatewayV2::Route').map(([, r]) => [r.Properties.RouteKey, r.Properties.Target]),
          [['$default', { 'Fn::Join': ['/', ['integrations', { Ref: 'HttpApiIntegrationWeb' }]] }]],
        );
        const integration = resources.HttpApiIntegrationWeb!.Properties;
        assert.deepEqual(
          [integration.IntegrationType, integration.PayloadFormatVersion, integration.IntegrationUri],
          ['AWS_PROXY', '2.0', { 'Fn::GetAtt': ['WebLambdaFunction', 'Arn'] }],
        );
      });

      it('ships the PHP app and the handler: no node_modules, tests or serverless.yml', () => {
        assert.deepEqual(zipEntries(readFileSync(join(result.out, 'fpm-bridge-app.zip'))), [
          '.fpm-bridge/handler-ssm.mjs',
          '.fpm-bridge/handler.mjs',
          ...PHP_SCRIPTS,
          'public/index.php',
          'src/greeting.php',
        ]);
      });
    });
  }

  for (const [framework, bin] of [
    ['osls', SERVERLESS],
    ['Serverless Framework v3', SERVERLESS_V3],
  ] as const) {
    it(`${framework}: grants the role ssm:GetParameters on the parameters the environment names`, async () => {
      const yml = readFileSync(join(APP, 'serverless.yml'), 'utf8').replace(
        '  region: us-east-1\n',
        '  region: us-east-1\n  environment:\n    APP_KEY: bref-ssm:/fpm-bridge-app/app-key\n    DB_PASSWORD: ssm:/fpm-bridge-app/db\n',
      );
      const result = await packageApp([], {
        yml,
        framework: bin,
        env: { FPM_BRIDGE_LAYER_ARN: LAYER_ARN, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' },
      });
      assert.equal(result.code, 0, result.output);
      const { resources } = resourcesOf(
        JSON.parse(readFileSync(join(result.out, 'cloudformation-template-update-stack.json'), 'utf8')),
      );
      const policies = resources.IamRoleLambdaExecution!.Properties.Policies as {
        PolicyDocument: { Statement: unknown[] };
      }[];
      const statements = policies.flatMap((p) => p.PolicyDocument.Statement);
      assert.deepEqual(
        statements.filter((s) => JSON.stringify(s).includes('ssm:')),
        [
          {
            Effect: 'Allow',
            Action: ['ssm:GetParameters'],
            Resource: [parameterArn('/fpm-bridge-app/app-key'), parameterArn('/fpm-bridge-app/db')],
          },
        ],
      );
      const { Environment } = resources.WebLambdaFunction!.Properties;
      assert.deepEqual(Environment, {
        Variables: {
          APP_KEY: 'bref-ssm:/fpm-bridge-app/app-key',
          DB_PASSWORD: 'ssm:/fpm-bridge-app/db',
          FPM_BRIDGE_DOCROOT: '/var/task/public',
        },
      });
    });
  }

  it('fails without a layer, saying how to give one', async () => {
    const result = await packageApp([]);
    assert.equal(result.code, 1, result.output);
    assert.match(
      result.output,
      /Error:\nfpm-bridge: function "web" has no PHP layer — "serverless deploy" publishes one itself; to package without deploying, pass a published layer's ARN with --param="phpLayer=ARN"/,
    );
  });

  it('refuses `serverless invoke local` for a PHP function, naming the command that works', async () => {
    const result = await packageApp(['--param', `phpLayer=${LAYER_ARN}`], {
      command: ['invoke', 'local', '-f', 'web'],
    });
    assert.equal(result.code, 1, result.output);
    assert.match(
      result.output,
      /fpm-bridge: "serverless invoke local" cannot run fpm-bridge's handler \(an ES module\) — run it with: npx fpm-bridge invoke --path \/ --docroot public/,
    );
  });

  it('fails on a docroot that is not there, naming it', async () => {
    const yml = readFileSync(join(APP, 'serverless.yml'), 'utf8').replace('php: public', 'php: web');
    const result = await packageApp(['--param', `phpLayer=${LAYER_ARN}`], { yml });
    assert.equal(result.code, 1, result.output);
    assert.match(result.output, /Error:\nfpm-bridge: function "web": php "web" is not a folder \(/);
  });
});
