/**
 * The CLI's side of AWS: one Lambda client per command, and the one place where what the SDK throws becomes
 * an {@link AwsError} whose one-line message says what to do. Only the CLI imports this: the Lambda handler
 * bundle never carries the SDK.
 */
import { LambdaClient, LambdaServiceException } from '@aws-sdk/client-lambda';
import { AwsError } from '../proxy/errors.ts';

export interface LambdaClientOptions {
  /** `--region`; else AWS_REGION, AWS_DEFAULT_REGION... as the SDK looks them up (env, then ~/.aws/config). */
  region?: string;
  /** `--endpoint`: an emulator such as serverless-offline's Lambda port (http://localhost:3002). */
  endpoint?: string;
}

/** Emulators take any signature, so without AWS credentials the requests are signed with these. */
const EMULATOR_CREDENTIALS = { accessKeyId: 'fpm-bridge-local', secretAccessKey: 'fpm-bridge-local' };
/** An emulator ignores the region, but the SDK will not sign without one. */
const EMULATOR_REGION = 'us-east-1';

/**
 * A Lambda client with the region resolved now, so that a missing one is reported before anything is
 * sent. With an `endpoint` a missing region or missing credentials fall back to placeholders, since an
 * emulator checks neither.
 *
 * @example
 *   const client = await lambdaClient({ region: 'eu-west-1' }, 'PublishLayerVersion')
 */
export async function lambdaClient(options: LambdaClientOptions, action: string): Promise<LambdaClient> {
  // The SDK warns on every run under Node 20 that its releases from 2027 need Node 22; the CLI supports
  // Node 20, and a paragraph on stderr would bury the one line a command prints. An explicit setting wins.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { endpoint } = options;
  const client = new LambdaClient({ region: options.region, logger: SDK_LOGGER });
  let region: string;
  try {
    region = await client.config.region();
  } catch (err) {
    if (endpoint === undefined) throw awsError(err, action);
    region = EMULATOR_REGION;
  }
  if (endpoint === undefined) return client;
  const credentials = await client.config.credentials().then(
    () => undefined,
    () => EMULATOR_CREDENTIALS,
  );
  client.destroy();
  return new LambdaClient({ region, endpoint, credentials, logger: SDK_LOGGER });
}

/**
 * The SDK's warnings (several credential sources set at once, and the like) on stderr. Its default logger
 * is silent, and the SDK recognises it by class name, which the minified bundle does not keep. Not its
 * errors: it logs every failed command there, which the CLI reports itself in one line.
 */
const SDK_LOGGER = {
  trace() {},
  debug() {},
  info() {},
  warn: (...args: unknown[]) => console.warn(...args),
  error() {},
};

/** AWS error names that mean the credentials were not accepted. */
const REFUSED = new Set([
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'InvalidClientTokenId',
  'IncompleteSignatureException',
]);
const EXPIRED = new Set(['ExpiredToken', 'ExpiredTokenException', 'RequestExpired']);
const DENIED = new Set(['AccessDenied', 'AccessDeniedException']);
/** Errors the SDK throws when it never got an answer (Node's socket errors carry these codes). */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
]);

/**
 * What the SDK threw during `action` (e.g. `PublishLayerVersion "fpm-bridge-php-82" in eu-west-1`) as one
 * line that names the cause and the fix. Anything that is not an AWS or network failure is returned as it is.
 */
export function awsError(err: unknown, action: string): Error {
  if (!(err instanceof Error)) return new AwsError(`${action} failed: ${String(err)}`);
  const cause = { cause: err };
  const said = `${err.name}: ${err.message}`;
  // The SDK's region lookup (@smithy/config-resolver) throws a plain Error: its message is all there is.
  if (err.message === 'Region is missing') {
    return new AwsError(
      `no AWS region for ${action} — pass --region or set AWS_REGION (or "region" in your AWS profile)`,
      cause,
    );
  }
  if (err.name === 'CredentialsProviderError') {
    return new AwsError(
      `no AWS credentials for ${action} — set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run "aws configure" (${err.message})`,
      cause,
    );
  }
  if (REFUSED.has(err.name)) {
    return new AwsError(
      `AWS refused the credentials for ${action} (${said}) — check AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`,
      cause,
    );
  }
  if (EXPIRED.has(err.name)) {
    return new AwsError(
      `the AWS credentials for ${action} have expired (${said}) — renew them (e.g. "aws sso login") and retry`,
      cause,
    );
  }
  if (DENIED.has(err.name)) {
    return new AwsError(
      `these AWS credentials may not ${action} (${said}) — grant the permission AWS names, or use another profile`,
      cause,
    );
  }
  if (err.name === 'ResourceNotFoundException') {
    return new AwsError(`${action}: not found (${said}) — check the name and the region`, cause);
  }
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && UNREACHABLE.has(code)) {
    return new AwsError(
      `cannot reach AWS for ${action} (${err.message}) — check --endpoint, --region and the network`,
      cause,
    );
  }
  if (err instanceof LambdaServiceException) return new AwsError(`${action} failed: ${said}`, cause);
  return err;
}
