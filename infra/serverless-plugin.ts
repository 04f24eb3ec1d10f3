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
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, posix, relative, resolve, sep } from 'node:path';
import type { LambdaClientConfig } from '@aws-sdk/client-lambda';
import { isObject } from '../handler/adapter.ts';
import { parameterResource, ssmReferences } from '../handler/ssm-env.ts';
import type { LambdaArch } from '../layer/debian.ts';
import { SETTINGS } from '../proxy/config.ts';
import { ConfigError, FpmBridgeError } from '../proxy/errors.ts';
import type { LayerAws } from './serverless-layer.ts';

/**
 * Where the handler bundle is copied in the service folder, so that the package carries it (a file outside
 * the service folder cannot be packaged, and one under node_modules is dropped when fpm-bridge is a
 * devDependency). `.mjs`: Node loads it as the ES module it is whatever the app's package.json says.
 */
const HANDLER_FILE = '.fpm-bridge/handler.mjs';
/** The handler setting names the module without its extension. */
const HANDLER_MODULE = '.fpm-bridge/handler';
/**
 * The SSM client the handler imports from beside itself when an environment value names a parameter
 * (handler/ssm-env.ts); shipped always, so that a value added in the console later resolves too.
 */
const SSM_CLIENT_FILE = '.fpm-bridge/handler-ssm.mjs';
/** fpm-bridge's own PHP scripts (the Laravel and Symfony queues' SQS events), beside the handler as in dist/. */
const PHP_SCRIPTS = '.fpm-bridge/php';
/** What the package must carry of fpm-bridge. */
const PACKAGED = [HANDLER_FILE, SSM_CLIENT_FILE, `${PHP_SCRIPTS}/*.php`];
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
  architecture?: string;
  memorySize?: number;
  timeout?: number;
  layers?: unknown[];
  environment?: Record<string, unknown>;
  url?: boolean | { invokeMode?: string };
  package?: { individually?: boolean; patterns?: string[] };
}

/** `custom.fpmBridge` in serverless.yml. */
export interface PluginSettings {
  /** The PHP layer's ARN (or a CloudFormation reference to one); none: `serverless deploy` provides it. */
  layer?: unknown;
  /** A zip from "fpm-bridge layer build" for `serverless deploy` to publish instead of building one. */
  layerZip?: string;
  /** The PHP version of the layer `serverless deploy` builds. */
  php?: string;
  /** Where a layer zip over 50 MiB is staged for PublishLayerVersion (default: the deployment bucket). */
  layerBucket?: string;
}

/** The service as the framework holds it after variables are resolved. */
export interface ServiceConfig {
  provider: {
    /** An existing role for every function (v3's older spelling of iam.role). */
    role?: unknown;
    /** The role the framework makes: its statements, or an existing role's ARN or reference. */
    iam?: { role?: unknown };
    /** v3's older spelling of iam.role.statements, still read when that is absent. */
    iamRoleStatements?: unknown[];
    runtime?: string;
    architecture?: string;
    memorySize?: number;
    timeout?: number;
    layers?: unknown[];
    environment?: Record<string, unknown>;
  };
  package?: { individually?: boolean; patterns?: string[] };
  functions?: Record<string, FunctionConfig>;
  custom?: { fpmBridge?: PluginSettings };
}

/**
 * What the plugin uses of the framework's AWS provider: osls hands out SDK v3 client settings, Serverless
 * Framework v3 its SDK v2 credentials.
 */
interface AwsProvider {
  getRegion(): string;
  getAwsSdkV3Config?(): Promise<{ credentials?: LambdaClientConfig['credentials'] }>;
  getCredentials?(): { credentials?: SdkV2Credentials };
  /** provider.deploymentBucket, else the stack's (DescribeStackResource: fails before the first deploy). */
  getServerlessDeploymentBucketName(): Promise<string>;
}

/** An AWS SDK v2 `Credentials` object, as far as it is read here. */
interface SdkV2Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** Refreshes expired credentials (SDK v2's providers resolve lazily). */
  getPromise?(): Promise<void>;
}

/** The writers the framework gives external plugins (v3 and osls alike). */
interface PluginUtils {
  log?: { notice(text: string): void; info(text: string): void };
  progress?: { create(options: { message: string }): { update(message: string): void; remove(): void } };
}

