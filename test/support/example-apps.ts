/**
 * The example apps (examples/laravel, examples/symfony) in tests: their vendor/ from Debian 13's packages, and
 * the two fronts a test sends the same requests through: `fpm-bridge serve` over HTTP, and the Lambda handler
 * in this process with the events of one source, on the php-fpm the tests run on.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { it } from 'node:test';
import type { Context } from 'aws-lambda';
import { findApp, frameworkEnvironment } from '../../handler/frameworks.ts';
import type { CliResult } from '../../handler/other-events.ts';
import { createLambdaApp, type LambdaApp } from '../../handler/runtime.ts';
import type { Config } from '../../proxy/config.ts';
import { locatePhpFpm, phpVersion } from '../../proxy/fpm/locate.ts';
import { installVendor, MANIFEST, vendorIsCurrent } from '../../scripts/frameworks.ts';
import { type LogEntry, recordingLogger, waitFor } from './bridge.ts';
import { ROOT, serve } from './cli.ts';
import { HTTP_EVENT_SOURCES, type HttpEventSource } from './events.ts';
import { eventFor, type HttpRequest, type Seen, SOURCE_HOST, seen } from './http-events.ts';
import { fakeContext } from './lambda-context.ts';

export type ExampleApp = 'laravel' | 'symfony';

/**
 * The php-fpm and php CLI a suite runs the apps on: the layer's under test/php-8.4/ (FPM_BRIDGE_PHP_FPM), else
 * Debian's own, also when scripts/test.mjs lays the layer over /opt for the whole run (where the newest
 * php-fpm, which fpm-bridge would pick, is the layer's).
 */
export const SUITE_PHP: { fpm: string; cli: string; version: string } = await (async () => {
  const fpm =
    process.env.FPM_BRIDGE_PHP_FPM ||
    locatePhpFpm(undefined, process.env, ['/usr/sbin', '/usr/local/sbin'], '/nonexistent/php-fpm');
  const full = await phpVersion(fpm);
  if (full === null) throw new Error(`${fpm} -v says no PHP version`);
  const version = full.split('.').slice(0, 2).join('.');
  // The CLI beside the layer's php-fpm, or Debian's of the same version.
  const cli = fpm.startsWith('/opt/') ? join(dirname(fpm), 'php') : `/usr/bin/php${version}`;
  return { fpm, cli, version };
})();

export const appDir = (app: ExampleApp): string => join(ROOT, 'examples', app);

/** Kept between runs: apt's lists and the .deb files of the frameworks (about 7 MB). */
export const FRAMEWORKS_CACHE = join(tmpdir(), 'fpm-bridge-frameworks-cache');

/**
 * Installs the app's vendor/ unless it is current (scripts/test.mjs installs both apps' once per run; a file
 * run alone finds them there).
 */
export async function ensureVendor(app: ExampleApp): Promise<void> {
  if (!vendorIsCurrent(appDir(app))) await installVendor(appDir(app), { cacheDir: FRAMEWORKS_CACHE });
}

/**
 * Why the PHP the tests run on cannot run the app, or undefined: an extension its Debian packages depend on
 * is not loaded (Debian 12's PHP 8.2 needs php8.2-mbstring). `uuid` is left out: only symfony/uid's
 * time-based UUIDs need it, which neither app makes.
 */
export function missingExtensions(app: ExampleApp): string | undefined {
  const { extensions } = JSON.parse(readFileSync(join(appDir(app), 'vendor', MANIFEST), 'utf8')) as {
    extensions: string[];
  };
  const loaded = execFileSync(SUITE_PHP.fpm, ['-m'], { encoding: 'utf8' }).toLowerCase().split('\n');
  const missing = extensions.filter((e) => e !== 'uuid' && !loaded.includes(e));
  return missing.length === 0
    ? undefined
    : `${SUITE_PHP.fpm} lacks the extensions ${missing.join(', ')} (Debian: php-<ext>)`;
}

/** The cookies a client keeps: what the app set, sent back with every request. */
class CookieJar {
  private readonly cookies = new Map<string, string>();

  header(): [string, string][] {
    if (this.cookies.size === 0) return [];
    return [['Cookie', [...this.cookies].map(([n, v]) => `${n}=${v}`).join('; ')]];
  }

