import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { startBackend } from '../../proxy/backend.ts';
import { Bridge } from '../../proxy/bridge.ts';
import { byteString } from '../../proxy/byte-strings.ts';
import type { ProxyRequest } from '../../proxy/cgi/request.ts';
import type { Route } from '../../proxy/cgi/route.ts';
import { type Config, loadConfig } from '../../proxy/config.ts';
import type { Logger } from '../../proxy/log.ts';
import type { StreamedResponse } from '../../proxy/upstream.ts';
import { phpFpmUnderTest } from './php-fpm.ts';

/** The PHP docroot the CGI tests run against (`test/fixtures/php`). */
export const FIXTURES_DOCROOT = fileURLToPath(new URL('../fixtures/php', import.meta.url));

/** What every hand-built request says about the connection it came on. */
export const CLIENT = {
  remoteAddress: '203.0.113.7',
  remotePort: 54321,
  serverAddress: '127.0.0.1',
  serverPort: 8080,
  protocol: 'HTTP/1.1',
} as const;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface LogEntry {
  level: LogLevel;
  fields: Record<string, unknown>;
  msg: string | undefined;
}

/** A Logger that keeps every entry, for assertions on what reached the log. */
export function recordingLogger(entries: LogEntry[]): Logger {
  const make = (level: LogLevel) => (fields: object, msg?: string) => {
    entries.push({ level, fields: { ...fields }, msg });
  };
  return { debug: make('debug'), info: make('info'), warn: make('warn'), error: make('error') };
}

export interface TestRequest {
  /** Default GET. */
  method?: string;
  /** Request target as a client sends it: raw path and query (text, sent as its UTF-8 bytes). */
  uri: string;
  /** Flat `[name, value, ...]`, like `IncomingMessage.rawHeaders`; repeats allowed. */
  headers?: readonly string[];
  body?: string | Buffer;
  /** Default: the body's length, or null (no body). */
  contentLength?: number | null;
  /** The client used TLS. Default false. */
  https?: boolean;
  /** Default HTTP/1.1. */
  protocol?: string;
  /** Per-request limit in ms passed to the bridge; default the config's. */
  timeout?: number;
}

export interface TestResponse {
  /** What the request was routed to. */
  route: Route;
  /** The id the request ran under (log entries carry it), or null when php-fpm was not asked. */
  requestId: string | null;
  status: number;
  statusText: string;
  /** Flat `[name, value, ...]` as the bridge returned them. */
  headers: string[];
  body: Buffer;
  /** Script exit status (null for static files and redirects). */
  appStatus: number | null;
  /** Every value of a header, case-insensitively, in order. */
  headerValues(name: string): string[];
  json<T = DumpBody>(): T;
}

/** What `dump.php` (and the scripts that include it) answer. */
export interface DumpBody {
  ran: string;
  server: Record<string, string | number>;
  get: Record<string, unknown>;
  post: Record<string, unknown>;
  cookie: Record<string, string>;
  files: Record<string, { name: string; type: string; size: number; error: number; md5: string | null }>;
  input: { length: number; md5: string };
  ini: { auto_prepend_file: string | false; display_errors: string | false };
}

export interface TestBridge {
  bridge: Bridge;
  config: Config;
  /** Everything logged so far (bridge and php-fpm lines). */
  log: LogEntry[];
  /** The params of every request dispatched to php-fpm, in order. */
  dispatched: (readonly string[])[];
  /** The ProxyRequest a front would build for `r`. */
  toRequest(r: TestRequest): ProxyRequest;
  /**
   * Routes and runs `r` the way a front does: a static route answers the file, a redirect answers 308, a
   * script runs buffered on php-fpm. Routing errors (BadRequestError, NotFoundError) reject.
   */
  request(r: TestRequest): Promise<TestResponse>;
  /** Runs `r` (which must route to a script) with `bridge.stream`. */
  stream(r: TestRequest): Promise<StreamedResponse>;
  close(): Promise<void>;
}

/**
 * Names php-fpm would put into `$_SERVER` from its own environment (the pool runs with `clear_env = no`):
 * they are kept away from the spawned php-fpm, so that a key in `$_SERVER` proves the bridge sent it.
 */
const CGI_LOOKING_ENV =
  /^(HTTP_|HTTPS$|CONTENT_|PATH_INFO$|PATH_TRANSLATED$|QUERY_STRING$|REQUEST_|SCRIPT_|SERVER_|REMOTE_|AUTH_TYPE$|DOCUMENT_|GATEWAY_INTERFACE$|REDIRECT_STATUS$|PHP_VALUE$|PHP_ADMIN_VALUE$)/;

let sequence = 0;

/**
 * Runs `start` (which spawns php-fpm) with the CGI-looking variables taken out of `process.env`, so that a
 * key in `$_SERVER` proves the bridge sent it; they are put back once `start` settles.
 */
export async function withoutCgiEnv<T>(start: () => Promise<T>): Promise<T> {
  const saved: Record<string, string | undefined> = {};
  for (const name of Object.keys(process.env)) {
    if (CGI_LOOKING_ENV.test(name)) {
      saved[name] = process.env[name];
      delete process.env[name];
    }
  }
  try {
    return await start();
  } finally {
    Object.assign(process.env, saved);
  }
}

