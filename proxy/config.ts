import { existsSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ConfigError } from './errors.ts';

/** Where the settings are used: defaults differ a little between the two fronts. */
export type Mode = 'serve' | 'lambda';

/** Every setting, resolved and validated. */
export interface Config {
  docroot: string;
  index: string;
  frontController: string | false;
  frontControllerOnly: boolean;
  pathInfo: RegExp;
  scriptExtensions: string[];
  checkFiles: boolean;
  staticFiles: boolean;
  symlinks: 'follow' | 'within-docroot';
  fileCacheTtl: number;
  setParams: Record<string, string>;
  passHeaders: string[];
  hideHeaders: string[];
  fpm: 'spawn' | string[];
  phpFpmBinary: string;
  phpIni: string[];
  workers: number;
  maxConns: number;
  keepConn: boolean;
  keepConnTimeout: number;
  maxReqs: number;
  mpxsConns: boolean;
  getValues: boolean;
  timeout: number;
  connectTimeout: number;
  startTimeout: number;
  queueLimit: number;
  queueTimeout: number;
  maxResponseHeaderSize: number;
  maxBodySize: number;
  requestBuffering: boolean;
  maxResponseBuffer: number;
  logStderr: 'log' | 'ignore';
  listen: string;
  basePath: string;
  textTypes: string[];
  compress: 'auto' | 'never';
  eventsScript: string | false;
  framework: 'auto' | 'laravel' | 'symfony' | 'none';
  scheduleCommand: string;
  messengerTransport: string;
  failOn5xx: boolean;
  trustForwardedHost: boolean;
  timeoutMargin: number;
  phpBinary: string;
  trustedProxies: string[];
  headersTimeout: number;
  bodyTimeout: number;
  bodyMinRate: number;
  idleTimeout: number;
  keepAliveTimeout: number;
  maxHeaderSize: number;
  accessLog: boolean;
  healthPath: string | false;
  metricsPath: string | false;
  metricsListen: string;
  healthInterval: number;
  healthFailures: number;
  healthCoolDown: number;
}

type Kind =
  | 'string'
  | 'string-or-empty'
  | 'boolean'
  | 'integer'
  | 'list'
  | 'map'
  | 'regex'
  | 'path'
  | 'paths'
  | 'enum'
  | 'string-or-false'
  | 'url-path-or-empty'
  | 'url-path-or-false';

interface Setting {
  key: keyof Config;
  env: string;
  kind: Kind;
  /** Text for the README: default with its unit. */
  defaultText: string;
  meaning: string;
  /** For `enum`. */
  values?: readonly string[];
  /** For `integer`: smallest allowed. */
  min?: number;
  default: (ctx: DefaultsContext) => unknown;
}

interface DefaultsContext {
  mode: Mode;
  /** Folder defaults are relative to: the working directory (serve) or LAMBDA_TASK_ROOT. */
  base: string;
}

const cpus = () => Math.max(2, availableParallelism());

/**
 * The one declaration of every setting: name, env var, default (with unit) and meaning. The README's
 * configuration table is generated from it (`configTable`) and a test keeps the two equal.
 */