  keep(setCookies: readonly string[] = []): void {
    for (const line of setCookies) {
      const pair = line.split(';', 1)[0]!;
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
  }
}

/** An app running behind one front, for one describe block. */
export interface RunningApp {
  /** The scheme and authority the app sees, for the absolute URLs it writes: `https://HOST`. */
  origin: string;
  /** The client's address as the app should see it. */
  clientIp: string;
  /** The port the app should see. */
  port: number;
  /** Where fpm-bridge put the framework's storage, caches and logs (the app's temp dir). */
  tmp: string;
  /** One request with the cookies kept so far; the cookies it sets are kept. */
  send(req: HttpRequest): Promise<Seen>;
  /** Everything logged so far, PHP's stderr included, as text. */
  log(): string;
  /**
   * Resolves once the log matches `pattern`: what PHP writes to its stderr (a framework's log) comes through
   * php-fpm's own log, some time after the response.
   */
  logged(pattern: RegExp): Promise<void>;
  /** The Lambda app, for events that are no HTTP request; null behind `serve`. */
  lambda: LambdaApp | null;
  /** A Lambda invocation context (deadline 30 s away). */
  context(): Context;
  stop(): Promise<void>;
}

export interface Front {
  name: string;
  start(app: ExampleApp): Promise<RunningApp>;
}

/** A request sent byte for byte (the target is not normalised, as fetch would). */
function send(base: string, req: HttpRequest): Promise<Seen> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    // Raw headers: Node adds no Host of its own then.
    const headers = [['Host', `${hostname}:${port}`], ...(req.headers ?? [])].flat();
    const out = request(
      { host: hostname, port, path: req.target, method: req.method ?? 'GET', headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          const seenHeaders: Record<string, string[]> = {};
          for (let i = 0; i < res.rawHeaders.length; i += 2) {
            const name = res.rawHeaders[i]!.toLowerCase();
            seenHeaders[name] = [...(seenHeaders[name] ?? []), res.rawHeaders[i + 1]!];
          }
          resolve({ status: res.statusCode!, headers: seenHeaders, body: Buffer.concat(chunks) });
        });
      },
    );
    out.on('error', reject);
    out.end(req.body);
  });
}

/** `fpm-bridge serve APP/public`, with the app's writable paths in a temp dir as the Lambda handler sets them. */
export const serveFront: Front = {
  name: 'fpm-bridge serve',
  async start(app) {
    const tmp = mkdtempSync(join(tmpdir(), `fpm-bridge-${app}-serve-`));
    const docroot = join(appDir(app), 'public');
    const env = frameworkEnvironment(findApp({ framework: 'auto', docroot }, appDir(app)), {}, tmp);
    const served = await serve([docroot], { ...env, FPM_BRIDGE_PHP_FPM: SUITE_PHP.fpm });
    const jar = new CookieJar();
    return {
      origin: served.url,
      clientIp: '127.0.0.1',
      port: Number(new URL(served.url).port),
      tmp,
      lambda: null,
      context: () => fakeContext(),
      async send(req) {
        const res = await send(served.url, { ...req, headers: [...(req.headers ?? []), ...jar.header()] });
        jar.keep(res.headers['set-cookie']);
        return res;
      },
      log: () => jsonLogText(served.stderr()),
      logged: (pattern) => waitFor(() => pattern.test(jsonLogText(served.stderr())), `${pattern} in the log`),
      async stop() {
        await served.stop();
        rmSync(tmp, { recursive: true, force: true });
      },
    };
  },
};

/** Log lines of JSON (`serve`'s, the Lambda handler's) as text: each message, then its other fields. */
export function jsonLogText(stderr: string): string {
  return stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => {
      const { msg, ...fields } = JSON.parse(line) as { msg?: string };
      return `${msg ?? ''} ${JSON.stringify(fields)}`;
    })
    .join('\n');
}

const logText = (entries: readonly LogEntry[]) =>
  entries.map((e) => `${e.msg ?? ''} ${JSON.stringify(e.fields)}`).join('\n');

/**
 * The Lambda handler in this process, answering the events `source` sends for each request, with the
 * settings `overrides` gives.
 */
