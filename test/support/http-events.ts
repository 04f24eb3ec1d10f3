// An HTTP request as each Lambda event source delivers it, built from the source's real fixture, and a Lambda
// result of any source as a client sees it: so that one test can send the same request through API Gateway
// (REST and HTTP API), a Function URL and an ALB.
import type { ALBEvent, APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda';
import { httpApiEvent } from '../../handler/http-api-event.ts';
import { type HttpEventSource, loadEvent } from './events.ts';

/** A Lambda result of any source, read back the way a client would see it. */
export interface Seen {
  status: number;
  /** Lowercased names; every value, Set-Cookie included. */
  headers: Record<string, string[]>;
  body: Buffer;
}

export type AnyResult = {
  statusCode: number;
  statusDescription?: string;
  headers?: Record<string, string | number | boolean>;
  multiValueHeaders?: Record<string, (string | number | boolean)[]>;
  cookies?: string[];
  body?: string;
  isBase64Encoded?: boolean;
};

export function seen(result: unknown): Seen {
  const r = result as AnyResult;
  const headers: Record<string, string[]> = {};
  const add = (name: string, value: string) => {
    const key = name.toLowerCase();
    headers[key] = [...(headers[key] ?? []), value];
  };
  for (const [n, v] of Object.entries(r.multiValueHeaders ?? {})) for (const x of v) add(n, String(x));
  for (const [n, v] of Object.entries(r.headers ?? {})) add(n, String(v));
  for (const c of r.cookies ?? []) add('set-cookie', c);
  const body = Buffer.from(r.body ?? '', r.isBase64Encoded === true ? 'base64' : 'utf8');
  return { status: r.statusCode, headers, body };
}

/** A client's request, as it is sent on the wire. */
export interface HttpRequest {
  /** Default GET. */
  method?: string;
  /** Raw path and query, as sent: `/hello/Zo%C3%AB?q=a%20b`. */
  target: string;
  /** In order; `Cookie` among them. */
  headers?: readonly (readonly [string, string])[];
  body?: Buffer;
  /** The client's address. Default 203.0.113.42. */
  sourceIp?: string;
}

/** The Host each source's fixtures carry, which the app sees. */
export const SOURCE_HOST: Readonly<Record<HttpEventSource, string>> = {
  'apigw-rest': 'a1b2c3d4e5.execute-api.us-east-1.amazonaws.com',
  'apigw-http': 'a1b2c3d4e5.execute-api.us-east-1.amazonaws.com',
  'function-url': 'abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws',
  alb: 'fpm-bridge-alb-1815800096.us-east-1.elb.amazonaws.com',
};

/**
 * The headers as every source passes them on: the client's address appended to any X-Forwarded-For it sent
 * (one value, as AWS writes it), and X-Forwarded-Proto and -Port set to HTTPS on 443.
 */
function withForwarding(
  headers: readonly (readonly [string, string])[],
  sourceIp: string,
): (readonly [string, string])[] {
  const sent = headers.filter(([n]) => n === 'x-forwarded-for').map(([, v]) => v);
  return [
    ...headers.filter(([n]) => !n.startsWith('x-forwarded-')),
    ['x-forwarded-for', [...sent, sourceIp].join(', ')],
    ['x-forwarded-proto', 'https'],
    ['x-forwarded-port', '443'],
  ];
}

/** `a=1&a=2&b` → name → values, decoded (REST) or as sent (ALB), as each source hands the query over. */
function queryValues(query: string, decode: boolean): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const d = (s: string) => (decode ? decodeURIComponent(s.replaceAll('+', ' ')) : s);
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = d(eq < 0 ? pair : pair.slice(0, eq));
    out[name] = [...(out[name] ?? []), d(eq < 0 ? '' : pair.slice(eq + 1))];
  }
  return out;
}

/**
 * The event `source` delivers for `req`: the source's fixture with the request's method, path, query,
 * headers and body, in the source's own terms (REST decodes the query and keeps headers apart by value,
 * HTTP API and Function URLs move cookies to `cookies`, ALB passes the query still encoded), the host and
 * the forwarding headers AWS adds.
 */
export function eventFor(source: HttpEventSource, req: HttpRequest): unknown {
  const method = (req.method ?? 'GET').toUpperCase();
  const q = req.target.indexOf('?');
  const path = q < 0 ? req.target : req.target.slice(0, q);
  const query = q < 0 ? '' : req.target.slice(q + 1);
  const sourceIp = req.sourceIp ?? '203.0.113.42';
  const headers = withForwarding(
    [['host', SOURCE_HOST[source]], ...(req.headers ?? []).map(([n, v]) => [n.toLowerCase(), v] as const)],
    sourceIp,
  );
  const body = req.body ?? null;
  if (source === 'apigw-http' || source === 'function-url') {
    // HTTP API hands rawPath over decoded (README, "What PHP sees"); Function URLs keep it as sent.
    const rawPath = source === 'apigw-http' ? decodeURI(path) : path;
    const event = httpApiEvent({ method, target: path, headers, body: body ?? undefined, sourceIp });
    event.rawPath = rawPath;
    event.rawQueryString = query;
    if (source === 'function-url') {
      const fixture = loadEvent('function-url', 'get-root');
      event.requestContext = { ...event.requestContext, apiId: fixture.requestContext.apiId };
    }
    return event satisfies APIGatewayProxyEventV2;
  }
  const multiValueHeaders: Record<string, string[]> = {};
  for (const [n, v] of headers) multiValueHeaders[n] = [...(multiValueHeaders[n] ?? []), v];
  if (body !== null) multiValueHeaders['content-length'] = [String(body.length)];
  const encodedBody = {
    body: body === null ? null : body.toString('base64'),
    isBase64Encoded: body !== null,
  };
  if (source === 'alb') {
    const event = loadEvent('alb', 'get-multi-value');
    return {
      ...event,
      httpMethod: method,
      path,
      multiValueQueryStringParameters: queryValues(query, false),
      multiValueHeaders,
      ...encodedBody,
      body: encodedBody.body ?? '',
    } satisfies ALBEvent;
  }
  const event = loadEvent('apigw-rest', 'get-root');
  const multiQuery = queryValues(query, true);
  return {
    ...event,
    httpMethod: method,
    path,
    headers: Object.fromEntries(Object.entries(multiValueHeaders).map(([n, v]) => [n, v.join(',')])),
    multiValueHeaders,
    queryStringParameters:
      query === '' ? null : Object.fromEntries(Object.entries(multiQuery).map(([n, v]) => [n, v.at(-1)!])),
    multiValueQueryStringParameters: query === '' ? null : multiQuery,
    requestContext: {
      ...event.requestContext,
      httpMethod: method,
      path: `/${event.requestContext.stage}${path}`,
      identity: { ...event.requestContext.identity, sourceIp },
    },
    ...encodedBody,
  } satisfies APIGatewayProxyEvent;
}