/** What the plugin uses of the framework's `serverless` object. */
interface Serverless {
  serviceDir: string;
  service: ServiceConfig;
  configurationInput: { custom?: { fpmBridge?: PluginSettings } } | null;
  processedInput: { commands: string[] };
  getProvider(name: 'aws'): AwsProvider;
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
      fn.package = { ...fn.package, patterns: [...(fn.package?.patterns ?? []), ...PACKAGED] };
    }
  }
  if (docroots.size === 0) return docroots;
  // The handler bundles its dependencies: a service of PHP functions only runs no Node package. Patterns
  // of serverless.yml come after this one and can bring some back; the handler comes last, so it stays.
  const phpOnly = docroots.size === functions.length;
  pkg.patterns = [...(phpOnly ? ['!node_modules/**'] : []), ...(pkg.patterns ?? []), ...PACKAGED];
  grantSsmParameters(service, docroots.keys());
  return docroots;
}

/**
 * Lets the functions' role read the SSM parameters that the PHP functions' environment names (`ssm:` and
 * `bref-ssm:` values, resolved by the handler at init): ssm:GetParameters on each, by ARN in the stack's
 * partition, region and account, added to the statements the framework puts in the role it makes. A role of
 * the user's own (provider.role, or iam.role as an ARN or reference) is left alone: it must grant this itself.
 */
