/**
 * infra/Dockerfile, .dockerignore and infra/docker-compose.yml. No Docker engine runs here, so besides
 * checking what the files say, the tests lay the image's files out on this host (test/infra/image.ts) and
 * run the image's own command lines: ENTRYPOINT + CMD as an unprivileged user, the HEALTHCHECK command
 * against it, SIGTERM; and the compose file's two containers, php-fpm on TCP and fpm-bridge in front.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { load as parseYaml } from 'js-yaml';
import { ROOT } from '../support/cli.ts';
import { freePort } from '../support/ports.ts';
import { DEMO_HEADING } from '../support/tested-php.ts';
import { HostImage, imageUser, readImageSpec, run, start } from './image.ts';

const spec = readImageSpec(readFileSync(join(ROOT, 'infra/Dockerfile'), 'utf8'));
const final = spec.stages.at(-1)!.instructions;
const runs = (stage: number) =>
  spec.stages
    .at(stage)!
    .instructions.filter((i) => i.keyword === 'RUN')
    .map((i) => i.args);

/** The startup line `fpm-bridge serve` prints on stdout once it listens: JSON, its message naming the URL. */
const READY = /"msg":"[^"]* on http:\/\/\S+ /;

/** The user and the args of every process, by pid. */
function processes(): Map<number, { ppid: number; user: string; args: string }> {
  const out = execFileSync('ps', ['-eo', 'pid=,ppid=,user=,args='], { encoding: 'utf8' });
  const map = new Map<number, { ppid: number; user: string; args: string }>();
  for (const line of out.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+(\S+)\s+(.*)$/.exec(line);
    if (m !== null) map.set(Number(m[1]), { ppid: Number(m[2]), user: m[3]!, args: m[4]! });
  }
  return map;
}

let image: HostImage;
let user: ReturnType<typeof imageUser>;

before(() => {
  // The image holds the bundle the build stage makes: build it from the current sources.
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'pipe', timeout: 60_000 });
  image = new HostImage(spec);
  user = imageUser();
});
after(() => image.remove());

describe('infra/Dockerfile', () => {
  it('builds dist/cli.js in a node:22-bookworm-slim stage with npm ci and npm run build', () => {
    assert.equal(spec.args['NODE_VERSION'], '22');
    assert.equal(spec.stages[0]!.from, `node:\${NODE_VERSION}-bookworm-slim AS build`);
    assert.deepEqual(runs(0), ['npm ci --no-audit --no-fund', 'npm run build']);
    assert.ok(final.some((i) => i.args === '--from=build /src/dist/cli.js /opt/fpm-bridge/'));
  });

  it('runs on debian:trixie-slim with php8.4-fpm (bookworm and 8.2 with PHP_VERSION=8.2) and the node binary of the same Node image', () => {
    assert.equal(spec.args['PHP_VERSION'], '8.4');
    assert.deepEqual(
      spec.stages.map((s) => s.from),
      [
        `node:\${NODE_VERSION}-bookworm-slim AS build`,
        `node:\${NODE_VERSION}-bookworm-slim AS node`,
        'debian:trixie-slim AS php-8.4',
        'debian:bookworm-slim AS php-8.2',
        `php-\${PHP_VERSION}`,
      ],
    );
    const [install] = runs(-1);
    assert.match(
      install!,
      /^apt-get update && apt-get install -y --no-install-recommends php\$\{PHP_VERSION\}-fpm .* && ln -s php-fpm\$\{PHP_VERSION\} \/usr\/sbin\/php-fpm /,
    );
    assert.match(install!, /&& rm -rf \/var\/lib\/apt\/lists\/\* /);
    assert.equal(spec.args['PHP_EXTENSIONS'], 'bcmath curl gd intl mbstring mysql pgsql sqlite3 xml zip');
    assert.ok(final.some((i) => i.args === '--from=node /usr/local/bin/node /usr/local/bin/node'));
  });

  it('runs as the unprivileged user fpm-bridge (uid 10001)', () => {
    assert.equal(spec.user, 'fpm-bridge');
    const [install] = runs(-1);
    assert.match(install!, /useradd --system --uid 10001 --user-group .* fpm-bridge$/);
  });

  it('serves the app in /app on 0.0.0.0:8080, exposes 8080 and stops on SIGTERM', () => {
    assert.deepEqual(spec.entrypoint, ['node', '/opt/fpm-bridge/cli.js']);
    assert.deepEqual(spec.cmd, ['serve']);
    assert.equal(spec.workdir, '/app');
    assert.deepEqual(spec.env, { FPM_BRIDGE_LISTEN: '0.0.0.0:8080' });
    assert.deepEqual(
      final.filter((i) => i.keyword === 'EXPOSE' || i.keyword === 'STOPSIGNAL').map((i) => i.args),
      ['8080', 'SIGTERM'],
    );
    assert.equal(spec.args['APP'], 'examples/demo');
    assert.ok(final.some((i) => i.keyword === 'COPY' && i.args === `\${APP} /app`));
  });

  it('checks health with node and infra/healthcheck.mjs (no curl), within its own timeout', () => {
    assert.deepEqual(spec.healthcheck.command, ['node', '/opt/fpm-bridge/healthcheck.mjs']);
    assert.deepEqual(spec.healthcheck.options, {
      interval: '15s',
      timeout: '5s',
      'start-period': '20s',
      retries: '3',
    });
    assert.ok(
      final.some((i) => i.args === 'infra/healthcheck.mjs infra/php-fpm-sidecar.conf /opt/fpm-bridge/'),
    );
    // The script's own fetch timeout (4 s) ends before Docker's (5 s), so a hung server reads "unhealthy".
    assert.match(readFileSync(join(ROOT, 'infra/healthcheck.mjs'), 'utf8'), /AbortSignal\.timeout\(4000\)/);
  });

  it('keeps dependencies, build outputs, VCS data and tests out of the build context (.dockerignore)', () => {
    const lines = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'));
    assert.deepEqual(lines, [
      '.git',
      '**/node_modules',
      'dist',
      '**/cdk.out',
      '.serverless',
      '.fpm-bridge',
      'bench/.work',
      'test',
      '*.log',
    ]);
  });
});

