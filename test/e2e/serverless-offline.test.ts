/**
 * End to end through the Serverless Framework (osls, installed as `serverless`), fpm-bridge's plugin and
 * serverless-offline, with the repository's serverless.yml: the real bundle (dist/handler.js, copied by the
 * plugin) behind the emulated HTTP API and REST API, with Debian's php-fpm, over real HTTP; and
 * `serverless package` with no network, checked on the CloudFormation template and the zip.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { noAwsEnv } from '../support/aws.ts';
import { ROOT, runCli } from '../support/cli.ts';
import { spawnOffline } from '../support/serverless-offline.ts';
import { DEMO_HEADING } from '../support/tested-php.ts';
import { killGroup, PHP_SCRIPTS, type Run, resourcesOf, run, SERVERLESS, zipEntries } from './serverless.ts';

/** serverless-offline serves REST API routes under the stage; any name works, the plugin needs none. */
const STAGE = 'local';
const LAYER_ARN = 'arn:aws:lambda:us-east-1:123456789012:layer:fpm-bridge-php-82:7';
/** Every wait below is bounded by one of these; a process still running past it is killed. */
const BUILD_TIMEOUT_MS = 30_000;
const READY_TIMEOUT_MS = 30_000;
const REQUEST_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

/** Resolves with true once the child has exited, or false after `ms`. */
function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

interface Proc {
  pid: number;
  ppid: number;
  stat: string;
  args: string;
}

function processes(): Proc[] {
  const out = execFileSync('ps', ['-eo', 'pid=,ppid=,stat=,args='], { encoding: 'utf8' });
  const list: Proc[] = [];
  for (const line of out.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+(\S+)\s+(.*)$/.exec(line);
    if (m !== null) list.push({ pid: Number(m[1]), ppid: Number(m[2]), stat: m[3]!, args: m[4]! });
  }
  return list;
}

/** Every live (not zombie) process below `root`. */
function descendants(root: number): Proc[] {
  const all = processes().filter((p) => !p.stat.startsWith('Z'));
  const found: Proc[] = [];
  const parents = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of all) {
      if (parents.has(p.ppid) && !parents.has(p.pid)) {
        parents.add(p.pid);
        found.push(p);
        grew = true;
      }
    }
  }
  return found;
}

/** `info.php` prints `KEY<padding>value` lines; the key column is 12 wide. */
function infoLines(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, 12).trim(), l.slice(13)]),
  );
}

const PACKAGED_FILES = [
  '.fpm-bridge/handler-ssm.mjs',
  '.fpm-bridge/handler.mjs',
  ...PHP_SCRIPTS,
  'examples/demo/public/index.php',
  'examples/demo/public/info.php',
  'examples/demo/public/style.css',
];

/** Where the plugin copies the handler in this checkout; a copy a developer's own run made stays. */
const HANDLER_COPY = join(ROOT, '.fpm-bridge');
let handlerCopyExisted = false;

before(async () => {
  handlerCopyExisted = existsSync(HANDLER_COPY);
  // The function runs the bundle, as on Lambda: build it from the current sources.
  const build = await run(process.execPath, ['scripts/build.mjs'], BUILD_TIMEOUT_MS);
  assert.equal(build.code, 0, `npm run build failed:\n${build.output}`);
});

after(() => {
  if (!handlerCopyExisted) rmSync(HANDLER_COPY, { recursive: true, force: true });
});

