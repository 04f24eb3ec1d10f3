/**
 * The Serverless Framework plugin (Serverless v3 and osls): `plugins: [fpm-bridge]` and a function that says
 * where its PHP is get fpm-bridge's Lambda handler, a Node.js runtime, the PHP layer, the docroot, and memory
 * and timeout fit for a web app. Bundled to `dist/serverless-plugin.cjs` (the package's `main`): the
 * framework loads plugins with require().
 *
 * @example
 *   # serverless.yml
 *   plugins: [fpm-bridge]
 *   functions:
 *     web:
 *       php: public          # the docroot, relative to serverless.yml
 *       events: [{ httpApi: '*' }]
 */
import { copyFileSync, mkdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, posix, relative, resolve, sep } from 'node:path';
import { SETTINGS } from '../proxy/config.ts';
import { ConfigError, FpmBridgeError } from '../proxy/errors.ts';

/**
 * Where the handler bundle is copied in the service folder, so that the package carries it (a file outside
 * the service folder cannot be packaged, and one under node_modules is dropped when fpm-bridge is a
 * devDependency). `.mjs`: Node loads it as the ES module it is whatever the app's package.json says.
 */
const HANDLER_FILE = '.fpm-bridge/handler.mjs';
/** The handler setting names the module without its extension. */
const HANDLER_MODULE = '.fpm-bridge/handler';
/** The Node.js runtime a PHP function gets unless it or the provider names one. */
const DEFAULT_RUNTIME = 'nodejs22.x';
/** MB. More memory is more CPU on Lambda; PHP apps that boot a framework want both. */
const DEFAULT_MEMORY_SIZE = 1024;
/** Seconds. API Gateway gives up after 29 s (REST) / 30 s (HTTP API); the handler answers 504 before this. */
const DEFAULT_TIMEOUT = 28;
/** Where Lambda unpacks the package. */
const TASK_ROOT = '/var/task';
/** The oldest Node.js the handler bundle targets (scripts/build.mjs). */
const MIN_NODE_MAJOR = 20;
/**
 * `custom.fpmBridge.layer` when serverless.yml leaves it out: the framework resolves it like any variable,
 * so `--param="phpLayer=ARN"` and `FPM_BRIDGE_LAYER_ARN` work as they do in this repository's serverless.yml.
 */
// biome-ignore lint/suspicious/noTemplateCurlyInString: a Serverless variable, for the framework to resolve
const LAYER_VARIABLE = '${param:phpLayer, env:FPM_BRIDGE_LAYER_ARN, null}';
/**
 * Variables the handler reads: one per setting, the config file's location, and FPM_BRIDGE_DEBUG (`1` turns
 * on debug logs in handler/runtime.ts; it is read before any config is loaded, so it is no setting).
 */
const SETTING_VARIABLES = new Set([...SETTINGS.map((s) => s.env), 'FPM_BRIDGE_CONFIG', 'FPM_BRIDGE_DEBUG']);

/** A function in serverless.yml, as far as the plugin reads or writes it. */
export interface FunctionConfig {
  php?: string;
  handler?: string;
  image?: unknown;
  runtime?: string;
  memorySize?: number;
  timeout?: number;
  layers?: unknown[];
  environment?: Record<string, unknown>;
  url?: boolean | { invokeMode?: string };
  package?: { individually?: boolean; patterns?: string[] };
}

/** The service as the framework holds it after variables are resolved. */
export interface ServiceConfig {
  provider: {
    runtime?: string;
    memorySize?: number;
    timeout?: number;
    layers?: unknown[];
    environment?: Record<string, unknown>;
  };
  package?: { individually?: boolean; patterns?: string[] };
  functions?: Record<string, FunctionConfig>;
  custom?: { fpmBridge?: { layer?: unknown } };
}

/** What the plugin uses of the framework's `serverless` object. */
interface Serverless {
  serviceDir: string;
  service: ServiceConfig;
  configurationInput: { custom?: { fpmBridge?: { layer?: unknown } } } | null;
  configSchemaHandler: {
    defineFunctionProperties(provider: string, schema: object): void;
    defineCustomProperties(schema: object): void;
  };
  extendConfiguration(path: string[], value: unknown): void;
  /** ServerlessError: the framework prints its message without a stack, as a user's mistake. */
  classes: { Error: new (message: string, code: string) => Error };
}

/**
 * Gives every function with `php:` what fpm-bridge's handler needs, and returns each one's docroot relative
 * to the service folder (`""` for the folder itself). Settings the user made win (memory, timeout, layers,
 * a Node.js runtime); ones that cannot work with the handler throw a {@link ConfigError} naming them.
 */