describe("the image's command lines, run on this host", () => {
  it('ENTRYPOINT + CMD serve the demo app as an unprivileged user, pass the HEALTHCHECK, and exit 0 on SIGTERM', async (t) => {
    if (user.reason !== null) t.diagnostic(`ran as the current user: ${user.reason}`);
    const port = await freePort();
    // The image's environment with one change: a free port, as this host is shared.
    const env = image.env({ FPM_BRIDGE_LISTEN: `0.0.0.0:${port}` });
    const cwd = image.path(spec.workdir);
    const server = await start([...user.prefix, ...image.argv([...spec.entrypoint, ...spec.cmd])], {
      cwd,
      env,
      ready: READY,
    });
    let stopped: number | null;
    try {
      const startup = JSON.parse(server.output().split('\n')[0]!) as { url: string; docroot: string };
      assert.deepEqual([startup.url, startup.docroot], [`http://0.0.0.0:${port}`, image.path('/app/public')]);
      const health = run([...user.prefix, ...image.argv(spec.healthcheck.command)], { cwd, env });
      assert.equal(health.code, 0, health.output);

      const res = await fetch(`http://127.0.0.1:${port}/`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), DEMO_HEADING);

      // Regression: php-fpm opened its compiled-in error_log (/var/log/php-fpm.log) as a non-root user and
      // exited 78 (EACCES) until fpm-bridge's php-fpm config set error_log = /dev/null.
      if (user.reason === null) {
        const all = processes();
        assert.equal(all.get(server.child.pid!)?.user, 'nobody');
        const fpm = [...all.values()].filter(
          (p) => p.ppid === server.child.pid && p.args.includes('php-fpm'),
        );
        assert.deepEqual(
          fpm.map((p) => [p.user, p.args.replace(/\(.*\)/, '(…)')]),
          [['nobody', 'php-fpm: master process (…)']],
        );
      }
    } finally {
      stopped = await server.stop('SIGTERM');
    }
    assert.equal(stopped, 0, server.output());
    assert.equal(run([...user.prefix, ...image.argv(spec.healthcheck.command)], { cwd, env }).code, 1);
  });
});

