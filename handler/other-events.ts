import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { BadEventError, ConfigError } from '../proxy/errors.ts';
import { phpEnv } from '../proxy/fpm/layer.ts';
import { isObject } from './adapter.ts';

/** A console event: `{"cli": "artisan migrate --force"}` runs `php artisan migrate --force` in the task root. */
export interface CliEvent {
  cli: string;
}

export interface CliResult {
  exitCode: number;
  output: string;
}

export function isCliEvent(event: unknown): event is CliEvent {
  return isObject(event) && typeof event.cli === 'string';
}

/** Warm-up pings: Bref's `{"warmer": true}` and serverless-plugin-warmup's. Answered without PHP. */
export function isWarmer(event: unknown): boolean {
  return isObject(event) && (event.warmer === true || event.source === 'serverless-plugin-warmup');
}

/** An SQS event: records from an SQS queue (`eventSource: aws:sqs`), as a queue's event source mapping sends. */
export function isSqsEvent(event: unknown): event is { Records: { messageId: string }[] } {
  if (!isObject(event) || !Array.isArray(event.Records) || event.Records.length === 0) return false;
  return event.Records.every(
    (r) => isObject(r) && r.eventSource === 'aws:sqs' && typeof r.messageId === 'string',
  );
}

/** An EventBridge (CloudWatch Events) schedule rule's own event, sent when the rule has no `input`. */
export function isScheduledEvent(event: unknown): boolean {
  return isObject(event) && event.source === 'aws.events' && event['detail-type'] === 'Scheduled Event';
}

/**
 * Names a non-HTTP event for messages: "an SQS event", "an S3 event", ..., or lists its top-level keys.
 */
export function describeEvent(event: unknown): string {
  if (!isObject(event))
    return `a ${Array.isArray(event) ? 'JSON array' : event === null ? 'null' : typeof event} event`;
  const records = event.Records;
  if (Array.isArray(records) && isObject(records[0])) {
    const r = records[0];
    const source = String(r.eventSource ?? r.EventSource ?? '');
    const names: Record<string, string> = {
      'aws:sqs': 'an SQS event',
      'aws:sns': 'an SNS event',
      'aws:s3': 'an S3 event',
      'aws:dynamodb': 'a DynamoDB stream event',
      'aws:kinesis': 'a Kinesis event',
    };
    if (names[source] !== undefined) return names[source];
  }
  if (typeof event['detail-type'] === 'string') {
    return event['detail-type'] === 'Scheduled Event'
      ? 'a scheduled (EventBridge) event'
      : 'an EventBridge event';
  }
  if (isObject(event.requestContext) && typeof event.requestContext.connectionId === 'string') {
    return 'an API Gateway WebSocket event';
  }
  const keys = Object.keys(event).slice(0, 8);
  return keys.length === 0 ? 'an empty event {}' : `an event with keys ${keys.join(', ')}`;
}

export function unsupportedEvent(event: unknown): BadEventError {
  return new BadEventError(
    `fpm-bridge received ${describeEvent(event)}; it handles API Gateway (REST, HTTP API), ALB and Function URL events — set "eventsScript" to send other events to a PHP script`,
  );
}

/** Splits a command line like a POSIX shell would for plain words and quotes (no expansion). */
export function splitArgs(line: string): string[] {
  const out: string[] = [];
  let current = '';
  let quote: '"' | "'" | null = null;
  let started = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote !== null) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) current += line[++i];
      else current += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      started = true;
    } else if (c === '\\' && i + 1 < line.length) {
      current += line[++i];
      started = true;
    } else if (c === ' ' || c === '\t' || c === '\n') {
      if (started) out.push(current);
      current = '';
      started = false;
    } else {
      current += c;
      started = true;
    }
  }
  if (quote !== null) throw new BadEventError(`"cli" command has an unterminated ${quote} quote: ${line}`);
  if (started) out.push(current);
  return out;
}

/** The php CLI for console events: `phpBinary`, else `php` on PATH, else the layer's `/opt/bin/php`. */
export function locatePhp(explicit: string, env: NodeJS.ProcessEnv = process.env): string {
  const candidates =
    explicit !== ''
      ? [explicit]
      : [
          ...(env.PATH ?? '')
            .split(delimiter)
            .filter(Boolean)
            .map((d) => join(d, 'php')),
          '/opt/bin/php',
        ];
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {}
  }
  throw new ConfigError(
    explicit !== ''
      ? `"phpBinary" ${explicit} does not exist or is not executable`
      : 'no php CLI for "cli" events (looked on PATH and at /opt/bin/php) — set "phpBinary" or FPM_BRIDGE_PHP',
  );
}

/**
 * Runs a console command (`php <args>`) in `cwd` and returns its exit code and combined output, as Bref's
 * console functions do, with `env` on top of ours (what php-fpm gets too). Past `timeout` ms the process is
 * killed and the exit code is 124 (like timeout(1)).
 */
export function runCli(
  php: string,
  line: string,
  cwd: string,
  timeout: number,
  env: Readonly<Record<string, string>> = {},
): Promise<CliResult> {
  const args = splitArgs(line);
  return new Promise((resolve) => {
    // The app's php/conf.d comes after the layer's own ini files, as for php-fpm.
    const child = spawn(php, args, {
      cwd,
      env: phpEnv(php, [], { ...process.env, ...env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stderr.on('data', (d: Buffer) => chunks.push(d));
    let timedOut = false;
    // Leaves the invocation time to report the result rather than be killed by Lambda with nothing said.
    const timer =
      timeout > 0
        ? setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, timeout)
        : null;
    child.once('error', (err) => {
      if (timer !== null) clearTimeout(timer);
      resolve({ exitCode: 127, output: `cannot run ${php}: ${err.message}` });
    });
    child.once('close', (code) => {
      if (timer !== null) clearTimeout(timer);
      const output = Buffer.concat(chunks).toString('utf8');
      resolve(
        timedOut
          ? { exitCode: 124, output: `${output}\n[fpm-bridge: killed after ${timeout} ms]` }
          : { exitCode: code ?? 1, output },
      );
    });
  });
}