export function wireService(service: ServiceConfig, serviceDir: string): Map<string, string> {
  const functions = Object.entries(service.functions ?? {});
  const docroots = new Map<string, string>();
  const layer = phpLayer(service.custom?.fpmBridge?.layer);
  service.package ??= {};
  const pkg = service.package;
  for (const [name, fn] of functions) {
    if (fn.php === undefined) continue;
    const docroot = docrootOf(name, fn.php, serviceDir);
    docroots.set(name, docroot);
    for (const taken of ['handler', 'image'] as const) {
      if (fn[taken] !== undefined) {
        throw new ConfigError(
          `function "${name}" sets both "php" and "${taken}" — remove "${taken}": with "php" it runs fpm-bridge's handler`,
        );
      }
    }
    const streams = typeof fn.url === 'object' && fn.url.invokeMode === 'RESPONSE_STREAM';
    fn.handler = `${HANDLER_MODULE}.${streams ? 'streamingHandler' : 'handler'}`;
    checkRuntime(name, fn, service);
    if (service.provider.runtime === undefined) fn.runtime ??= DEFAULT_RUNTIME;
    if (service.provider.memorySize === undefined) fn.memorySize ??= DEFAULT_MEMORY_SIZE;
    if (service.provider.timeout === undefined) fn.timeout ??= DEFAULT_TIMEOUT;
    // Layers the function or provider lists are kept. The PHP layer given joins them unless one of them
    // already is a PHP layer (a Bref php-82, say): a monitoring layer (Datadog, Lambda Insights) is not.
    const listed = fn.layers ?? service.provider.layers;
    if (layer !== null && !(listed ?? []).some(isPhpLayer)) fn.layers = [...(listed ?? []), layer];
    checkEnvironment(name, fn, service);
    fn.environment = { ...fn.environment, FPM_BRIDGE_DOCROOT: posix.join(TASK_ROOT, docroot) };
    if (fn.package?.individually || pkg.individually) {
      fn.package = { ...fn.package, patterns: [...(fn.package?.patterns ?? []), HANDLER_FILE] };
    }
  }
  if (docroots.size === 0) return docroots;
  // The handler bundles its dependencies: a service of PHP functions only runs no Node package. Patterns
  // of serverless.yml come after this one and can bring some back; the handler comes last, so it stays.
  const phpOnly = docroots.size === functions.length;
  pkg.patterns = [...(phpOnly ? ['!node_modules/**'] : []), ...(pkg.patterns ?? []), HANDLER_FILE];
  return docroots;
}

/**
 * The PHP layer given (`--param phpLayer`, FPM_BRIDGE_LAYER_ARN, custom.fpmBridge.layer), or null for none:
 * an empty value (an unset CI secret) is none; a string that is no layer version ARN is an error here
 * rather than CloudFormation's later.
 */
function phpLayer(value: unknown): unknown {
  if (value === undefined || value === null || value === '') return null;
  if (
    typeof value === 'string' &&
    !/^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[\w-]+:\d+$/.test(value)
  ) {
    throw new ConfigError(
      `the PHP layer "${value}" is no Lambda layer version ARN (arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION) — check --param="phpLayer=…", FPM_BRIDGE_LAYER_ARN or custom.fpmBridge.layer`,
    );
  }
  return value;
}

/** A listed layer that is a PHP runtime layer by its name (Bref's php-82, fpm-bridge-php-82, a Ref to one). */
function isPhpLayer(layer: unknown): boolean {
  return /php/i.test(typeof layer === 'string' ? (layer.split(':')[6] ?? layer) : JSON.stringify(layer));
}

/** Before packaging: every PHP function must have a layer with php-fpm (offline runs the local one). */
export function checkLayers(service: ServiceConfig, names: Iterable<string>): void {
  for (const name of names) {
    const layers = service.functions?.[name]?.layers ?? service.provider.layers ?? [];
    if (layers.length > 0) continue;
    throw new ConfigError(
      `function "${name}" has no PHP layer — publish one (fpm-bridge layer publish) and pass its ARN with ` +
        '--param="phpLayer=ARN", FPM_BRIDGE_LAYER_ARN=ARN or custom.fpmBridge.layer, or list a php-fpm layer ' +
        "(Bref v3's php-82, say) under the function's layers",
    );
  }
}

function docrootOf(name: string, value: unknown, serviceDir: string): string {
  const bad = (why: string) =>
    new ConfigError(
      `function "${name}": php ${JSON.stringify(value)} ${why} — give the folder PHP is served from (the one with index.php), relative to serverless.yml, e.g. "public"`,
    );
  if (typeof value !== 'string' || value === '') throw bad('is no folder');
  if (isAbsolute(value)) throw bad('is an absolute path');
  const path = resolve(serviceDir, value);
  const inside = relative(serviceDir, path);
  // It is packaged from the service folder: anything outside would not reach Lambda.
  if (inside === '..' || inside.startsWith(`..${sep}`)) throw bad('is outside the service folder');
  if (!isDir(path)) throw bad(`is not a folder (${path})`);
  return inside.split(sep).join('/');
}

