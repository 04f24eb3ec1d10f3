// Builds the Lambda layer once from Debian's packages (downloads cached under the OS temp dir, so re-runs
// skip them; CI starts without them), then runs its php and php-fpm in a bubblewrap sandbox that holds only
// the layer at /opt, a private /tmp, /proc and /dev — none of the host's /usr, /lib or /etc, as on a Lambda
// runtime whose system is not the one the binaries were built for.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { createLambdaApp } from '../../handler/runtime.ts';
import { buildLayer, type LayerReport } from '../../layer/build.ts';
import { BUILT_IN, CLI_BUILT_IN, DEFAULT_EXTENSIONS, EXTENSIONS } from '../../layer/extensions.ts';
import { readZipEntry } from '../../layer/zip.ts';
import { LayerError } from '../../proxy/errors.ts';
import { getValues } from '../../proxy/fastcgi/management.ts';
import { recordingLogger, waitFor } from '../support/bridge.ts';
import { loadEvent } from '../support/events.ts';
import { fakeContext } from '../support/lambda-context.ts';

/** Kept between runs: apt's lists and the .deb files (about 50 MB for the default extensions). */
const CACHE = join(tmpdir(), 'fpm-bridge-layer-cache');

const work = mkdtempSync(join(tmpdir(), 'fpm-bridge-layer-test-'));
/** The unzipped layer, bound read-only at /opt in every sandbox. */
const LAYER = join(work, 'opt');
let report: LayerReport;
let buildSeconds = 0;

/**
 * `bwrap` mounts for a sandbox with the layer at /opt and nothing of the host's system. As root (CI, this
 * machine) bwrap creates its namespaces itself; an unprivileged user needs user namespaces, which
 * `--unshare-all` asks for too.
 */
const SANDBOX = [
  '--unshare-all',
  '--die-with-parent',
  '--ro-bind',
  LAYER,
  '/opt',
  '--tmpfs',
  '/tmp',
  '--proc',
  '/proc',
  '--dev',
  '/dev',
];

/** The sandbox's arguments up to the command: its mounts, `extra` ones, and the layer's ini variables. */
function sandboxArgs(extra: readonly string[] = []): string[] {
  return [
    ...SANDBOX,
    ...extra,
    '--clearenv',
    '--setenv',
    'PHPRC',
    '/opt/etc/php',
    '--setenv',
    'PHP_INI_SCAN_DIR',
    '/opt/etc/php/conf.d',
    '--chdir',
    '/',
  ];
}

function inSandbox(command: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('bwrap', [...sandboxArgs(), ...command], { encoding: 'utf8', timeout: 60_000 });
  if (r.error !== undefined) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `php -r CODE` in the sandbox; its stdout, after checking it exited 0 and wrote nothing on stderr. */
function php(code: string): string {
  const r = inSandbox(['/opt/bin/php', '-r', code]);
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
  return r.stdout;
}

/** The module names `php -m` prints, sorted case-insensitively. */
function modules(output: string): string[] {
  const names = output
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('['))
    .map((l) => l.trim());
  return [...new Set(names)].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));
}

