import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { isObject } from '../handler/adapter.ts';
import { httpApiEvent } from '../handler/http-api-event.ts';
import { invokeLocally } from '../handler/local-invoke.ts';
import { UsageError } from '../proxy/errors.ts';
import { createJsonLogger } from '../proxy/log.ts';
import { reasonPhrase } from '../proxy/status.ts';
import { parseCommand } from './args.ts';

const INVOKE_USAGE = `Usage: fpm-bridge invoke [EVENT.json] [options]

Runs one Lambda event through fpm-bridge's handler and prints what the function returns. The event is a
JSON file, or an HTTP API (payload 2.0) request built from --path. Without --function the handler runs
here, on a php-fpm it starts and stops again; with --function the event goes to a deployed function, or to
serverless-offline with --endpoint.

The event:
  --event FILE          the event as JSON (same as EVENT.json)
  --path TARGET         build an HTTP API request for this path and query, e.g. "/search?q=php"
  --method METHOD       its method (default GET, or POST with --body)
  --header "NAME: VAL"  a request header; repeat for more
  --body TEXT           its body; @FILE reads the body from a file

Running it here:
  --docroot DIR         the PHP app's document root (default: ./public if it exists, else .)
  --config FILE         settings file (default: fpm-bridge.yml/.json in the working directory)

Running it on AWS Lambda or serverless-offline:
  --function NAME       the function's name or ARN (serverless-offline: SERVICE-STAGE-FUNCTION)
  --endpoint URL        the Lambda API to call, e.g. http://localhost:3002 for serverless-offline's lambdaPort
  --region REGION       AWS region (default: AWS_REGION, AWS_DEFAULT_REGION or your AWS profile's)

Output:
  --raw                 print an HTTP response as status line, headers and decoded body instead of JSON
  --debug               show debug logs and stack traces
  -h, --help            show this help
`;

/** `fpm-bridge invoke`: prints the function's result on stdout; logs (local runs) go to stderr. */
export async function invoke(argv: string[], stdout: NodeJS.WritableStream = process.stdout): Promise<void> {
  const parsed = parseCommand(
    'invoke',
    INVOKE_USAGE,
    argv,
    {
      event: { type: 'string' },
      path: { type: 'string' },
      method: { type: 'string' },
      header: { type: 'string', multiple: true },
      body: { type: 'string' },
      docroot: { type: 'string' },
      config: { type: 'string' },
      function: { type: 'string' },
      endpoint: { type: 'string' },
      region: { type: 'string' },
      raw: { type: 'boolean' },
    },
    stdout,
  );
  if (parsed === null) return;
  const { values, positionals } = parsed;
  if (positionals.length > 1) {
    throw new UsageError(`invoke takes one EVENT.json, got ${positionals.length}: ${positionals.join(' ')}`);
  }
  const eventFile = positionals[0] ?? values.event;
  if (positionals[0] !== undefined && values.event !== undefined) {
    throw new UsageError('name the event file once: as EVENT.json or with --event, not both');
  }
  const remote = values.function !== undefined;
  if (remote) {
    forbid(
      { docroot: values.docroot, config: values.config },
      (o) => `${o} is for local runs; drop it or --function`,
    );
  } else {
    forbid(
      { endpoint: values.endpoint, region: values.region },
      (o) => `${o} needs --function NAME: the function to invoke`,
    );
  }
  let event: unknown;
  if (values.path !== undefined) {
    if (eventFile !== undefined) throw new UsageError('pass an event file or --path, not both');
    event = httpApiEvent({
      method: values.method ?? (values.body === undefined ? 'GET' : 'POST'),
      target: values.path,
      headers: (values.header ?? []).map(parseHeader),
      body: values.body === undefined ? undefined : requestBody(values.body),
    });
  } else {
    forbid(
      { method: values.method, header: values.header, body: values.body },
      (o) => `${o} builds a request with --path; it needs --path`,
    );
    if (eventFile === undefined) {
      throw new UsageError(
        'give an event: EVENT.json, or --path /some/path — run "fpm-bridge invoke --help"',
      );
    }
    event = readEvent(eventFile);
  }

  // Loaded only for --function: the AWS SDK is over half of the CLI's code (see cli/layer-publish.ts).
  const result = remote
    ? await (await import('./invoke-remote.ts')).invokeFunction(values.function!, event, {
        region: values.region,
        endpoint: values.endpoint,
      })
    : await invokeLocally(event, {
        taskRoot: process.cwd(),
        env: values.config === undefined ? process.env : { ...process.env, FPM_BRIDGE_CONFIG: values.config },
        overrides: { docroot: values.docroot === undefined ? undefined : resolve(values.docroot) },
        log: createJsonLogger(values.debug ? 'debug' : 'info'),
      });
  const http = values.raw ? resultToHttp(result) : null;
  stdout.write(http ?? `${JSON.stringify(result, null, 2)}\n`);
}

/** A {@link UsageError} for the first of `options` that was given, worded by `why("--name")`. */
function forbid(options: Record<string, unknown>, why: (option: string) => string): void {
  for (const [name, value] of Object.entries(options))
    if (value !== undefined) throw new UsageError(why(`--${name}`));
}

/** `Name: value` from --header. */
function parseHeader(line: string): [string, string] {
  const colon = line.indexOf(':');
  if (colon <= 0) throw new UsageError(`invalid --header "${line}" — expected "Name: value"`);
  return [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
}

/** --body: the text itself, or with a leading @ the bytes of that file (as curl's --data-binary). */
function requestBody(body: string): Buffer {
  if (!body.startsWith('@')) return Buffer.from(body, 'utf8');
  try {
    return readFileSync(body.slice(1));
  } catch (err) {
    // A file named on the command line that is not there: the command line is wrong (exit 2).
    throw new UsageError(`cannot read --body file ${body.slice(1)} (${(err as NodeJS.ErrnoException).code})`);
  }
}

function readEvent(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the event file ${file} (${(err as NodeJS.ErrnoException).code})`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`the event file ${file} is not JSON: ${(err as Error).message}`);
  }
}

/**
 * An HTTP result of any event source (statusCode, headers or multiValueHeaders, cookies, maybe base64 body)
 * as a response to read: status line, headers, a blank line, and the decoded body. Null for anything else.
 */
export function resultToHttp(result: unknown): Buffer | null {
  if (!isObject(result) || typeof result.statusCode !== 'number') return null;
  const status = result.statusCode;
  // ALB results carry their own status line text ("200 OK").
  const statusLine =
    typeof result.statusDescription === 'string'
      ? result.statusDescription
      : `${status} ${reasonPhrase(status)}`;
  const lines = [`HTTP/1.1 ${statusLine}`];
  if (isObject(result.multiValueHeaders)) {
    for (const [name, values] of Object.entries(result.multiValueHeaders))
      for (const v of values as unknown[]) lines.push(`${name}: ${v}`);
  } else if (isObject(result.headers)) {
    for (const [name, value] of Object.entries(result.headers)) lines.push(`${name}: ${value}`);
  }
  if (Array.isArray(result.cookies)) for (const c of result.cookies) lines.push(`set-cookie: ${c}`);
  const body = typeof result.body === 'string' ? result.body : '';
  return Buffer.concat([
    Buffer.from(`${lines.join('\n')}\n\n`),
    Buffer.from(body, result.isBase64Encoded === true ? 'base64' : 'utf8'),
  ]);
}
