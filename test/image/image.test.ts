/**
 * The container image, built and run for real: infra/Dockerfile, unmodified, built by podman for PHP 8.4 (its
 * default) and 8.2 (test/support/podman.ts), then run as Docker and ECS run it — with an init process, its
 * HEALTHCHECK, stopped with its STOPSIGNAL — and in the sidecar topology of infra/docker-compose.yml, its two
 * services as two containers of one pod.
 *
 * Not part of `npm test` (scripts/test.mjs leaves test/image/ out): scripts/image-check.sh runs it after the
 * suite, in CI (.ci/run) and for people (`npm run test:image`). It fails, never skips, where podman cannot run.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { load as parseYaml } from 'js-yaml';
import { ROOT } from '../support/cli.ts';
import { demoHeading } from '../support/demo.ts';
import { type ImagePhp, Podman, podmanMissing, SUITES } from '../support/podman.ts';
import { freePort } from '../support/ports.ts';

const missing = podmanMissing();
const podman = missing === null ? new Podman() : null;
let images: Record<ImagePhp, { tag: string; log: string }>;

/** Every pod and container in the check's own storage: what this run made, or an interrupted one left. */
function removeAll(): void {
  podman!.ok(['pod', 'rm', '--all', '--force']);
  podman!.ok(['rm', '--all', '--force', '--time', '0']);
}

before(() => {
  if (podman === null) throw new Error(`the image check cannot run here: ${missing}`);
  removeAll();
  images = podman.buildImages();
});
after(() => {
  if (podman !== null) removeAll();
});

const STYLE_CSS = readFileSync(join(ROOT, 'examples/demo/public/style.css'), 'utf8');

/** The stdout of container `name`, line by line (`podman logs` keeps stdout and stderr apart). */
const stdoutLines = (name: string) =>
  podman!
    .ok(['logs', name])
    .split('\n')
    .filter((l) => l !== '');

