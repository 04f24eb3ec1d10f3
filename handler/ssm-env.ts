/**
 * Environment values that name an SSM Parameter Store parameter — `bref-ssm:/app/db-password`, Bref's
 * spelling, or `ssm:/app/db-password` — are replaced by the parameter's value during the Lambda init,
 * before php-fpm starts: PHP's getenv() and $_ENV, php-fpm's workers and `cli` commands see the secret, the
 * function's configuration only its name. SecureStrings are decrypted. The SDK is loaded only when such a
 * value exists (ssm-client.ts, a file of its own in the bundle).
 *
 * @example
 *   # serverless.yml
 *   environment:
 *     DB_PASSWORD: ssm:/my-app/db-password
 */
import { SsmError } from '../proxy/errors.ts';
import type { Logger } from '../proxy/log.ts';

/** A variable whose value names a parameter. */
export interface SsmReference {
  variable: string;
  /** The name after the prefix: `/app/key`, `/app/key:3` (a version), `/app/key:prod` (a label) or an ARN. */
  parameter: string;
}

/**
 * The variables whose value names an SSM parameter, in the environment's order. Runs on every cold start:
 * one startsWith per variable, nothing else when there is none.
 */
export function ssmReferences(env: Readonly<Record<string, unknown>>): SsmReference[] {
  const found: SsmReference[] = [];
  for (const variable in env) {
    const value = env[variable];
    if (typeof value !== 'string') continue;
    const prefix = value.startsWith('ssm:') ? 4 : value.startsWith('bref-ssm:') ? 9 : 0;
    if (prefix > 0) found.push({ variable, parameter: value.slice(prefix) });
  }
  return found;
}

/**
 * Where a parameter lives, for an IAM policy: its ARN when it was given as one, else the resource part
 * (`parameter/app/key`) to put after `arn:PARTITION:ssm:REGION:ACCOUNT:`. A version or label selector is
 * not part of it (IAM names the parameter).
 */
export function parameterResource(parameter: string): { arn: string } | { path: string } {
  if (parameter.startsWith('arn:')) {
    const at = parameter.indexOf(':parameter/');
    const selector = at < 0 ? -1 : parameter.indexOf(':', at + ':parameter/'.length);
    return { arn: selector < 0 ? parameter : parameter.slice(0, selector) };
  }
  const colon = parameter.indexOf(':');
  const name = colon < 0 ? parameter : parameter.slice(0, colon);
  return { path: `parameter${name.startsWith('/') ? '' : '/'}${name}` };
}

/**
 * Replaces, in `env`, every value that names an SSM parameter with the parameter's value. `env` is the
 * process's environment on Lambda: php-fpm, started afterwards, inherits it. Throws an {@link SsmError}
 * naming the parameters and variables, and the fix, when a parameter does not exist or may not be read.
 */
export async function resolveSsmEnvironment(env: NodeJS.ProcessEnv, log: Logger): Promise<void> {
  const refs = ssmReferences(env);
  if (refs.length === 0) return;
  const empty = refs.find((r) => r.parameter === '');
  if (empty !== undefined) {
    throw new SsmError(
      `environment variable ${empty.variable} is "${env[empty.variable]}", which names no SSM parameter — write ssm:/path/to/parameter (or bref-ssm:/path/to/parameter)`,
    );
  }
  const names = [...new Set(refs.map((r) => r.parameter))];
  const started = performance.now();
  // ./ssm-client.ts in the sources, dist/handler-ssm.mjs once bundled (scripts/build.mjs).
  const { getParameters } = await import('./ssm-client.ts');
  let fetched: Awaited<ReturnType<typeof getParameters>>;
  try {
    fetched = await getParameters(names);
  } catch (err) {
    throw ssmError(err, names, refs);
  }
  const missing = names.filter((n) => !fetched.values.has(n));
  if (missing.length > 0) {
    throw new SsmError(
      `SSM parameter${missing.length > 1 ? 's' : ''} not found in ${fetched.region}: ${listed(missing, refs)} — create ${missing.length > 1 ? 'them' : 'it'} (aws ssm put-parameter --region ${fetched.region} --name ${missing[0]} --type SecureString --value …) or correct the name in the function's environment`,
    );
  }
  for (const r of refs) env[r.variable] = fetched.values.get(r.parameter);
  log.info(
    {
      variables: refs.map((r) => r.variable),
      parameters: names.length,
      ms: Math.round(performance.now() - started),
    },
    'environment values read from SSM Parameter Store',
  );
}

/** `/app/a (A, B), /app/b (C)`: each parameter with the variables that name it. */
function listed(parameters: readonly string[], refs: readonly SsmReference[]): string {
  return parameters
    .map((p) => {
      const variables = refs.filter((r) => r.parameter === p).map((r) => r.variable);
      return `${p} (${variables.join(', ')})`;
    })
    .join(', ');
}

/** What the SDK threw, as one line naming the parameters, the cause and the fix. */
function ssmError(err: unknown, names: readonly string[], refs: readonly SsmReference[]): Error {
  if (!(err instanceof Error)) return new SsmError(`reading SSM parameters failed: ${String(err)}`);
  const cause = { cause: err };
  const which = listed(names, refs);
  const said = `${err.name}: ${err.message}`;
  if (err.message === 'Region is missing') {
    return new SsmError(`no AWS region to read SSM parameters ${which} from — set AWS_REGION`, cause);
  }
  if (err.name === 'CredentialsProviderError') {
    return new SsmError(
      `no AWS credentials to read SSM parameters ${which} — on Lambda the function's role provides them; elsewhere set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (${err.message})`,
      cause,
    );
  }
  if (err.name === 'AccessDeniedException' || err.name === 'AccessDenied') {
    // Where the SDK looked: it reads the process's environment (Lambda sets AWS_REGION).
    const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'REGION';
    // AWS names the caller in its message: arn:aws:sts::123456789012:assumed-role/…
    const account = /arn:aws[\w-]*:(?:sts|iam)::(\d{12}):/.exec(err.message)?.[1] ?? 'ACCOUNT';
    const arns = names.map((n) => {
      const resource = parameterResource(n);
      return 'arn' in resource ? resource.arn : `arn:aws:ssm:${region}:${account}:${resource.path}`;
    });
    return new SsmError(
      `the function may not read SSM parameters ${which} (${said}) — allow ssm:GetParameters on ${[...new Set(arns)].join(', ')} in its role (the fpm-bridge Serverless plugin does for the ssm: values of serverless.yml); a SecureString under a customer managed KMS key also needs kms:Decrypt on that key`,
      cause,
    );
  }
  return new SsmError(`reading SSM parameters ${which} failed (${said})`, cause);
}
