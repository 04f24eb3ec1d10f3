import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';

/** A request as a user types it on the command line (`fpm-bridge invoke --path ...`). */
export interface HttpRequestSpec {
  /** Default GET. */
  method?: string;
  /** Request target, raw: `/search?q=a%20b`. */
  target: string;
  /** `[name, value]` pairs in order; repeats allowed. */
  headers?: readonly (readonly [string, string])[];
  body?: Buffer;
  /** Default 127.0.0.1. */
  sourceIp?: string;
  /** Default now. */
  now?: Date;
  /** Default a random UUID. */
  requestId?: string;
}

/** Host when the spec names none: API Gateway always has one, and PHP takes SERVER_NAME from it. */
const DEFAULT_HOST = 'localhost';

/**
 * The HTTP API (payload 2.0) event API Gateway would send for a request, built the way AWS builds it:
 * header names lower-cased and repeats joined with `,`, cookies moved out of `Cookie` into `cookies`,
 * `rawPath`/`rawQueryString` as sent, `queryStringParameters` decoded (repeats joined with `,`), and the
 * body base64-encoded, which keeps any bytes exact.
 *
 * @example
 *   httpApiEvent({ method: 'POST', target: '/echo?x=1', headers: [['Content-Type', 'text/plain']], body })
 */
export function httpApiEvent(spec: HttpRequestSpec): APIGatewayProxyEventV2 {
  const method = (spec.method ?? 'GET').toUpperCase();
  const q = spec.target.indexOf('?');
  const rawPath = q < 0 ? spec.target : spec.target.slice(0, q);
  const rawQueryString = q < 0 ? '' : spec.target.slice(q + 1);
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (const [name, value] of spec.headers ?? []) {
    const key = name.toLowerCase();
    if (key === 'cookie') cookies.push(...value.split(/;\s*/).filter((c) => c !== ''));
    else headers[key] = headers[key] === undefined ? value : `${headers[key]},${value}`;
  }
  headers.host ??= DEFAULT_HOST;
  const body = spec.body ?? null;
  if (body !== null) headers['content-length'] = String(body.length);
  const sourceIp = spec.sourceIp ?? '127.0.0.1';
  const now = spec.now ?? new Date();
  const host = headers.host;
  const event: APIGatewayProxyEventV2 = {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    headers,
    requestContext: {
      accountId: 'anonymous',
      apiId: 'local',
      domainName: host,
      domainPrefix: host.split('.')[0]!,
      http: {
        method,
        path: safeDecode(rawPath),
        protocol: 'HTTP/1.1',
        sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: spec.requestId ?? randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: clfTime(now),
      timeEpoch: now.getTime(),
    },
    isBase64Encoded: body !== null,
  };
  if (cookies.length > 0) event.cookies = cookies;
  if (rawQueryString !== '') event.queryStringParameters = queryParameters(rawQueryString);
  if (body !== null) event.body = body.toString('base64');
  return event;
}

/** What API Gateway puts in `queryStringParameters`: decoded names and values, repeats joined with `,`. */
function queryParameters(query: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = safeDecode(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? '' : safeDecode(pair.slice(eq + 1));
    out[name] = out[name] === undefined ? value : `${out[name]},${value}`;
  }
  return out;
}

/** Percent-decoding that leaves a malformed escape as it is, instead of throwing. */
function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `requestContext.time`'s format, Common Log Format in UTC: `17/Jun/2024:14:55:02 +0000`. */
function clfTime(d: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;
}