export const SETTINGS: readonly Setting[] = [
  {
    key: 'docroot',
    env: 'FPM_BRIDGE_DOCROOT',
    kind: 'path',
    defaultText: '`public/` of the working dir (Lambda: task root) if it exists, else that dir',
    meaning: 'document root as php-fpm sees it (fcgi-app `docroot`)',
    default: ({ base }) => (isDir(join(base, 'public')) ? join(base, 'public') : base),
  },
  {
    key: 'index',
    env: 'FPM_BRIDGE_INDEX',
    kind: 'string',
    defaultText: '`index.php`',
    meaning: 'script run for a directory request (`index`)',
    default: () => 'index.php',
  },
  {
    key: 'frontController',
    env: 'FPM_BRIDGE_FRONT_CONTROLLER',
    kind: 'string-or-false',
    defaultText: '`index.php`',
    meaning: 'script for requests that match no file; `false` answers 404 instead (direct-script mode)',
    default: () => 'index.php',
  },
  {
    key: 'frontControllerOnly',
    env: 'FPM_BRIDGE_FRONT_CONTROLLER_ONLY',
    kind: 'boolean',
    defaultText: '`false`',
    meaning:
      'every request runs the front controller, never another script (safest where users upload files)',
    default: () => false,
  },
  {
    key: 'pathInfo',
    env: 'FPM_BRIDGE_PATH_INFO',
    kind: 'regex',
    defaultText: '`^(.+?\\.php)(/.*)?$`',
    meaning:
      'regex with two captures splitting the decoded path into SCRIPT_NAME and PATH_INFO (`path-info`)',
    default: () => '^(.+?\\.php)(/.*)?$',
  },
  {
    key: 'scriptExtensions',
    env: 'FPM_BRIDGE_SCRIPT_EXTENSIONS',
    kind: 'list',
    defaultText: '`[.php]`',
    meaning: 'file endings that run as PHP; anything else is never executed',
    default: () => ['.php'],
  },
  {
    key: 'checkFiles',
    env: 'FPM_BRIDGE_CHECK_FILES',
    kind: 'boolean',
    defaultText: '`true`',
    meaning:
      'route by looking at the docroot (try_files); `false` = HAProxy semantics for a php-fpm whose files are not local',
    default: () => true,
  },
  {
    key: 'staticFiles',
    env: 'FPM_BRIDGE_STATIC_FILES',
    kind: 'boolean',
    defaultText: '`true` (serve), `false` (Lambda)',
    meaning: 'serve existing non-PHP files directly; when off they go to the front controller',
    default: ({ mode }) => mode === 'serve',
  },
  {
    key: 'symlinks',
    env: 'FPM_BRIDGE_SYMLINKS',
    kind: 'enum',
    values: ['follow', 'within-docroot'],
    defaultText: '`follow`',
    meaning:
      '`within-docroot` refuses files reached through a symlink that leaves the docroot (needs `checkFiles: true`)',
    default: () => 'follow',
  },
  {
    key: 'fileCacheTtl',
    env: 'FPM_BRIDGE_FILE_CACHE_TTL',
    kind: 'integer',
    min: 0,
    defaultText: '`2000` ms',
    meaning:
      "how long what a docroot path is (file, directory, nothing) is remembered for routing, as nginx's `open_file_cache`; a new or deleted script is seen at most this late; `0` = look at every request",
    default: () => 2000,
  },
  {
    key: 'setParams',
    env: 'FPM_BRIDGE_SET_PARAMS',
    kind: 'map',
    defaultText: '`{}`',
    meaning:
      'extra or overriding params; values may use `%[req.hdr(Name)]`, `%[src]`, `%[path]`, ... (`set-param`)',
    default: () => ({}),
  },
  {
    key: 'passHeaders',
    env: 'FPM_BRIDGE_PASS_HEADERS',
    kind: 'list',
    defaultText: '`[]`',
    meaning: 'hidden headers to pass anyway, e.g. `Proxy-Authorization` (`pass-header`)',
    default: () => [],
  },
  {
    key: 'hideHeaders',
    env: 'FPM_BRIDGE_HIDE_HEADERS',
    kind: 'list',
    defaultText: '`[]`',
    meaning: 'more request headers never passed to PHP, e.g. `Authorization` (HAProxy hides it by default)',
    default: () => [],
  },
  {
    key: 'fpm',
    env: 'FPM_BRIDGE_FPM',
    kind: 'list',
    defaultText: '`spawn`',
    meaning:
      '`spawn` (start and supervise php-fpm) or addresses `unix:/path.sock`, `tcp://host:port`; several = balanced',
    default: () => 'spawn',
  },
  {
    key: 'phpFpmBinary',
    env: 'FPM_BRIDGE_PHP_FPM',
    kind: 'path',
    defaultText: 'found on PATH, `/usr/sbin/php-fpm*`, `/usr/local/sbin/php-fpm*`, `/opt/bin/php-fpm`',
    meaning: 'php-fpm binary to spawn',
    default: () => '',
  },
  {
    key: 'phpIni',
    env: 'FPM_BRIDGE_PHP_INI',
    kind: 'paths',
    defaultText: '`[]`',
    meaning: 'extra php.ini directories for the spawned php-fpm (added to its scan dir)',
    default: () => [],
  },
  {
    key: 'workers',
    env: 'FPM_BRIDGE_WORKERS',
    kind: 'integer',
    min: 1,
    defaultText: 'CPU count, at least 2 (Lambda: 1)',
    meaning: 'php-fpm workers when spawning (`pm = static`); also the connection limit to them',
    default: ({ mode }) => (mode === 'lambda' ? 1 : cpus()),
  },
  {
    key: 'maxConns',
    env: 'FPM_BRIDGE_MAX_CONNS',
    kind: 'integer',
    min: 1,
    defaultText: "`5` (php-fpm's default `pm.max_children`)",
    meaning:
      "connections per external fpm address: set it to that pool's worker count. Above it, the connections php-fpm leaves in its listen backlog are found and the limit lowered to what it serves (logged, and in health and metrics)",
    default: () => 5,
  },
  {
    key: 'keepConn',
    env: 'FPM_BRIDGE_KEEP_CONN',
    kind: 'boolean',
    defaultText: '`true`',
    meaning: 'keep connections open between requests (`option keep-conn`)',
    default: () => true,
  },
  {
    key: 'keepConnTimeout',
    env: 'FPM_BRIDGE_KEEP_CONN_TIMEOUT',
    kind: 'integer',
    min: 1,
    defaultText: '`5000` ms',
    meaning:
      "a kept connection to php-fpm idle this long is closed: php-fpm counts the wait on one as part of the next request, against `request_terminate_timeout`. The spawned php-fpm's is `timeout` + this + 1 s (none on Lambda)",
    default: () => 5000,
  },
  {
    key: 'maxReqs',
    env: 'FPM_BRIDGE_MAX_REQS',
    kind: 'integer',
    min: 1,
    defaultText: '`1`',
    meaning:
      "requests at once on one connection when multiplexing (`option max-reqs`); with `getValues` the server's FCGI_MAX_REQS decides",
    default: () => 1,
  },
  {
    key: 'mpxsConns',
    env: 'FPM_BRIDGE_MPXS_CONNS',
    kind: 'boolean',
    defaultText: '`false`',
    meaning: 'multiplex requests on a connection (`option mpxs-conns`; php-fpm never does)',
    default: () => false,
  },
  {
    key: 'getValues',
    env: 'FPM_BRIDGE_GET_VALUES',
    kind: 'boolean',
    defaultText: '`false`',
    meaning: 'ask the server with FCGI_GET_VALUES whether it multiplexes (`option get-values`)',
    default: () => false,
  },
  {
    key: 'timeout',
    env: 'FPM_BRIDGE_TIMEOUT',
    kind: 'integer',
    min: 0,
    defaultText: '`60000` ms (Lambda: `0`)',
    meaning:
      'per-request limit; past it → 504 and the worker released; `0` = none. In Lambda the remaining invocation time minus `timeoutMargin` always applies too',
    default: ({ mode }) => (mode === 'lambda' ? 0 : 60_000),
  },
  {
    key: 'connectTimeout',
    env: 'FPM_BRIDGE_CONNECT_TIMEOUT',
    kind: 'integer',
    min: 0,
    defaultText: '`5000` ms',
    meaning: 'limit for connecting to php-fpm',
    default: () => 5000,
  },
  {
    key: 'startTimeout',
    env: 'FPM_BRIDGE_START_TIMEOUT',
    kind: 'integer',
    min: 1,
    defaultText: '`10000` ms',
    meaning: 'wait for a spawned php-fpm to open its socket',
    default: () => 10_000,
  },
  {
    key: 'queueLimit',
    env: 'FPM_BRIDGE_QUEUE_LIMIT',
    kind: 'integer',
    min: 0,
    defaultText: '`1024` requests',
    meaning: 'requests allowed to wait for a free worker, per php-fpm address; more → 503',
    default: () => 1024,
  },
  {
    key: 'queueTimeout',
    env: 'FPM_BRIDGE_QUEUE_TIMEOUT',
    kind: 'integer',
    min: 0,
    defaultText: '`30000` ms',
    meaning: 'longest wait for a free worker; longer → 503; `0` = none',
    default: () => 30_000,
  },
  {
    key: 'maxResponseHeaderSize',
    env: 'FPM_BRIDGE_MAX_RESPONSE_HEADER_SIZE',
    kind: 'integer',
    min: 1024,
    defaultText: '`65536` bytes',
    meaning: 'largest header block accepted from PHP; larger → 502',
    default: () => 65_536,
  },
  {
    key: 'maxBodySize',
    env: 'FPM_BRIDGE_MAX_BODY_SIZE',
    kind: 'integer',
    min: 0,
    defaultText: '`104857600` bytes (100 MiB)',
    meaning: 'largest request body; larger → 413; `0` = no limit',
    default: () => 100 * 1024 * 1024,
  },
  {
    key: 'requestBuffering',
    env: 'FPM_BRIDGE_REQUEST_BUFFERING',
    kind: 'boolean',
    defaultText: '`true`',
    meaning:
      "`serve` only: a request body is read whole (in memory up to 1 MiB, past that in a temporary file) before a php-fpm worker is taken, as nginx's `fastcgi_request_buffering`; `false` streams a Content-Length body to PHP as it arrives, so a client that uploads slowly holds a worker all along (unsafe where clients are not trusted). Chunked bodies are always read whole",
    default: () => true,
  },
  {
    key: 'maxResponseBuffer',
    env: 'FPM_BRIDGE_MAX_RESPONSE_BUFFER',
    kind: 'integer',
    min: 0,
    defaultText: '`1073741824` bytes (1 GiB)',
    meaning:
      "`serve` only: most bytes of one response held for a client slower than PHP (in memory up to 256 KiB, past that in a temporary file), so that PHP's worker is free once PHP is done, as nginx's `fastcgi_buffering` with its `fastcgi_max_temp_file_size`; past it PHP waits for the client. `0` = none held: a client that reads slowly holds a worker all along (unsafe where clients are not trusted)",
    default: () => 1024 * 1024 * 1024,
  },
  {
    key: 'logStderr',
    env: 'FPM_BRIDGE_LOG_STDERR',
    kind: 'enum',
    values: ['log', 'ignore'],
    defaultText: '`log`',
    meaning:
      "PHP's log output (`error_log()`, warnings) goes to the log with the request id, or is dropped (`log-stderr`); raw `php://stderr` writes arrive through php-fpm's own log (with the invocation's id on Lambda, without one under `serve`); never to the client",
    default: () => 'log',
  },
  {
    key: 'listen',
    env: 'FPM_BRIDGE_LISTEN',
    kind: 'string',
    defaultText: '`127.0.0.1:8080`',
    meaning: '`serve` only: address to listen on, `HOST:PORT` or `PORT`',
    default: () => '127.0.0.1:8080',
  },
  {
    key: 'basePath',
    env: 'FPM_BRIDGE_BASE_PATH',
    kind: 'url-path-or-empty',
    defaultText: '`""`',
    meaning:
      'Lambda: prefix removed from the path before routing and from REQUEST_URI, e.g. a stage `/prod` or a custom-domain base path `/api`',
    default: () => '',
  },
  {
    key: 'textTypes',
    env: 'FPM_BRIDGE_TEXT_TYPES',
    kind: 'list',
    defaultText: '`text/*`, JSON, XML, JavaScript, SVG, form types',
    meaning:
      'Lambda: response content types returned as text (when valid UTF-8); every other body is base64-encoded',
    default: () => [
      'text/*',
      'application/json',
      'application/*+json',
      'application/xml',
      'application/*+xml',
      'application/javascript',
      'application/x-javascript',
      'application/x-www-form-urlencoded',
      'image/svg+xml',
    ],
  },
  {
    key: 'compress',
    env: 'FPM_BRIDGE_COMPRESS',
    kind: 'enum',
    values: ['auto', 'never'],
    defaultText: '`auto`',
    meaning:
      'Lambda: `auto` compresses (br or gzip, as the client accepts) a response that would exceed the payload limit; `never` answers 502 instead',
    default: () => 'auto',
  },
  {
    key: 'eventsScript',
    env: 'FPM_BRIDGE_EVENTS_SCRIPT',
    kind: 'string-or-false',
    defaultText: '`false`',
    meaning:
      "Lambda: script (e.g. `events.php`) that receives non-HTTP events (SQS, SNS, S3, EventBridge) as a JSON POST; a 2xx is success, its JSON the result. `false`: SQS events and schedules go to the app's framework (`framework`), other events fail, naming what arrived",
    default: () => false,
  },
  {
    key: 'framework',
    env: 'FPM_BRIDGE_FRAMEWORK',
    kind: 'enum',
    values: ['auto', 'laravel', 'symfony', 'none'],
    defaultText: '`auto`',
    meaning:
      "Lambda: the app's framework, found by its files (`artisan`, `bin/console`) from the docroot up to the task root: its caches, logs and storage go to /tmp, SQS events run as its queue jobs or Messenger messages ([docs/laravel.md](docs/laravel.md), [docs/symfony.md](docs/symfony.md)); `none` = neither",
    default: () => 'auto',
  },
  {
    key: 'scheduleCommand',
    env: 'FPM_BRIDGE_SCHEDULE_COMMAND',
    kind: 'string-or-empty',
    defaultText: '`artisan schedule:run` (Laravel), else none',
    meaning:
      'Lambda: console command an EventBridge schedule ("Scheduled Event") runs, as a `{"cli": ...}` event would; its output goes to the log, a non-zero exit fails the invocation',
    default: () => '',
  },
  {
    key: 'messengerTransport',
    env: 'FPM_BRIDGE_MESSENGER_TRANSPORT',
    kind: 'string',
    defaultText: '`async`',
    meaning:
      'Lambda, Symfony: the Messenger transport SQS events belong to; their messages are decoded with its serializer and handled as if it had received them',
    default: () => 'async',
  },
  {
    key: 'failOn5xx',
    env: 'FPM_BRIDGE_FAIL_ON_5XX',
    kind: 'boolean',
    defaultText: '`false`',
    meaning: 'Lambda: a 5xx from PHP also fails the invocation (for alarms and retries)',
    default: () => false,
  },
  {
    key: 'trustForwardedHost',
    env: 'FPM_BRIDGE_TRUST_FORWARDED_HOST',
    kind: 'boolean',
    defaultText: '`false`',
    meaning:
      'Lambda: take HTTP_HOST and SERVER_NAME from X-Forwarded-Host (set by CloudFront in front of the API)',
    default: () => false,
  },
  {
    key: 'timeoutMargin',
    env: 'FPM_BRIDGE_TIMEOUT_MARGIN',
    kind: 'integer',
    min: 0,
    defaultText: '`1000` ms',
    meaning: 'Lambda: time kept back from the invocation deadline to answer 504 and recycle the worker',
    default: () => 1000,
  },
  {
    key: 'phpBinary',
    env: 'FPM_BRIDGE_PHP',
    kind: 'path',
    defaultText: 'found on PATH or `/opt/bin/php`',
    meaning: 'Lambda: `php` CLI that runs `{"cli": "..."}` console events',
    default: () => '',
  },
  {
    key: 'trustedProxies',
    env: 'FPM_BRIDGE_TRUSTED_PROXIES',
    kind: 'list',
    defaultText: '`[]`',
    meaning:
      '`serve` only: IPs/CIDRs of proxies whose X-Forwarded-For/-Proto/-Port are believed (client address, `HTTPS=on`)',
    default: () => [],
  },
  {
    key: 'headersTimeout',
    env: 'FPM_BRIDGE_HEADERS_TIMEOUT',
    kind: 'integer',
    min: 1,
    defaultText: '`30000` ms',
    meaning: '`serve` only: time a client has to send its request headers',
    default: () => 30_000,
  },
  {
    key: 'bodyTimeout',
    env: 'FPM_BRIDGE_BODY_TIMEOUT',
    kind: 'integer',
    min: 0,
    defaultText: '`30000` ms',
    meaning:
      '`serve` only: time a client has to send a body read whole (`requestBuffering`, chunked), plus one second for every `bodyMinRate` bytes it sent; slower → 408. `0` = none',
    default: () => 30_000,
  },
  {
    key: 'bodyMinRate',
    env: 'FPM_BRIDGE_BODY_MIN_RATE',
    kind: 'integer',
    min: 0,
    defaultText: '`1024` bytes/s',
    meaning:
      "`serve` only: the pace that extends `bodyTimeout` (Apache's mod_reqtimeout `MinRate`): a body arriving at least this fast is never cut, one trickling slower is; `0` = `bodyTimeout` bounds the whole body",
    default: () => 1024,
  },
  {
    key: 'idleTimeout',
    env: 'FPM_BRIDGE_IDLE_TIMEOUT',
    kind: 'integer',
    min: 0,
    defaultText: '`60000` ms',
    meaning:
      '`serve` only: a client silent this long mid-upload, or not reading mid-download, is cut (PHP taking its time is bounded by `timeout` instead); `0` = never',
    default: () => 60_000,
  },
  {
    key: 'keepAliveTimeout',
    env: 'FPM_BRIDGE_KEEP_ALIVE_TIMEOUT',
    kind: 'integer',
    min: 0,
    defaultText: '`5000` ms',
    meaning: '`serve` only: how long an idle keep-alive connection stays open',
    default: () => 5000,
  },
  {
    key: 'maxHeaderSize',
    env: 'FPM_BRIDGE_MAX_HEADER_SIZE',
    kind: 'integer',
    min: 1024,
    defaultText: '`16384` bytes',
    meaning: '`serve` only: largest request head (request line and headers); larger → 431',
    default: () => 16_384,
  },
  {
    key: 'accessLog',
    env: 'FPM_BRIDGE_ACCESS_LOG',
    kind: 'boolean',
    defaultText: '`true`',
    meaning:
      '`serve` only: one JSON line per request on stdout (method, url, status, bytes, durationMs, requestId, remoteAddress, backend, aborted); `false` costs nothing per request',
    default: () => true,
  },
  {
    key: 'healthPath',
    env: 'FPM_BRIDGE_HEALTH_PATH',
    kind: 'url-path-or-false',
    defaultText: '`/fpm-bridge/health`',
    meaning:
      '`serve` only: path fpm-bridge answers itself (never PHP) with 200 or 503 and a JSON body saying which backends are up; `false` = none',
    default: () => '/fpm-bridge/health',
  },
  {
    key: 'metricsPath',
    env: 'FPM_BRIDGE_METRICS_PATH',
    kind: 'url-path-or-false',
    defaultText: '`/fpm-bridge/metrics`',
    meaning:
      '`serve` only: path fpm-bridge answers itself (never PHP) with Prometheus metrics; `false` = no metrics, nothing counted',
    default: () => '/fpm-bridge/metrics',
  },
  {
    key: 'metricsListen',
    env: 'FPM_BRIDGE_METRICS_LISTEN',
    kind: 'string-or-empty',
    defaultText: '`""` (the main listener)',
    meaning:
      '`serve` only: `HOST:PORT` of a separate listener for `metricsPath` and `healthPath`; the main listener then keeps only `healthPath`',
    default: () => '',
  },
  {
    key: 'healthInterval',
    env: 'FPM_BRIDGE_HEALTH_INTERVAL',
    kind: 'integer',
    min: 0,
    defaultText: '`5000` ms',
    meaning:
      'fpm addresses: an FCGI_GET_VALUES probe this often to each address with no open connection; `0` = no active check',
    default: () => 5000,
  },
  {
    key: 'healthFailures',
    env: 'FPM_BRIDGE_HEALTH_FAILURES',
    kind: 'integer',
    min: 1,
    defaultText: '`3`',
    meaning:
      'fpm addresses: failures in a row (refused connects, failed probes, requests timed out unanswered) that mark an address down (a completed request or answered probe marks it up)',
    default: () => 3,
  },
  {
    key: 'healthCoolDown',
    env: 'FPM_BRIDGE_HEALTH_COOL_DOWN',
    kind: 'integer',
    min: 0,
    defaultText: '`10000` ms',
    meaning:
      'fpm addresses: an address marked down gets no requests this long (unless every address is down), then one request tries it',
    default: () => 10_000,
  },
];