/** Waits until `ready()` holds, for at most 30 s; throws with `what()` (the container's logs) if it never does. */
async function waitUntil(ready: () => boolean, what: () => string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (ready()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not ready after 30 s:\n${what()}`);
}

/** `podman run --detach --name NAME ARGS`. */
function runDetached(name: string, args: readonly string[]): void {
  podman!.ok(['run', '--detach', '--name', name, ...args]);
}

/** The logs of container `name`, stdout and stderr, for a failure message. */
function logsOf(name: string): string {
  const r = podman!.run(['logs', name]);
  return `${r.stdout}${r.stderr}`;
}

/** `[user, uid, command line]` of each process of container `name`, as `podman top` lists them. */
function processes(name: string): string[][] {
  return podman!
    .ok(['top', name, 'user', 'huser', 'args'])
    .split('\n')
    .slice(1)
    .map((l) => /^(\S+)\s+(\S+)\s+(.*?)\s*$/.exec(l)!.slice(1));
}

/**
 * Stops container `name` as `docker stop` does (its stop signal, SIGKILL 10 s later) and returns its exit
 * code. Without blocking: fpm-bridge closes this process's idle kept-alive connections as it stops.
 */
async function stop(name: string): Promise<number> {
  await podman!.okAsync(['stop', '--time', '10', name]);
  return Number(podman!.ok(['inspect', '--format', '{{.State.ExitCode}}', name]));
}

for (const php of Object.keys(SUITES) as ImagePhp[]) {
  const heading = demoHeading(php);
  const tag = () => images[php].tag;

  describe(`the image for PHP ${php} (debian:${SUITES[php]}-slim)`, () => {
    it('is in Docker’s format, its config running fpm-bridge serve in /app as fpm-bridge on port 8080, with its HEALTHCHECK', (t) => {
      const [image] = JSON.parse(podman!.ok(['image', 'inspect', tag()])) as {
        ManifestType: string;
        Size: number;
        Config: Record<string, unknown>;
        Healthcheck: unknown;
      }[];
      assert.equal(image!.ManifestType, 'application/vnd.docker.distribution.manifest.v2+json');
      const { User, ExposedPorts, Env, Entrypoint, Cmd, WorkingDir, StopSignal } = image!.Config;
      assert.deepEqual(
        { User, ExposedPorts, Env, Entrypoint, Cmd, WorkingDir, StopSignal },
        {
          User: 'fpm-bridge',
          ExposedPorts: { '8080/tcp': {} },
          Env: [
            'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
            'FPM_BRIDGE_LISTEN=0.0.0.0:8080',
          ],
          Entrypoint: ['node', '/opt/fpm-bridge/cli.js'],
          Cmd: ['serve'],
          WorkingDir: '/app',
          StopSignal: 'SIGTERM',
        },
      );
      assert.deepEqual(image!.Healthcheck, {
        Test: ['CMD', 'node', '/opt/fpm-bridge/healthcheck.mjs'],
        StartPeriod: 20e9,
        Interval: 15e9,
        Timeout: 5e9,
        Retries: 3,
      });
      t.diagnostic(`${tag()}: ${(image!.Size / 1e6).toFixed(0)} MB`);
    });

    it('was built with no debconf or useradd warning in its log', (t) => {
      const log = images[php].log;
      // On a cached build the step's output is not in the log; CI builds on a fresh machine.
      if (!log.includes(' newly installed, ')) return t.skip('the apt-get step came from the build cache');
      assert.deepEqual(
        log.split('\n').filter((l) => /^debconf: |useradd warning/.test(l)),
        [],
      );
    });

    it('carries no systemd: systemd-standalone-tmpfiles stands in for it', () => {
      const installed = podman!
        .ok([
          'run',
          '--rm',
          '--network',
          'none',
          '--entrypoint',
          'dpkg-query',
          tag(),
          '-W',
          '-f',
          // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's format, not a template
          '${db:Status-Abbrev}${Package}\n',
          'systemd*',
        ])
        .split('\n')
        .filter((l) => l.startsWith('ii '))
        .map((l) => l.slice(3).trim());
      assert.deepEqual(installed, ['systemd-standalone-tmpfiles']);
    });

    it('has php-fpm load the extensions of PHP_EXTENSIONS', () => {
      const modules = podman!.ok([
        'run',
        '--rm',
        '--network',
        'none',
        '--entrypoint',
        'php-fpm',
        tag(),
        '-m',
      ]);
      assert.equal(
        modules.replace(/\n+/g, ' '),
        '[PHP Modules] bcmath calendar cgi-fcgi Core ctype curl date dom exif FFI fileinfo filter ftp gd gettext hash iconv intl json libxml mbstring mysqli mysqlnd openssl pcre PDO pdo_mysql pdo_pgsql pdo_sqlite pgsql Phar posix random readline Reflection session shmop SimpleXML sockets sodium SPL sqlite3 standard sysvmsg sysvsem sysvshm tokenizer xml xmlreader xmlwriter xsl Zend OPcache zip zlib [Zend Modules] Zend OPcache',
      );
    });

    describe('run with an init process, as `docker run --init -p 8080:8080` runs it', () => {
      const name = `fpm-bridge-check-${process.pid}-php${php}`;
      let base: string;
      before(async () => {
        const port = await freePort();
        base = `http://127.0.0.1:${port}`;
        runDetached(name, [
          '--init',
          '--network',
          'slirp4netns:port_handler=slirp4netns',
          '--publish',
          `127.0.0.1:${port}:8080`,
          tag(),
        ]);
        await waitUntil(
          () => stdoutLines(name).length > 0,
          () => logsOf(name),
        );
      });

      it('answers the demo page, run by PHP of its version, and a static file with 200', async () => {
        const page = await fetch(`${base}/`);
        assert.equal(page.status, 200);
        assert.match(await page.text(), heading);
        const css = await fetch(`${base}/style.css`);
        assert.equal(css.status, 200);
        assert.equal(await css.text(), STYLE_CSS);
      });

      it('runs every process as fpm-bridge (uid 10001): the init process, fpm-bridge, php-fpm and its workers', () => {
        const rows = processes(name);
        const [startup] = stdoutLines(name).map((l) => JSON.parse(l) as { fpm: string });
        const workers = Number(/, (\d+) workers,/.exec(startup!.fpm)![1]);
        assert.deepEqual(
          rows.map(([user, huser, args]) => [user, huser, args!.replace(/\(\/tmp\/\S+\)/, '(…)')]),
          [
            ['fpm-bridge', '10001', '/run/podman-init -- node /opt/fpm-bridge/cli.js serve'],
            ['fpm-bridge', '10001', 'node /opt/fpm-bridge/cli.js serve'],
            ['fpm-bridge', '10001', 'php-fpm: master process (…)'],
            ...Array.from({ length: workers }, () => ['fpm-bridge', '10001', 'php-fpm: pool app']),
          ],
        );
      });

      it('passes its HEALTHCHECK', () => {
        const check = podman!.run(['healthcheck', 'run', name]);
        assert.equal(check.code, 0, check.stderr);
        assert.equal(podman!.ok(['inspect', '--format', '{{.State.Health.Status}}', name]), 'healthy');
      });

      it('writes JSON lines only to stdout, the first naming the URL, the docroot and the PHP it runs', () => {
        const [startup, ...rest] = stdoutLines(name).map((l) => JSON.parse(l) as Record<string, unknown>);
        assert.equal(startup!.url, 'http://0.0.0.0:8080');
        assert.equal(startup!.docroot, '/app/public');
        assert.match(startup!.php as string, new RegExp(`^${php.replace('.', '\\.')}\\.\\d+$`));
        assert.match(
          startup!.msg as string,
          /^fpm-bridge\/0\.1\.0 serving \/app\/public on http:\/\/0\.0\.0\.0:8080 \(PHP /,
        );
        // The access log: the requests above (health checks are answered before it).
        assert.deepEqual(
          rest.map((l) => [l.msg, l.url, l.status]),
          [
            ['request', '/', 200],
            ['request', '/style.css', 200],
          ],
        );
      });

      it('stops on SIGTERM with exit status 0, before podman would kill it', async () => {
        assert.equal(await stop(name), 0, logsOf(name));
      });
    });

    describe('in the sidecar topology of infra/docker-compose.yml, its services as containers of one pod', () => {
      interface Service {
        init?: boolean;
        entrypoint?: string[];
        command?: string[];
        stop_signal?: string;
        healthcheck?: { disable?: boolean };
        ports?: string[];
      }
      const { services } = parseYaml(readFileSync(join(ROOT, 'infra/docker-compose.yml'), 'utf8')) as {
        services: Record<string, Service>;
      };
      const pod = `fpm-bridge-check-${process.pid}-php${php}-pod`;
      const names = Object.keys(services).map((service) => `${pod}-${service}`);
      let base: string;

      before(async () => {
        const port = await freePort();
        base = `http://127.0.0.1:${port}`;
        const published = Object.values(services).flatMap((s) => s.ports ?? []);
        assert.deepEqual(published, ['8080:8080']);
        // The pod's containers share one network namespace, as the containers of one ECS task do: each
        // service's name is the pod's own address, as compose's network makes it the service's.
        podman!.ok([
          'pod',
          'create',
          '--name',
          pod,
          '--network',
          'slirp4netns:port_handler=slirp4netns',
          '--publish',
          `127.0.0.1:${port}:8080`,
          ...Object.keys(services).flatMap((service) => ['--add-host', `${service}:127.0.0.1`]),
        ]);
        for (const [service, s] of Object.entries(services)) {
          runDetached(`${pod}-${service}`, [
            '--pod',
            pod,
            ...(s.init === true ? ['--init'] : []),
            ...(s.stop_signal === undefined ? [] : ['--stop-signal', s.stop_signal]),
            ...(s.healthcheck?.disable === true ? ['--no-healthcheck'] : []),
            ...(s.entrypoint === undefined ? [] : ['--entrypoint', JSON.stringify(s.entrypoint)]),
            tag(),
            ...(s.command ?? []),
          ]);
        }
        await waitUntil(
          () =>
            names.every(
              (n) => logsOf(n).includes('ready to handle connections') || stdoutLines(n).length > 0,
            ),
          () => names.map(logsOf).join('\n'),
        );
      });

      it('serves the demo page, a script with its path info and a static file, through php-fpm on TCP', async () => {
        const page = await fetch(`${base}/`);
        assert.equal(page.status, 200);
        assert.match(await page.text(), heading);
        const info = await fetch(`${base}/info.php/some/path?x=1`);
        assert.equal(info.status, 200);
        assert.match(
          await info.text(),
          /^SCRIPT_NAME +\/info\.php\nPATH_INFO +\/some\/path\nQUERY_STRING +x=1\n/,
        );
        // Static files never reach php-fpm: fpm-bridge reads them from its own copy of the app.
        const css = await fetch(`${base}/style.css`);
        assert.equal(css.status, 200);
        assert.equal(await css.text(), STYLE_CSS);
      });

      it('reports php-fpm over TCP as its one backend, up', async () => {
        const health = await fetch(`${base}/fpm-bridge/health`);
        assert.equal(health.status, 200);
        const body = (await health.json()) as {
          status: string;
          phpFpm: string;
          backends: { address: string; up: boolean }[];
        };
        assert.deepEqual(
          [body.status, body.phpFpm, body.backends.map((b) => [b.address, b.up])],
          ['ok', 'external', [['tcp://php:9000', true]]],
        );
      });

      it('runs every process of both containers as fpm-bridge (uid 10001)', () => {
        assert.deepEqual(
          names.map((n) => [n, [...new Set(processes(n).map(([user, uid]) => `${user} ${uid}`))]]),
          names.map((n) => [n, ['fpm-bridge 10001']]),
        );
      });

      it('stops both containers with exit status 0: fpm-bridge on SIGTERM, then php-fpm on its stop signal', async () => {
        // In the reverse of the file's order, as compose stops a service before those it depends on.
        const stopped: [string, number][] = [];
        for (const n of [...names].reverse()) stopped.push([n, await stop(n)]);
        assert.deepEqual(
          stopped,
          [...names].reverse().map((n) => [n, 0]),
        );
      });
    });
  });
}