describe('serverless-offline running dist/handler.js with the local php-fpm', () => {
  let offline: ChildProcess;
  let base = '';
  /** serverless-offline's Lambda API (Invoke), on its lambdaPort. */
  let lambda = '';
  /** The php-fpm processes serverless-offline's worker started, seen while it ran. */
  let fpm: Proc[] = [];

  before(async () => {
    const running = await spawnOffline(ROOT, {}, ['--stage', STAGE]);
    offline = running.child;
    base = running.url;
    lambda = running.lambdaUrl;
  });

  after(async () => {
    // Whatever the tests did: nothing of this run may stay behind.
    if (offline !== undefined && !(await exited(offline, 0))) {
      killGroup(offline, 'SIGKILL');
      await exited(offline, STOP_TIMEOUT_MS);
    }
    const ours = new Set(fpm.map((p) => p.pid));
    for (const p of processes()) {
      if (!ours.has(p.pid) || !p.args.startsWith('php-fpm')) continue;
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {}
    }
  });

  const get = (path: string, init: RequestInit = {}) =>
    fetch(`${base}${path}`, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });

  // The same checks through both event sources. serverless-offline puts REST routes under the stage
  // (`/local/...`) but, as API Gateway does, leaves the stage out of the event's `path`: PHP sees the same
  // REQUEST_URI either way, so no `basePath` is needed (that is for a custom domain's base path mapping).
  const sources = [
    {
      name: 'HTTP API (payload 2.0)',
      prefix: '',
      home: '/',
      // serverless-offline builds `rawQueryString` as `url.searchParams.toString()`
      // (LambdaProxyIntegrationEventV2.js), which re-encodes `%20` as `+`; API Gateway passes the query
      // through untouched, and so does the handler (test/handler covers real events).
      query: 'x=1&y=+',
    },
    {
      name: 'REST API (payload 1.0)',
      prefix: `/${STAGE}`,
      // The stage root is the one path that does not work offline: see the test after this loop.
      home: '/index.php',
      // REST events carry only decoded parameters; the handler rebuilds the query with `%20` for a space.
      query: 'x=1&y=%20',
    },
  ];

  for (const source of sources) {
    describe(source.name, () => {
      it(`returns the demo page for ${source.home}`, async () => {
        const res = await get(`${source.prefix}${source.home}`);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
        const html = await res.text();
        assert.match(html, DEMO_HEADING);
        assert.ok(html.includes(`You asked for <code>${source.home}</code>`), html);
        assert.match(html, /with <code>GET<\/code>/);
        assert.match(html, /Script: <code>\/index\.php<\/code>/);
      });

      it('runs info.php with PATH_INFO, the query and the request URI PHP expects', async () => {
        const res = await get(`${source.prefix}/info.php/some/path?x=1&y=%20`);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8');
        assert.deepEqual(infoLines(await res.text()), {
          SCRIPT_NAME: '/info.php',
          PATH_INFO: '/some/path',
          QUERY_STRING: source.query,
          REQUEST_URI: `/info.php/some/path?${source.query}`,
          REMOTE_ADDR: '127.0.0.1',
          SERVER_NAME: '127.0.0.1',
          // No X-Forwarded-Port from serverless-offline: the handler takes API Gateway's HTTPS port.
          SERVER_PORT: '443',
        });
      });

      it('posts a form through to $_POST', async () => {
        const res = await get(`${source.prefix}/echo`, {
          method: 'POST',
          body: new URLSearchParams({ message: 'yo & ü' }),
        });
        assert.equal(res.status, 200);
        const html = await res.text();
        assert.match(html, /You asked for <code>\/echo<\/code>\s+with <code>POST<\/code>/);
        assert.match(html, /You posted: <code>yo &amp; ü<\/code>/);
      });

      it('sends an existing static file to the front controller (staticFiles is off on Lambda)', async () => {
        const res = await get(`${source.prefix}/style.css`);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
        const html = await res.text();
        assert.match(html, /You asked for <code>\/style\.css<\/code>/);
        assert.match(html, /Script: <code>\/index\.php<\/code>/);
      });
    });
  }

  it('REST API stage root: the empty path serverless-offline sends (API Gateway sends "/") runs the front controller', async () => {
    // HttpServer.js computes the REST event's path as request.path.slice(`/${stage}`.length), so `/local`
    // and `/local/` arrive as "", where AWS gives "/"; the v1 adapter reads an empty path as "/".
    for (const path of [`/${STAGE}`, `/${STAGE}/`]) {
      const res = await get(path);
      assert.equal(res.status, 200, path);
      assert.match(await res.text(), /You asked for <code>\/<\/code>/);
    }
  });

  describe('fpm-bridge invoke --function --endpoint, through its Lambda API', () => {
    /** Function names offline are SERVICE-STAGE-FUNCTION, as deployed. */
    const FUNCTION = `fpm-bridge-demo-${STAGE}-web`;
    /** A HOME without AWS configuration: the CLI must sign with placeholders, as an emulator takes any. */
    let home = '';
    before(() => {
      home = mkdtempSync(join(tmpdir(), 'fpm-bridge-invoke-e2e-'));
    });
    after(() => rmSync(home, { recursive: true, force: true }));

    const invoke = (args: string[]) =>
      runCli(['invoke', ...args, '--function', FUNCTION, '--endpoint', lambda], noAwsEnv(home, lambda));

    it('sends the HTTP API event --path builds and prints the response, with no AWS credentials', async () => {
      const { code, stdout, stderr } = await invoke(['--path', '/info.php/some/path?x=1', '--raw']);
      assert.equal(code, 0, stderr);
      const split = stdout.indexOf('\n\n');
      assert.match(
        stdout.slice(0, split),
        /^HTTP\/1\.1 200 OK\n(.+\n)*content-type: text\/plain; charset=utf-8/,
      );
      assert.deepEqual(infoLines(stdout.slice(split + 2)), {
        SCRIPT_NAME: '/info.php',
        PATH_INFO: '/some/path',
        QUERY_STRING: 'x=1',
        REQUEST_URI: '/info.php/some/path?x=1',
        REMOTE_ADDR: '127.0.0.1',
        SERVER_NAME: 'localhost',
        SERVER_PORT: '443',
      });
    });

    it('exits 1 naming the function when serverless-offline has none of that name', async () => {
      const { code, stderr } = await runCli(
        ['invoke', '--path', '/', '--function', 'nope', '--endpoint', lambda],
        noAwsEnv(home, lambda),
      );
      assert.deepEqual(
        { code, stderr },
        {
          code: 1,
          stderr: `fpm-bridge: Invoke "nope" at ${lambda}: not found (ResourceNotFoundException: Function not found: nope) — check the name and the region\n`,
        },
      );
    });

    it('exits 1 with the error the handler threw for an event it does not handle', async () => {
      const sqs = join(ROOT, 'test', 'fixtures', 'events', 'other', 'sqs.json');
      const { code, stdout, stderr } = await invoke([sqs]);
      assert.deepEqual(
        { code, stdout, stderr },
        {
          code: 1,
          stdout: '',
          stderr: `fpm-bridge: function "${FUNCTION}" failed (Unhandled): Error: fpm-bridge received an SQS event; it handles API Gateway (REST, HTTP API), ALB and Function URL events — set "eventsScript" to send other events to a PHP script\n`,
        },
      );
    });
  });

  it('started php-fpm below serverless-offline, and stopping the process group leaves none behind', async (t) => {
    // The worker (and php-fpm with it) starts on the first request.
    assert.equal((await get('/')).status, 200);
    fpm = descendants(offline.pid!).filter((p) => p.args.startsWith('php-fpm'));
    const masters = fpm.filter((p) => p.args.startsWith('php-fpm: master process'));
    assert.equal(masters.length, 1, `one php-fpm master below serverless-offline:\n${JSON.stringify(fpm)}`);
    // Lambda mode: one worker.
    assert.equal(fpm.length, 2, `php-fpm master and one worker:\n${JSON.stringify(fpm)}`);

    killGroup(offline, 'SIGTERM');
    if (!(await exited(offline, STOP_TIMEOUT_MS))) {
      // serverless-offline stops on SIGTERM (its own handler, then exit); should it hang, SIGKILL leaves
      // no exit handler to run, which makes the check below stricter, not weaker.
      t.diagnostic(`serverless offline ignored SIGTERM for ${STOP_TIMEOUT_MS} ms; sent SIGKILL`);
      killGroup(offline, 'SIGKILL');
      assert.ok(await exited(offline, STOP_TIMEOUT_MS), 'serverless offline survived SIGKILL');
    }
    // php-fpm leads a process group of its own; it goes because the kernel signals it when the thread that
    // started it ends (setpriv --pdeathsig), or through the supervisor's exit handler.
    const pids = new Set(fpm.map((p) => p.pid));
    let left: Proc[] = [];
    for (let waited = 0; waited <= STOP_TIMEOUT_MS; waited += 50) {
      left = processes().filter(
        (p) => pids.has(p.pid) && !p.stat.startsWith('Z') && p.args.includes('php-fpm'),
      );
      if (left.length === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(left, [], 'php-fpm outlived serverless offline');
  });
});

describe('serverless package', () => {
  let dir = '';
  let result: Run;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-sls-'));
    result = await run(
      process.execPath,
      [SERVERLESS, 'package', '--stage', 'dev', '--package', dir, '--param', `phpLayer=${LAYER_ARN}`],
      READY_TIMEOUT_MS,
    );
  });
  after(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('succeeds without network (the PHP layer is referenced by ARN)', () => {
    assert.equal(result.code, 0, result.output);
  });

  it('builds a template with the function on nodejs22.x, its layer, the HTTP API and the REST API', () => {
    const { resources, ofType } = resourcesOf(
      JSON.parse(readFileSync(join(dir, 'cloudformation-template-update-stack.json'), 'utf8')),
    );

    const fn = resources.WebLambdaFunction!;
    assert.equal(fn.Type, 'AWS::Lambda::Function');
    assert.equal(fn.Properties.Runtime, 'nodejs22.x');
    // The plugin's work: serverless.yml only says `php: examples/demo/public`.
    assert.equal(fn.Properties.Handler, '.fpm-bridge/handler.handler');
    assert.deepEqual(fn.Properties.Layers, [LAYER_ARN]);
    assert.deepEqual(fn.Properties.Architectures, ['x86_64']);
    assert.equal(fn.Properties.MemorySize, 1024);
    assert.equal(fn.Properties.Timeout, 28);
    assert.deepEqual(fn.Properties.Environment, {
      Variables: { FPM_BRIDGE_DOCROOT: '/var/task/examples/demo/public' },
    });

    // HTTP API: one catch-all route ($default) to a payload 2.0 proxy integration of the function.
    assert.equal(ofType('AWS::ApiGatewayV2::Api').length, 1);
    const routes = ofType('AWS::ApiGatewayV2::Route');
    assert.equal(routes.length, 1);
    const route = routes[0]![1].Properties;
    assert.equal(route.RouteKey, '$default');
    assert.deepEqual(route.Target, {
      'Fn::Join': ['/', ['integrations', { Ref: 'HttpApiIntegrationWeb' }]],
    });
    const integration = resources.HttpApiIntegrationWeb!.Properties;
    assert.equal(integration.IntegrationType, 'AWS_PROXY');
    assert.equal(integration.PayloadFormatVersion, '2.0');
    assert.deepEqual(integration.IntegrationUri, { 'Fn::GetAtt': ['WebLambdaFunction', 'Arn'] });

    // REST API: ANY on / and on /{proxy+}, both proxying to the function.
    const methods = ofType('AWS::ApiGateway::Method').map(([, r]) => r.Properties);
    assert.equal(methods.length, 2);
    for (const m of methods) {
      assert.equal(m.HttpMethod, 'ANY');
      assert.equal((m.Integration as { Type: string }).Type, 'AWS_PROXY');
    }
    const proxy = ofType('AWS::ApiGateway::Resource').map(([, r]) => r.Properties.PathPart);
    assert.deepEqual(proxy, ['{proxy+}']);
  });

  it('ships only the demo app and the bundle (as .mjs, an ES module without a package.json)', () => {
    assert.deepEqual(zipEntries(readFileSync(join(dir, 'fpm-bridge-demo.zip'))), PACKAGED_FILES);
  });
});