const BY_KEY = new Map(SETTINGS.map((s) => [s.key as string, s]));

export interface LoadOptions {
  mode: Mode;
  /** Explicit file (`--config`); else FPM_BRIDGE_CONFIG; else fpm-bridge.{yml,yaml,json} in `base`. */
  file?: string;
  /** Folder for defaults and for finding the file. */
  base?: string;
  env?: NodeJS.ProcessEnv;
  /** Settings given on the command line; they win over file and env. */
  overrides?: Partial<Record<keyof Config, unknown>>;
}

/**
 * Loads the configuration: defaults, then the config file, then `FPM_BRIDGE_*` environment variables,
 * then command-line overrides. Unknown keys and invalid values throw a {@link ConfigError} naming the key,
 * the bad value and what is allowed. Relative paths resolve against the file's folder.
 */
export async function loadConfig(options: LoadOptions): Promise<{ config: Config; file: string | null }> {
  const env = options.env ?? process.env;
  const base = resolve(options.base ?? process.cwd());
  const file = findFile(options.file ?? env.FPM_BRIDGE_CONFIG, base);
  const values: Record<string, unknown> = {};
  const sources: Record<string, string> = {};
  const fileDir = file === null ? base : dirname(file);
  if (file !== null) {
    const raw = await readConfigFile(file);
    for (const [key, value] of Object.entries(raw)) {
      if (!BY_KEY.has(key)) throw unknownKey(key, file);
      values[key] = value;
      sources[key] = `${file}`;
    }
  }
  for (const s of SETTINGS) {
    const text = env[s.env];
    if (text !== undefined && text !== '') {
      values[s.key] = fromEnv(s, text);
      sources[s.key] = `environment variable ${s.env}`;
    }
  }
  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    if (value === undefined) continue;
    values[key] = value;
    sources[key] = 'the command line';
  }
  const ctx: DefaultsContext = { mode: options.mode, base };
  const config = {} as Record<string, unknown>;
  for (const s of SETTINGS) {
    if (s.key in values) {
      const dir = sources[s.key] === file ? fileDir : base;
      config[s.key] = validate(s, values[s.key], sources[s.key]!, dir);
    } else {
      config[s.key] = validate(s, s.default(ctx), 'the default', base);
    }
  }
  const result = config as unknown as Config;
  if (!isDir(result.docroot)) {
    throw new ConfigError(
      `"docroot" ${result.docroot} is not a directory — point it at your app's public folder`,
    );
  }
  if (result.symlinks === 'within-docroot' && !result.checkFiles) {
    throw new ConfigError(
      '"symlinks: within-docroot" needs "checkFiles: true": with checkFiles off fpm-bridge never looks at the files, so it could not refuse a symlink that leaves the docroot',
    );
  }
  return { config: result, file };
}