export const lambdaFront = (
  source: HttpEventSource,
  overrides: Partial<Record<keyof Config, unknown>> = {},
): Front => ({
  name: `the Lambda handler (${source} events)`,
  async start(app) {
    const tmp = mkdtempSync(join(tmpdir(), `fpm-bridge-${app}-lambda-`));
    const entries: LogEntry[] = [];
    const lambda = await createLambdaApp({
      taskRoot: appDir(app),
      env: { TMPDIR: tmp },
      overrides: {
        docroot: join(appDir(app), 'public'),
        phpFpmBinary: SUITE_PHP.fpm,
        phpBinary: SUITE_PHP.cli,
        ...overrides,
      },
      log: recordingLogger(entries),
    });
    const jar = new CookieJar();
    return {
      origin: `https://${SOURCE_HOST[source]}`,
      clientIp: '203.0.113.42',
      port: 443,
      tmp,
      lambda,
      context: () => fakeContext(),
      async send(req) {
        const event = eventFor(source, { ...req, headers: [...(req.headers ?? []), ...jar.header()] });
        const res = seen(await lambda.handler(event, fakeContext()));
        jar.keep(res.headers['set-cookie']);
        return res;
      },
      log: () => logText(entries),
      logged: (pattern) => waitFor(() => pattern.test(logText(entries)), `${pattern} in the log`),
      async stop() {
        await lambda.close();
        rmSync(tmp, { recursive: true, force: true });
      },
    };
  },
});

/** A multipart/form-data body as a browser sends it (undici's encoder), and its Content-Type. */
export async function multipart(
  fields: Record<string, string | { name: string; type: string; data: Buffer }>,
): Promise<{ headers: [string, string][]; body: Buffer }> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    if (typeof value === 'string') form.append(name, value);
    else form.append(name, new Blob([value.data], { type: value.type }), value.name);
  }
  const encoded = new Response(form);
  const body = Buffer.from(await encoded.arrayBuffer());
  return { headers: [['Content-Type', encoded.headers.get('content-type')!]], body };
}

/** A form body as a browser posts it. */
export function formBody(fields: Record<string, string>): { headers: [string, string][]; body: Buffer } {
  return {
    headers: [['Content-Type', 'application/x-www-form-urlencoded']],
    body: Buffer.from(new URLSearchParams(fields).toString()),
  };
}

/** The text of a response body. */
export const text = (res: Seen): string => res.body.toString('utf8');

/**
 * For each HTTP event source: the app's /request/x page, reached through that source, sees HTTPS, the
 * source's host, port 443 and the client's address, not an X-Forwarded-For the client forged.
 */
export function itSeesTheClientBehindEachSource(app: ExampleApp): void {
  for (const source of HTTP_EVENT_SOURCES) {
    it(`sees HTTPS, the host, port 443 and the client behind ${source}, not a forged X-Forwarded-For`, async () => {
      const behind = await lambdaFront(source).start(app);
      try {
        const res = await behind.send({
          target: '/request/x?y=1',
          headers: [['X-Forwarded-For', '198.51.100.7']],
        });
        const seen = JSON.parse(text(res));
        assert.deepEqual(
          { url: seen.url, secure: seen.secure, host: seen.host, port: seen.port, ip: seen.ip },
          {
            url: `${behind.origin}/request/x?y=1`,
            secure: true,
            host: new URL(behind.origin).hostname,
            port: 443,
            ip: '203.0.113.42',
          },
        );
      } finally {
        await behind.stop();
      }
    });
  }
}

/**
 * A console event `{"cli": "<command> app:greet Zoë"}` runs the app's command: its output (`greeting`) and
 * exit code 0, and with `--fail` the same output and exit code 3. `app()` is the running app on Lambda.
 */
export function itRunsConsoleEvents(command: string, app: () => RunningApp, greeting: RegExp): void {
  it(`runs ${command} for a console event, with its output and exit code`, async () => {
    const running = app();
    const greeted = (await running.lambda!.handler(
      { cli: `${command} app:greet Zoë` },
      running.context(),
    )) as CliResult;
    assert.equal(greeted.exitCode, 0);
    assert.match(greeted.output, greeting);
    const failed = (await running.lambda!.handler(
      { cli: `${command} app:greet Zoë --fail` },
      running.context(),
    )) as CliResult;
    assert.equal(failed.exitCode, 3);
    assert.match(failed.output, greeting);
  });
}