function checkRuntime(name: string, fn: FunctionConfig, service: ServiceConfig): void {
  const runtime = fn.runtime ?? service.provider.runtime;
  if (runtime === undefined) return;
  const major = /^nodejs(\d+)\.x$/.exec(runtime)?.[1];
  if (major !== undefined && Number(major) >= MIN_NODE_MAJOR) return;
  const versions = `${DEFAULT_RUNTIME} (or nodejs${MIN_NODE_MAJOR}.x or later)`;
  // From the provider, the other functions may need it: the fix is on this function.
  const fix =
    fn.runtime === undefined
      ? `provider.runtime is "${runtime}" — set functions.${name}.runtime to ${versions}`
      : `functions.${name}.runtime is "${runtime}" — use ${versions}, or leave runtime out`;
  throw new ConfigError(`function "${name}" runs fpm-bridge's Node.js handler, but ${fix}`);
}

/** The fpm-bridge variables the function and the provider set must be settings, and not the docroot. */
function checkEnvironment(name: string, fn: FunctionConfig, service: ServiceConfig): void {
  for (const key of Object.keys({ ...service.provider.environment, ...fn.environment })) {
    if (key === 'FPM_BRIDGE_DOCROOT') {
      throw new ConfigError(
        `function "${name}": "php" sets FPM_BRIDGE_DOCROOT — remove it from the environment and give the docroot as php`,
      );
    }
    if (key.startsWith('FPM_BRIDGE_') && !SETTING_VARIABLES.has(key)) {
      throw new ConfigError(
        `function "${name}": environment variable ${key} is no fpm-bridge setting — the README's configuration table lists their variables`,
      );
    }
  }
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The plugin the framework instantiates for `plugins: [fpm-bridge]`. */
export default class FpmBridgePlugin {
  readonly hooks: Record<string, () => void>;
  readonly #serverless: Serverless;
  /** PHP functions → docroot relative to the service folder; filled once the configuration is final. */
  #docroots = new Map<string, string>();

  constructor(serverless: Serverless, options: { function?: string } = {}) {
    this.#serverless = serverless;
    // Declared so that validation accepts the settings instead of warning about unknown properties.
    serverless.configSchemaHandler.defineFunctionProperties('aws', {
      properties: { php: { type: 'string', minLength: 1 } },
    });
    serverless.configSchemaHandler.defineCustomProperties({
      properties: {
        fpmBridge: {
          type: 'object',
          // An ARN, a CloudFormation reference to a layer, or null (none: the function must list one).
          properties: { layer: { anyOf: [{ type: 'string' }, { type: 'object' }, { type: 'null' }] } },
          additionalProperties: false,
        },
      },
    });
    // Constructors run before variables are resolved: a variable added now is resolved with the others.
    if (serverless.configurationInput?.custom?.fpmBridge?.layer === undefined) {
      serverless.extendConfiguration(['custom', 'fpmBridge', 'layer'], LAYER_VARIABLE);
    }
    const forPackage = this.#guard(() => {
      checkLayers(serverless.service, this.#docroots.keys());
      this.#copyHandler();
    });
    const forOffline = this.#guard(() => this.#useLocalDocroots());
    this.hooks = {
      // Runs before every command, after variables are resolved and the configuration validated.
      initialize: this.#guard(() => {
        this.#docroots = wireService(serverless.service, serverless.serviceDir);
      }),
      'before:package:createDeploymentArtifacts': forPackage,
      // `serverless deploy function` packages one function.
      'before:package:function:package': forPackage,
      // `serverless offline` and `serverless offline start` (serverless-offline).
      'before:offline:start': forOffline,
      'before:offline:start:init': forOffline,
      // The framework's invoke local require()s handlers: it cannot load fpm-bridge's ES module bundle.
      'before:invoke:local:invoke': this.#guard(() => {
        const docroot = this.#docroots.get(options.function ?? '');
        if (docroot === undefined) return;
        throw new ConfigError(
          `"serverless invoke local" cannot run fpm-bridge's handler (an ES module) — run it with: npx fpm-bridge invoke --path / --docroot ${docroot}`,
        );
      }),
    };
  }

  /** serverless-offline runs the handler from the service folder, not /var/task: point it at the local docroot. */
  #useLocalDocroots(): void {
    this.#copyHandler();
    for (const [name, docroot] of this.#docroots) {
      const fn = this.#serverless.service.functions![name]!;
      fn.environment = { ...fn.environment, FPM_BRIDGE_DOCROOT: join(this.#serverless.serviceDir, docroot) };
    }
  }

  #copyHandler(): void {
    if (this.#docroots.size === 0) return;
    const target = join(this.#serverless.serviceDir, HANDLER_FILE);
    mkdirSync(dirname(target), { recursive: true });
    // This file is dist/serverless-plugin.cjs once bundled, and the handler bundle sits beside it.
    copyFileSync(join(__dirname, 'handler.js'), target);
  }

  /** Our errors become the framework's user errors: one line with our code, no stack. */
  #guard(step: () => void): () => void {
    return () => {
      try {
        step();
      } catch (err) {
        if (!(err instanceof FpmBridgeError)) throw err;
        throw new this.#serverless.classes.Error(`fpm-bridge: ${err.message}`, err.code);
      }
    };
  }
}