export interface BridgeOptions {
  docroot?: string;
  overrides?: Partial<Record<keyof Config, unknown>>;
  /** Keep the params of every request in `dispatched` (default true; off for long runs). */
  record?: boolean;
}

/**
 * A {@link Bridge} over a real spawned php-fpm (the PHP under test: `FPM_BRIDGE_PHP_FPM`, else the one `serve`
 * finds), for `docroot` (default the fixtures) and config `overrides`. Other environment variables
 * (`FPM_BRIDGE_*`) and config files play no part.
 *
 * @example
 *   const t = await startBridge({ overrides: { frontControllerOnly: true } })
 *   const res = await t.request({ uri: '/upload/evil.php' })
 *   await t.close()
 */
export async function startBridge(options: BridgeOptions = {}): Promise<TestBridge> {
  const docroot = options.docroot ?? FIXTURES_DOCROOT;
  const { config } = await loadConfig({
    mode: 'serve',
    base: docroot,
    env: {},
    overrides: {
      docroot,
      workers: 2,
      accessLog: false,
      phpFpmBinary: phpFpmUnderTest(),
      ...options.overrides,
    },
  });
  const log: LogEntry[] = [];
  const logger = recordingLogger(log);
  const backend = await withoutCgiEnv(() => startBackend(config, logger));
  const dispatched: (readonly string[])[] = [];
  if (options.record !== false) {
    const inner = backend.dispatcher;
    backend.dispatcher = {
      dispatch(request, handler) {
        // PARAMS carry byte strings: a character past 0xFF would lose its high bits on the way to PHP.
        const text = request.params.find((p) => /[^\0-\xff]/.test(p));
        if (text !== undefined) throw new Error(`a param is text, not bytes: ${JSON.stringify(text)}`);
        dispatched.push(request.params);
        return inner.dispatch(request, handler);
      },
    };
  }
  const bridge = new Bridge(config, backend, logger);

  const toRequest = (r: TestRequest): ProxyRequest => {
    // Sent by a client, the target and the headers are the UTF-8 bytes of the test's text.
    const uri = byteString(r.uri);
    const q = uri.indexOf('?');
    const body = r.body === undefined ? undefined : Buffer.from(r.body);
    return {
      method: r.method ?? 'GET',
      uri,
      path: q < 0 ? uri : uri.slice(0, q),
      query: q < 0 ? '' : uri.slice(q + 1),
      headers: (r.headers ?? []).map(byteString),
      protocol: r.protocol ?? CLIENT.protocol,
      https: r.https ?? false,
      remoteAddress: CLIENT.remoteAddress,
      remotePort: CLIENT.remotePort,
      serverAddress: CLIENT.serverAddress,
      serverPort: CLIENT.serverPort,
      contentLength: r.contentLength !== undefined ? r.contentLength : (body?.length ?? null),
    };
  };

  return {
    bridge,
    config,
    log,
    dispatched,
    toRequest,
    async request(r) {
      const req = toRequest(r);
      const route = bridge.route(req);
      if (route.kind === 'static') {
        const body = readFileSync(route.filename);
        return response(route, null, 200, 'OK', ['Content-Length', String(body.length)], body, null);
      }
      if (route.kind === 'redirect') {
        return response(
          route,
          null,
          308,
          'Permanent Redirect',
          ['Location', route.location],
          Buffer.alloc(0),
          null,
        );
      }
      const body = r.body === undefined ? null : Buffer.from(r.body);
      const requestId = `test-${++sequence}`;
      const res = await bridge.buffer(req, route, body, requestId, r.timeout).response;
      return response(route, requestId, res.status, res.statusText, res.headers, res.body, res.appStatus);
    },
    async stream(r) {
      const req = toRequest(r);
      const route = bridge.route(req);
      if (route.kind !== 'script') throw new Error(`${r.uri} routes to ${route.kind}, not a script`);
      const body = r.body === undefined ? null : Buffer.from(r.body);
      return bridge.stream(req, route, body, `test-${++sequence}`, r.timeout).response;
    },
    close: () => backend.close(),
  };
}

function response(
  route: Route,
  requestId: string | null,
  status: number,
  statusText: string,
  headers: string[],
  body: Buffer,
  appStatus: number | null,
): TestResponse {
  return {
    route,
    requestId,
    status,
    statusText,
    headers,
    body,
    appStatus,
    headerValues(name) {
      const wanted = name.toLowerCase();
      const out: string[] = [];
      for (let i = 0; i < headers.length; i += 2) {
        if (headers[i]!.toLowerCase() === wanted) out.push(headers[i + 1]!);
      }
      return out;
    },
    json<T>() {
      return JSON.parse(body.toString('utf8')) as T;
    },
  };
}

/** Reads a stream to its end. */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Waits until `check()` holds, polling every 10 ms: for log lines php-fpm's master relays through its log
 * FIFO, which arrive some time after the response. Fails with `what` after 5 s.
 */
export async function waitFor(check: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !check(); waited += 10) {
    if (waited >= 5000) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