describe('the sidecar topology of infra/docker-compose.yml', () => {
  interface Service {
    build: { context: string; dockerfile: string };
    image: string;
    init: boolean;
    entrypoint?: string[];
    command: string[];
    stop_signal?: string;
  }
  // js-yaml's default schema resolves the file's `<<:` merge keys.
  const compose = parseYaml(readFileSync(join(ROOT, 'infra/docker-compose.yml'), 'utf8')) as {
    services: { php: Service; web: Service };
  };
  const { php, web } = compose.services;

  it('runs one image twice: php-fpm on TCP port 9000, and fpm-bridge pointed at it', () => {
    for (const service of [php, web]) {
      assert.deepEqual(service.build, { context: '..', dockerfile: 'infra/Dockerfile' });
      assert.equal(service.image, 'fpm-bridge:local');
      assert.equal(service.init, true);
    }
    assert.deepEqual(php.entrypoint, [
      'php-fpm',
      '--nodaemonize',
      '--fpm-config',
      '/opt/fpm-bridge/php-fpm-sidecar.conf',
    ]);
    assert.deepEqual(php.command, []);
    // php-fpm stops gracefully (workers finish their requests) on SIGQUIT; SIGTERM ends them at once.
    assert.equal(php.stop_signal, 'SIGQUIT');
    assert.equal(web.entrypoint, undefined);
    assert.deepEqual(web.command, ['serve', '--fpm', 'tcp://php:9000']);
    assert.match(
      readFileSync(join(ROOT, 'infra/php-fpm-sidecar.conf'), 'utf8'),
      /^listen = 0\.0\.0\.0:9000$/m,
    );
  });

  describe('run on this host', () => {
    it('serves the demo app through a php-fpm of its own on TCP, both seeing the app at the same path', async (t) => {
      if (user.reason !== null) t.diagnostic(`ran as the current user: ${user.reason}`);
      const [fpmPort, port] = [await freePort(), await freePort()];
      // Loopback and a free port in place of the compose network's 0.0.0.0:9000 and host name "php".
      const conf = image.path('/opt/fpm-bridge/php-fpm-sidecar.conf');
      const text = readFileSync(conf, 'utf8');
      writeFileSync(conf, text.replace(/^listen = 0\.0\.0\.0:9000$/m, `listen = 127.0.0.1:${fpmPort}`));
      const env = image.env({ FPM_BRIDGE_LISTEN: `0.0.0.0:${port}` });
      const cwd = image.path(spec.workdir);

      const fpm = await start([...user.prefix, ...image.argv(php.entrypoint!)], {
        cwd,
        env,
        ready: /NOTICE: ready to handle connections/,
        logFile: join(image.dir, 'php-fpm.log'),
      });
      let fpmStopped: number | null = null;
      let webStopped: number | null = null;
      try {
        const command = web.command.map((a) => a.replace('tcp://php:9000', `tcp://127.0.0.1:${fpmPort}`));
        const front = await start([...user.prefix, ...image.argv([...spec.entrypoint, ...command])], {
          cwd,
          env,
          ready: READY,
        });
        try {
          assert.match(front.output(), new RegExp(`\\(tcp://127\\.0\\.0\\.1:${fpmPort}\\)"\\}\\n`));
          const base = `http://127.0.0.1:${port}`;

          const page = await fetch(`${base}/`);
          assert.equal(page.status, 200);
          assert.match(await page.text(), DEMO_HEADING);

          const info = await fetch(`${base}/info.php/some/path?x=1`);
          assert.equal(info.status, 200);
          assert.match(
            await info.text(),
            /^SCRIPT_NAME +\/info\.php\nPATH_INFO +\/some\/path\nQUERY_STRING +x=1\n/,
          );

          // Static files never reach php-fpm: fpm-bridge reads them from its own copy of the app.
          const css = await fetch(`${base}/style.css`);
          assert.equal(css.status, 200);
          assert.equal(await css.text(), 'body {\n  font-family: sans-serif;\n}\n');

          const health = await fetch(`${base}/fpm-bridge/health`);
          assert.equal(health.status, 200);
          const body = (await health.json()) as { status: string; phpFpm: string; backends: unknown[] };
          assert.equal(body.status, 'ok');
          assert.equal(body.phpFpm, 'external');
          assert.deepEqual(
            body.backends.map((b) => (b as { address: string; up: boolean }).address),
            [`tcp://127.0.0.1:${fpmPort}`],
          );
        } finally {
          webStopped = await front.stop('SIGTERM');
        }
      } finally {
        fpmStopped = await fpm.stop(php.stop_signal as NodeJS.Signals);
      }
      assert.equal(webStopped, 0);
      assert.equal(fpmStopped, 0, fpm.output());
    });
  });
});