before(async () => {
  const started = Date.now();
  report = await buildLayer({
    out: join(work, 'out'),
    php: '8.2',
    extensions: [...DEFAULT_EXTENSIONS],
    arch: 'x86_64',
    cacheDir: CACHE,
  });
  buildSeconds = (Date.now() - started) / 1000;
  mkdirSync(LAYER);
  // unzip(1), not our own reader: the zip must be one that other tools (and Lambda) read as we meant it.
  const r = spawnSync('unzip', ['-q', report.zip, '-d', LAYER], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

after(() => rmSync(work, { recursive: true, force: true }));

describe('fpm-bridge layer build', () => {
  it('builds layer.zip with php, php-fpm, the loader and the libraries, well under Lambda’s limit', (t) => {
    t.diagnostic(
      `build: ${buildSeconds.toFixed(1)} s, ${(report.unzippedBytes / 1048576).toFixed(1)} MiB unzipped, ${(report.zipBytes / 1048576).toFixed(1)} MiB zipped, ${report.packages.length} packages`,
    );
    for (const file of ['bin/php', 'bin/php-fpm', 'lib/ld-linux-x86-64.so.2', 'lib/libc.so.6']) {
      assert.ok(existsSync(join(LAYER, file)), `${file} is in the layer`);
    }
    assert.ok(report.unzippedBytes < report.limit);
    const manifest = JSON.parse(readFileSync(join(LAYER, 'share/fpm-bridge/layer.json'), 'utf8'));
    assert.deepEqual(manifest.extensions, report.extensions.shared);
    assert.deepEqual(manifest.packages, report.packages);
    // What `layer publish` reads to label the layer's architecture, straight from the zip.
    const fromZip = readZipEntry(readFileSync(report.zip), 'share/fpm-bridge/layer.json');
    assert.deepEqual(JSON.parse(fromZip!.toString('utf8')), manifest);
  });

  it('gives the same zip, byte for byte, when built again from the same packages', async () => {
    const again = await buildLayer({
      out: join(work, 'again'),
      php: '8.2',
      extensions: [...DEFAULT_EXTENSIONS],
      arch: 'x86_64',
      cacheDir: CACHE,
      offline: true,
    });
    assert.equal(again.sha256, report.sha256);
    assert.ok(readFileSync(again.zip).equals(readFileSync(report.zip)));
  });

  it('fails past the unzipped size limit, naming the size and the limit, and writes no zip', async () => {
    const out = join(work, 'too-big');
    await assert.rejects(
      // One small extension: the limit is checked before compressing, the smaller build is quicker to fail.
      buildLayer({
        out,
        php: '8.2',
        extensions: ['opcache'],
        arch: 'x86_64',
        cacheDir: CACHE,
        offline: true,
        limit: 10_000_000,
      }),
      (err: unknown) => {
        assert.ok(err instanceof LayerError);
        assert.equal(err.code, 'FPM_BRIDGE_ERR_LAYER');
        assert.match(
          err.message,
          /^the layer would be \d+\.\d MiB \([\d,]+ bytes\) unzipped, over the limit of 9\.5 MiB \(10,000,000 bytes\) — Lambda allows 250\.0 MiB \(262,144,000 bytes\) for a function and all its layers together; choose fewer --extensions$/,
        );
        return true;
      },
    );
    assert.equal(existsSync(join(out, 'layer.zip')), false);
  });
});

describe('the layer in a sandbox with nothing but the layer at /opt', () => {
  it('sees no host /usr, /lib or /etc', () => {
    assert.equal(
      php('var_export([is_dir("/usr"), is_dir("/lib"), is_dir("/etc")]);'),
      'array (\n  0 => false,\n  1 => false,\n  2 => false,\n)',
    );
  });

  it('php -m lists exactly the chosen extensions and the ones built into the binary', () => {
    const r = inSandbox(['/opt/bin/php', '-m']);
    assert.equal(r.stderr, '');
    const chosen = report.extensions.shared.map((n) => EXTENSIONS[n]!.module);
    assert.deepEqual(modules(r.stdout), modules([...BUILT_IN, ...CLI_BUILT_IN, ...chosen].join('\n')));
  });

  it('php-fpm -m lists them too, without the CLI-only ones', () => {
    const r = inSandbox(['/opt/bin/php-fpm', '-m']);
    assert.equal(r.stderr, '');
    const chosen = report.extensions.shared.map((n) => EXTENSIONS[n]!.module);
    // php-fpm -m also names its SAPI.
    assert.deepEqual(modules(r.stdout), modules([...BUILT_IN, 'cgi-fcgi', ...chosen].join('\n')));
  });

  it('reads the layer’s php.ini and runs as /opt/bin/php', () => {
    assert.equal(
      php(
        'echo php_ini_loaded_file(), " ", PHP_BINARY, " ", ini_get("extension_dir"), " ", ini_get("display_errors");',
      ),
      '/opt/etc/php/php.ini /opt/bin/php /opt/lib/php/extensions ',
    );
  });

  it('knows the time zones (tzdata in the layer) and defaults to UTC', () => {
    assert.equal(
      php(
        'echo date_default_timezone_get(), " ", (new DateTime("2024-07-01 12:00:00", new DateTimeZone("Europe/Paris")))->format(DATE_ATOM), " ", in_array("America/New_York", timezone_identifiers_list(), true) ? "listed" : "missing";',
      ),
      'UTC 2024-07-01T12:00:00+02:00 listed',
    );
  });

  it('converts character sets with iconv (glibc’s gconv modules in the layer) and intl, and has C.UTF-8', () => {
    assert.equal(
      php(
        'echo bin2hex(iconv("UTF-8", "ISO-8859-1", "é")), " ", bin2hex(iconv("UTF-8", "SJIS", "日本")), " ", bin2hex(Normalizer::normalize("e\\u{301}")), " ", setlocale(LC_ALL, "C.UTF-8");',
      ),
      'e9 93fa967b c3a9 C.UTF-8',
    );
  });

  it('php-fpm accepts the layer’s php-fpm.conf (-t)', () => {
    const r = inSandbox([
      '/opt/bin/php-fpm',
      '-t',
      '-F',
      '-O',
      '-R',
      '--fpm-config',
      '/opt/etc/php-fpm.conf',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /NOTICE: configuration file \/opt\/etc\/php-fpm\.conf test is successful\n/);
  });

  it('php-fpm with the layer’s php-fpm.conf answers FastCGI on /tmp/php-fpm.sock', async () => {
    // The sandbox's /tmp is a host directory here, so that the socket can be reached from outside.
    const shared = mkdtempSync(join(work, 'tmp-'));
    const args = [...sandboxArgs(['--bind', shared, '/tmp'])];
    const fpm = spawn(
      'bwrap',
      [...args, '/opt/bin/php-fpm', '-F', '-O', '-R', '--fpm-config', '/opt/etc/php-fpm.conf'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let log = '';
    fpm.stderr!.on('data', (d) => (log += d));
    try {
      await waitFor(() => log.includes('ready to handle connections') || fpm.exitCode !== null, 'php-fpm');
      assert.match(log, /ready to handle connections/);
      // php-fpm 8.2 answers FCGI_MPXS_CONNS=0 to a GET_VALUES request (see proxy/fastcgi/management.ts).
      assert.deepEqual(await getValues({ kind: 'unix', path: join(shared, 'php-fpm.sock') }), {
        mpxsConns: false,
      });
    } finally {
      await stop(fpm);
    }
  });
});

describe('the Lambda handler with the layer’s php-fpm in the sandbox', () => {
  const task = join(work, 'task');
  const view = join(work, 'view');

  before(() => {
    mkdirSync(join(task, 'public'), { recursive: true });
    mkdirSync(join(task, 'php', 'conf.d'), { recursive: true });
    writeFileSync(
      join(task, 'public', 'index.php'),
      `<?php
header('Content-Type: application/json');
echo json_encode([
  'ini' => php_ini_loaded_file(),
  'scanned' => array_map('trim', explode(',', php_ini_scanned_files())),
  'memory_limit' => ini_get('memory_limit'),
  'binary' => PHP_BINARY,
  'sapi' => PHP_SAPI,
  'intl' => extension_loaded('intl'),
  'usr' => is_dir('/usr'),
  'date' => (new DateTime('2024-01-15 08:00', new DateTimeZone('Asia/Tokyo')))->format(DATE_ATOM),
]);
`,
    );
    // The app's own ini (Bref's convention): read after the layer's, so it wins over the layer's 10240M.
    writeFileSync(join(task, 'php', 'conf.d', 'app.ini'), 'memory_limit = 256M\n');
    // The handler is given this wrapper as its php-fpm. It stands where the layer would be (its etc/ is the
    // layer's), so that the handler treats it as the layer's binary; the wrapper then starts the real one in
    // the sandbox, with the layer at /opt and the paths the handler chose mapped there, as on Lambda.
    mkdirSync(join(view, 'bin'), { recursive: true });
    symlinkSync(join(LAYER, 'etc'), join(view, 'etc'));
    const wrapper = join(view, 'bin', 'php-fpm');
    writeFileSync(
      wrapper,
      `#!/bin/bash
set -euo pipefail
printf '%s\\n' "PHPRC=$PHPRC" "PHP_INI_SCAN_DIR=$PHP_INI_SCAN_DIR" > '${view}/launch.txt'
# The supervisor's socket and config are in a private directory under the host's /tmp: shared with the sandbox.
config=
for ((i = 1; i <= $#; i++)); do
  if [ "\${!i}" = --fpm-config ]; then j=$((i + 1)); config=\${!j}; fi
done
run_dir=$(dirname "$config")
exec bwrap ${SANDBOX.map((a) => `'${a}'`).join(' ')} \\
  --bind "$run_dir" "$run_dir" --ro-bind '${task}' '${task}' \\
  --clearenv --setenv PHPRC "\${PHPRC//'${view}'//opt}" --setenv PHP_INI_SCAN_DIR "\${PHP_INI_SCAN_DIR//'${view}'//opt}" \\
  /opt/bin/php-fpm "$@"
`,
    );
    chmodSync(wrapper, 0o755);
  });

  it('answers a request from the layer’s php-fpm, with the layer’s php.ini and the app’s php/conf.d', async () => {
    const app = await createLambdaApp({
      taskRoot: task,
      env: {},
      overrides: { phpFpmBinary: join(view, 'bin', 'php-fpm') },
      log: recordingLogger([]),
    });
    try {
      const event = loadEvent('apigw-http', 'get-root');
      const result = (await app.handler(event, fakeContext())) as APIGatewayProxyStructuredResultV2;
      assert.equal(result.statusCode, 200, String(result.body));
      assert.deepEqual(JSON.parse(String(result.body)), {
        ini: '/opt/etc/php/php.ini',
        scanned: [
          ...readdirSync(join(LAYER, 'etc/php/conf.d'))
            .sort()
            .map((f) => `/opt/etc/php/conf.d/${f}`),
          join(task, 'php/conf.d/app.ini'),
        ],
        memory_limit: '256M',
        binary: '/opt/bin/php-fpm',
        sapi: 'fpm-fcgi',
        intl: true,
        usr: false,
        date: '2024-01-15T08:00:00+09:00',
      });
      // What the handler gave the layer's binary (phpEnv), before the wrapper mapped the layer to /opt.
      assert.equal(
        readFileSync(join(view, 'launch.txt'), 'utf8'),
        `PHPRC=${view}/etc/php\nPHP_INI_SCAN_DIR=${view}/etc/php/conf.d:${task}/php/conf.d\n`,
      );
    } finally {
      await app.close();
    }
  });
});

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}