function grantSsmParameters(service: ServiceConfig, phpFunctions: Iterable<string>): void {
  const { provider } = service;
  const parameters = new Set<string>();
  for (const name of phpFunctions) {
    const env = { ...provider.environment, ...service.functions?.[name]?.environment };
    for (const ref of ssmReferences(env)) if (ref.parameter !== '') parameters.add(ref.parameter);
  }
  if (parameters.size === 0 || provider.role !== undefined) return;
  const role = provider.iam?.role;
  if (role !== undefined && !isObject(role)) return;
  if (isObject(role) && Object.keys(role).some((key) => key.startsWith('Fn::') || key === 'Ref')) return;
  const resources = new Map<string, unknown>();
  for (const parameter of parameters) {
    const at = parameterResource(parameter);
    const arn =
      'arn' in at
        ? at.arn
        : { 'Fn::Sub': `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:${at.path}` };
    resources.set(JSON.stringify(arn), arn);
  }
  const statement = { Effect: 'Allow', Action: ['ssm:GetParameters'], Resource: [...resources.values()] };
  // The framework reads iamRoleStatements only when iam.role.statements is absent: add to the one it reads.
  if (role === undefined && provider.iamRoleStatements !== undefined) {
    provider.iamRoleStatements = [...provider.iamRoleStatements, statement];
    return;
  }
  const made = (role ?? {}) as { statements?: unknown[] };
  provider.iam = { ...provider.iam, role: { ...made, statements: [...(made.statements ?? []), statement] } };
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

/** Whether a function lists a PHP layer (its own layers, else the provider's). */
function hasPhpLayer(service: ServiceConfig, name: string): boolean {
  return (service.functions?.[name]?.layers ?? service.provider.layers ?? []).some(isPhpLayer);
}

/**
 * Before packaging without deploying: every PHP function must have a layer with php-fpm (offline runs the
 * local one). `serverless deploy` provides the layer itself; `serverless package` cannot know its ARN.
 */
export function checkLayers(service: ServiceConfig, names: Iterable<string>): void {
  for (const name of names) if (!hasPhpLayer(service, name)) throw noLayerError(name);
}

function noLayerError(name: string): ConfigError {
  return new ConfigError(
    `function "${name}" has no PHP layer — "serverless deploy" publishes one itself; to package without deploying, pass a published layer's ARN with ` +
      '--param="phpLayer=ARN", FPM_BRIDGE_LAYER_ARN=ARN or custom.fpmBridge.layer, or list a php-fpm layer ' +
      "(Bref v3's php-82, say) under the function's layers",
  );
}

/** The Lambda architecture a function runs on. */
function archOf(service: ServiceConfig, name: string): LambdaArch {
  const arch = service.functions?.[name]?.architecture ?? service.provider.architecture ?? 'x86_64';
  // The framework's schema allows only these two.
  return arch === 'arm64' ? 'arm64' : 'x86_64';
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
  readonly hooks: Record<string, () => Promise<void>>;
  readonly #serverless: Serverless;
  readonly #utils: PluginUtils;
  /** PHP functions → docroot relative to the service folder; filled once the configuration is final. */
  #docroots = new Map<string, string>();

  constructor(serverless: Serverless, options: { function?: string } = {}, utils: PluginUtils = {}) {
    this.#serverless = serverless;
    this.#utils = utils;
    // Declared so that validation accepts the settings instead of warning about unknown properties.
    serverless.configSchemaHandler.defineFunctionProperties('aws', {
      properties: { php: { type: 'string', minLength: 1 } },
    });
    serverless.configSchemaHandler.defineCustomProperties({
      properties: {
        fpmBridge: {
          type: 'object',
          properties: {
            // An ARN, a CloudFormation reference to a layer, or null (none: deploy provides one).
            layer: { anyOf: [{ type: 'string' }, { type: 'object' }, { type: 'null' }] },
            layerZip: { type: 'string', minLength: 1 },
            php: { type: 'string', pattern: '^\\d+\\.\\d+$' },
            layerBucket: { type: 'string', minLength: 3 },
          },
          additionalProperties: false,
        },
      },
    });
    // Constructors run before variables are resolved: a variable added now is resolved with the others.
    if (serverless.configurationInput?.custom?.fpmBridge?.layer === undefined) {
      serverless.extendConfiguration(['custom', 'fpmBridge', 'layer'], LAYER_VARIABLE);
    }
    const forPackage = this.#guard(async () => {
      await this.#provideLayers();
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

  /**
   * Gives PHP functions that list no PHP layer the one `serverless deploy` provides (see
   * infra/serverless-layer.ts), one per architecture. `serverless package` only looks for the published twin
   * of custom.fpmBridge.layerZip, and otherwise says how to give an ARN. On deploy, a layer ARN given is
   * checked first: a wrong one fails here, named, instead of in CloudFormation after a rollback.
   */
  async #provideLayers(): Promise<void> {
    const service = this.#serverless.service;
    const deploying = this.#serverless.processedInput.commands[0] === 'deploy';
    const settings = service.custom?.fpmBridge ?? {};
    const missing = [...this.#docroots.keys()].filter((name) => !hasPhpLayer(service, name));
    if (missing.length === 0) {
      if (deploying && typeof settings.layer === 'string') await this.#checkGivenLayer(settings.layer);
      return;
    }
    if (!deploying && settings.layerZip === undefined) checkLayers(service, missing);
    const byArch = new Map<LambdaArch, string[]>();
    for (const name of missing) {
      const arch = archOf(service, name);
      byArch.set(arch, [...(byArch.get(arch) ?? []), name]);
    }
    const aws = await this.#aws(settings);
    try {
      for (const [arch, names] of byArch) {
        const layer = await this.#layerFor(arch, settings, aws, deploying);
        if (layer === null) throw noLayerError(names[0]!);
        for (const name of names) {
          const fn = service.functions![name]!;
          fn.layers = [...(fn.layers ?? service.provider.layers ?? []), layer];
        }
      }
    } finally {
      aws.lambda.destroy();
    }
  }

  /** The ARN of the layer for `arch`: custom.fpmBridge.layerZip's, or one built now (only when publishing). */
  async #layerFor(
    arch: LambdaArch,
    settings: PluginSettings,
    aws: LayerAws,
    publish: boolean,
  ): Promise<string | null> {
    const { provideLayer } = await import('./serverless-layer.ts');
    const log = (line: string) => this.#utils.log?.notice(`fpm-bridge: ${line}`);
    if (settings.layerZip !== undefined) {
      const zip = resolve(this.#serverless.serviceDir, settings.layerZip);
      return (await provideLayer(zip, arch, aws, log, publish))?.arn ?? null;
    }
    const [{ buildLayer, PHP_VERSIONS }, { DEFAULT_EXTENSIONS }] = await Promise.all([
      import('../layer/build.ts'),
      import('../layer/extensions.ts'),
    ]);
    const php = settings.php ?? PHP_VERSIONS[0];
    const progress = this.#utils.progress?.create({ message: `fpm-bridge: building the PHP ${php} layer` });
    // Built outside the service folder, which the framework would package, and removed once published.
    const out = mkdtempSync(join(tmpdir(), 'fpm-bridge-layer-'));
    try {
      const report = await buildLayer({
        out,
        php,
        extensions: [...DEFAULT_EXTENSIONS],
        arch,
        onProgress: (line) => {
          progress?.update(`fpm-bridge: PHP ${php} layer for ${arch}: ${line}`);
          this.#utils.log?.info(`fpm-bridge: ${line}`);
        },
      });
      progress?.update(`fpm-bridge: publishing the PHP ${php} layer for ${arch}`);
      return (await provideLayer(report.zip, arch, aws, log, publish))?.arn ?? null;
    } finally {
      progress?.remove();
      rmSync(out, { recursive: true, force: true });
    }
  }

  /** A layer ARN given must exist where the service deploys, for the functions' architecture. */
  async #checkGivenLayer(arn: string): Promise<void> {
    const [{ GetLayerVersionCommand }, { awsError }] = await Promise.all([
      import('@aws-sdk/client-lambda'),
      import('../cli/aws.ts'),
    ]);
    const aws = await this.#aws({});
    // GetLayerVersion, not GetLayerVersionByArn (the same on AWS): moto answers the latter, for a version
    // it does not have, with an error the SDK cannot parse. The ARN's form was checked by wireService.
    const colon = arn.lastIndexOf(':');
    const version = { LayerName: arn.slice(0, colon), VersionNumber: Number(arn.slice(colon + 1)) };
    try {
      const layer = await aws.lambda.send(new GetLayerVersionCommand(version)).catch((err) => {
        if ((err as Error).name !== 'ResourceNotFoundException')
          throw awsError(err, `GetLayerVersion ${arn}`);
        throw new ConfigError(
          `the PHP layer ${arn} does not exist in ${aws.region}, or this account may not use it — check --param="phpLayer=…", FPM_BRIDGE_LAYER_ARN or custom.fpmBridge.layer, or give none and let "serverless deploy" publish one`,
        );
      });
      const archs = layer.CompatibleArchitectures ?? [];
      for (const name of this.#docroots.keys()) {
        const arch = archOf(this.#serverless.service, name);
        if (archs.length === 0 || archs.includes(arch)) continue;
        throw new ConfigError(
          `function "${name}" runs on ${arch}, but the PHP layer ${arn} is for ${archs.join(', ')} — give a layer built for ${arch}, or set the function's architecture`,
        );
      }
    } finally {
      aws.lambda.destroy();
    }
  }

  /** Lambda (and S3, for large zips) with the framework's region and credentials. */
  async #aws(settings: PluginSettings): Promise<LayerAws> {
    const provider = this.#serverless.getProvider('aws');
    const region = provider.getRegion();
    const credentials = await frameworkCredentials(provider);
    const { LambdaClient } = await import('@aws-sdk/client-lambda');
    return {
      lambda: new LambdaClient({ region, credentials }),
      region,
      stage: async (key, zip) => {
        const [{ S3Client, PutObjectCommand, DeleteObjectCommand }, { awsError }] = await Promise.all([
          import('@aws-sdk/client-s3'),
          import('../cli/aws.ts'),
        ]);
        const bucket =
          settings.layerBucket ??
          (await provider.getServerlessDeploymentBucketName().catch((err: unknown) => {
            throw new ConfigError(
              `the layer zip is over 50 MiB, so PublishLayerVersion must take it from S3, and the service has no deployment bucket yet (${(err as Error).message}) — name a bucket in ${region} with custom.fpmBridge.layerBucket or provider.deploymentBucket`,
              { cause: err },
            );
          }));
        const s3 = new S3Client({ region, credentials });
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: zip })).catch((err: unknown) => {
          s3.destroy();
          throw awsError(err, `PutObject s3://${bucket}/${key}`);
        });
        return {
          s3Bucket: bucket,
          s3Key: key,
          remove: async () => {
            try {
              await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
            } finally {
              s3.destroy();
            }
          },
        };
      },
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
    // This file is dist/serverless-plugin.cjs once bundled, and the handler bundles sit beside it.
    copyFileSync(join(__dirname, 'handler.js'), target);
    copyFileSync(join(__dirname, 'handler-ssm.mjs'), join(this.#serverless.serviceDir, SSM_CLIENT_FILE));
    cpSync(join(__dirname, 'php'), join(this.#serverless.serviceDir, PHP_SCRIPTS), { recursive: true });
  }

  /** Our errors become the framework's user errors: one line with our code, no stack. */
  #guard(step: () => void | Promise<void>): () => Promise<void> {
    return async () => {
      try {
        await step();
      } catch (err) {
        if (!(err instanceof FpmBridgeError)) throw err;
        throw new this.#serverless.classes.Error(`fpm-bridge: ${err.message}`, err.code);
      }
    };
  }
}

/**
 * The credentials the framework deploys with: osls's SDK v3 provider as it is; Serverless Framework v3's SDK
 * v2 credentials (profile, stage-specific variables) read once resolved; none set: the SDK's own chain, as
 * the framework itself falls back on.
 */
async function frameworkCredentials(provider: AwsProvider): Promise<LambdaClientConfig['credentials']> {
  if (provider.getAwsSdkV3Config !== undefined) return (await provider.getAwsSdkV3Config()).credentials;
  const v2 = provider.getCredentials?.().credentials;
  if (v2 === undefined) return undefined;
  return async () => {
    await v2.getPromise?.();
    return {
      accessKeyId: v2.accessKeyId,
      secretAccessKey: v2.secretAccessKey,
      sessionToken: v2.sessionToken,
    };
  };
}