function findFile(explicit: string | undefined, base: string): string | null {
  if (explicit !== undefined && explicit !== '') {
    const path = resolve(base, explicit);
    if (!existsSync(path)) throw new ConfigError(`config file ${path} does not exist`);
    return path;
  }
  for (const name of ['fpm-bridge.yml', 'fpm-bridge.yaml', 'fpm-bridge.json']) {
    const path = join(base, name);
    if (existsSync(path)) return path;
  }
  return null;
}

async function parseYaml(text: string): Promise<unknown> {
  const { load, CORE_SCHEMA } = await import('js-yaml');
  return load(text, { schema: CORE_SCHEMA });
}

async function readConfigFile(file: string): Promise<Record<string, unknown>> {
  let raw: unknown;
  try {
    const text = readFileSync(file, 'utf8');
    // js-yaml is evaluated only for a YAML file; the core schema reads YAML 1.2 (no dates, no `yes` for true).
    raw = file.endsWith('.json') ? JSON.parse(text) : await parseYaml(text);
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message.split('\n')[0]}`, {
      cause: err,
    });
  }
  if (raw === null || raw === undefined) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(`config file ${file} must hold a mapping of settings, e.g. "docroot: public"`);
  }
  return raw as Record<string, unknown>;
}

function unknownKey(key: string, file: string): ConfigError {
  const lower = key.toLowerCase();
  const near = SETTINGS.find(
    (s) => s.key.toLowerCase() === lower || distance(s.key.toLowerCase(), lower) <= 2,
  );
  return new ConfigError(
    `unknown setting "${key}" in ${file}${near === undefined ? '' : ` — did you mean "${near.key}"?`} (settings are listed in the README)`,
  );
}

function fromEnv(s: Setting, text: string): unknown {
  switch (s.kind) {
    case 'list':
    case 'paths':
      return text
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== '');
    case 'map':
      try {
        return JSON.parse(text);
      } catch {
        throw new ConfigError(
          `${s.env} must be a JSON object, e.g. {"APP_ENV":"production"}; got ${JSON.stringify(text)}`,
        );
      }
    default:
      return text;
  }
}

/** A URL path fpm-bridge answers or strips: from `/`, without query, fragment or whitespace. */
const URL_PATH = /^\/[^?#\s]*$/;

function validate(s: Setting, value: unknown, source: string, dir: string): unknown {
  const bad = (expected: string) =>
    new ConfigError(`invalid "${s.key}" ${JSON.stringify(value)} from ${source} — expected ${expected}`);
  switch (s.kind) {
    case 'string':
      if (typeof value !== 'string' || value === '') throw bad('a non-empty string');
      return value;
    case 'string-or-empty':
      if (typeof value !== 'string') throw bad('a string');
      return value;
    case 'string-or-false':
      if (value === false || value === 'false') return false;
      if (typeof value !== 'string' || value === '') throw bad('a script path such as index.php, or false');
      return value;
    case 'url-path-or-empty':
      if (value === '') return value;
      if (typeof value !== 'string' || !URL_PATH.test(value))
        throw bad('a path starting with / (no query), e.g. /api, or "" for none');
      return value;
    case 'url-path-or-false':
      if (value === false || value === 'false') return false;
      if (typeof value !== 'string' || !URL_PATH.test(value))
        throw bad('a path starting with / (no query), or false');
      return value;
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (value === 'true' || value === '1') return true;
      if (value === 'false' || value === '0') return false;
      throw bad('true or false');
    case 'integer': {
      const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < (s.min ?? 0)) {
        throw bad(`a whole number ≥ ${s.min ?? 0}`);
      }
      return n;
    }
    case 'enum':
      if (typeof value !== 'string' || !s.values!.includes(value)) throw bad(s.values!.join(' or '));
      return value;
    case 'regex': {
      if (typeof value !== 'string') throw bad('a regular expression with two capture groups');
      let re: RegExp;
      try {
        re = new RegExp(value, 's');
      } catch (err) {
        throw bad(`a valid regular expression (${(err as Error).message})`);
      }
      if (new RegExp(`${value}|`).exec('')!.length < 2)
        throw bad('a regular expression with one or two capture groups');
      return re;
    }
    case 'path':
      if (typeof value !== 'string') throw bad('a path');
      return value === '' ? '' : trimSlash(isAbsolute(value) ? value : resolve(dir, value));
    case 'paths':
    case 'list': {
      if (s.key === 'fpm' && value === 'spawn') return 'spawn';
      const list = typeof value === 'string' ? [value] : value;
      if (!Array.isArray(list) || !list.every((x) => typeof x === 'string' && x !== '')) {
        throw bad('a list of strings');
      }
      if (s.key === 'fpm') return list.length === 1 && list[0] === 'spawn' ? 'spawn' : list;
      return s.kind === 'paths' ? list.map((p) => resolve(dir, p)) : list;
    }
    case 'map': {
      if (value === null || typeof value !== 'object' || Array.isArray(value))
        throw bad('a mapping NAME: value');
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string' && typeof v !== 'number') {
          throw new ConfigError(`invalid "${s.key}" value for ${k} from ${source} — expected a string`);
        }
      }
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]));
    }
  }
}

function trimSlash(p: string): string {
  return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** The README's configuration table, generated from {@link SETTINGS}. */
export function configTable(): string {
  const rows = SETTINGS.map((s) => `| \`${s.key}\` | \`${s.env}\` | ${s.defaultText} | ${s.meaning} |`);
  return ['| key | env | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}
