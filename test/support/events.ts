// Typed access to the Lambda event fixtures in test/fixtures/events/<source>/<name>.json.
// Every call reads a fresh copy, so a test may mutate what it gets without touching the next test.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type {
  ALBEvent,
  APIGatewayProxyEvent,
  APIGatewayProxyEventHeaders,
  APIGatewayProxyEventMultiValueHeaders,
  APIGatewayProxyEventV2,
  APIGatewayProxyWebsocketEventV2,
  EventBridgeEvent,
  LambdaFunctionURLEvent,
  S3Event,
  ScheduledEvent,
  SNSEvent,
  SQSEvent,
} from 'aws-lambda';

/** The folder the fixtures live in. */
export const EVENTS_DIR = fileURLToPath(new URL('../fixtures/events/', import.meta.url));

/** A console invocation: `php` runs with these arguments (artisan, bin/console). */
export interface CliEvent {
  cli: string;
}

/** A keep-warm ping, answered without touching PHP. */
export interface WarmerEvent {
  warmer: boolean;
}

/** An API Gateway WebSocket `$connect`: HTTP-looking, but not a request fpm-bridge serves. */
export type WebsocketConnectEvent = APIGatewayProxyWebsocketEventV2 & {
  headers: APIGatewayProxyEventHeaders;
  multiValueHeaders: APIGatewayProxyEventMultiValueHeaders;
};

/** What each fixture in `other/` is. */
export interface OtherEvents {
  sqs: SQSEvent;
  sns: SNSEvent;
  s3: S3Event;
  eventbridge: EventBridgeEvent<string, unknown>;
  schedule: ScheduledEvent<Record<string, never>>;
  cli: CliEvent;
  warmer: WarmerEvent;
  'api-gateway-websocket': WebsocketConnectEvent;
  'empty-object': Record<string, never>;
}

/**
 * Events that tools and tests write rather than AWS (`tools/`, from Bref's test suite): HTTP events with
 * numbers where AWS puts strings, or without a requestContext.
 */
export interface ToolEvents {
  'bref-v1-body-form': APIGatewayProxyEvent;
  'bref-v1-header-numeric-multivalue': APIGatewayProxyEvent;
  'bref-v1-no-request-context': Omit<APIGatewayProxyEvent, 'requestContext'>;
  'bref-v2-body-json': APIGatewayProxyEventV2;
}

/** The event type every fixture of an HTTP source has. */
export interface HttpEvents {
  'apigw-rest': APIGatewayProxyEvent;
  'apigw-http': APIGatewayProxyEventV2;
  alb: ALBEvent;
  'function-url': LambdaFunctionURLEvent;
}

/** The fixtures that exist, per source; the sanity test checks this against the folders. */
export const EVENT_NAMES = {
  'apigw-rest': [
    'get-root',
    'get-query',
    'post-form',
    'post-json',
    'post-binary',
    'multipart-upload',
    'repeated-headers',
    'head',
    'custom-domain',
    'basic-auth',
  ],
  'apigw-http': [
    'get-root',
    'get-query',
    'post-form',
    'post-json',
    'post-binary',
    'multipart-upload',
    'cookies',
    'repeated-headers',
    'head',
    'stage',
    'basic-auth',
  ],
  alb: ['get-single-value', 'get-multi-value', 'post-binary', 'post-form'],
  'function-url': ['get-root', 'get-query', 'post-binary', 'cookies'],
  tools: [
    'bref-v1-body-form',
    'bref-v1-header-numeric-multivalue',
    'bref-v1-no-request-context',
    'bref-v2-body-json',
  ],
  other: [
    'sqs',
    'sns',
    's3',
    'eventbridge',
    'schedule',
    'cli',
    'warmer',
    'api-gateway-websocket',
    'empty-object',
  ],
} as const satisfies { [S in keyof HttpEvents]: readonly string[] } & {
  tools: readonly (keyof ToolEvents)[];
  other: readonly (keyof OtherEvents)[];
};

export type EventSource = keyof typeof EVENT_NAMES;
export type HttpEventSource = keyof HttpEvents;
export type EventName<S extends EventSource> = (typeof EVENT_NAMES)[S][number];

/** The type of fixture `name` of `source`. */
export type EventOf<S extends EventSource, N extends EventName<S> = EventName<S>> = S extends HttpEventSource
  ? HttpEvents[S]
  : S extends 'tools'
    ? N extends keyof ToolEvents
      ? ToolEvents[N]
      : never
    : N extends keyof OtherEvents
      ? OtherEvents[N]
      : never;

/** Every source, HTTP ones first. */
export const EVENT_SOURCES = [
  'apigw-rest',
  'apigw-http',
  'alb',
  'function-url',
  'tools',
  'other',
] as const satisfies readonly EventSource[];

/** The sources fpm-bridge turns into FastCGI requests; a behaviour suite loops over these. */
export const HTTP_EVENT_SOURCES = [
  'apigw-rest',
  'apigw-http',
  'alb',
  'function-url',
] as const satisfies readonly HttpEventSource[];

/** The fixture names of one source, in the order of EVENT_NAMES. */
export function eventNames<S extends EventSource>(source: S): readonly EventName<S>[] {
  return EVENT_NAMES[source];
}

/** The fixture names actually on disk for one source, sorted (the typed list must match it). */
export function eventFilesOnDisk(source: EventSource): string[] {
  return readdirSync(join(EVENTS_DIR, source))
    .filter((file) => file.endsWith('.json'))
    .map((file) => file.slice(0, -'.json'.length))
    .sort();
}

const texts = new Map<string, string>();

/**
 * Fixture `name` of `source`, typed as that source's event, e.g. `loadEvent('apigw-http', 'get-query')`
 * is an APIGatewayProxyEventV2. Each call returns a new deep copy.
 */
export function loadEvent<S extends EventSource, N extends EventName<S>>(source: S, name: N): EventOf<S, N> {
  const known: readonly string[] = EVENT_NAMES[source] ?? [];
  if (!known.includes(name)) {
    throw new Error(`no "${name}" event fixture for source "${source}"; there are: ${known.join(', ')}`);
  }
  const key = `${source}/${name}.json`;
  let text = texts.get(key);
  if (text === undefined) {
    text = readFileSync(join(EVENTS_DIR, key), 'utf8');
    texts.set(key, text);
  }
  return JSON.parse(text) as EventOf<S, N>;
}
