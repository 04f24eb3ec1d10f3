import type { ALBEvent, ALBResult, Context } from 'aws-lambda';
import { trimOws } from '../proxy/header-fields.ts';
import { reasonPhrase } from '../proxy/status.ts';
import {
  type AdapterOptions,
  addJoined,
  collectHeaders,
  type EncodedResponse,
  type EventAdapter,
  encodePath,
  eventBody,
  isObject,
  type LambdaRequest,
  lambdaRequest,
  multiValueHeaders,
  multiValues,
  setOwn,
  stripBasePath,
} from './adapter.ts';

/**
 * Application Load Balancer, with and without multi-value headers. ALB passes query keys and values still
 * percent-encoded as the client sent them, so they are joined as they are, never encoded again. The client
 * address is the last X-Forwarded-For entry (ALB appends the peer it saw). The reply uses the same mode as
 * the request: multi-value in, multi-value out; in single-value mode repeated headers are joined with `, `,
 * except Set-Cookie, of which ALB can only carry one — enable multi-value headers on the target group.
 */
export const alb: EventAdapter<ALBEvent, ALBResult> = {
  name: 'ALB',
  // ALB's limit for a Lambda target's response.
  payloadLimit: 1024 * 1024,

  matches(event): event is ALBEvent {
    return isObject(event) && isObject(event.requestContext) && isObject(event.requestContext.elb);
  },

  toRequest(event: ALBEvent, _context: Context, options: AdapterOptions): LambdaRequest {
    const headers = collectHeaders(event.headers, event.multiValueHeaders);
    const forwardedFor = headers.get('x-forwarded-for') ?? '';
    return lambdaRequest(
      {
        method: event.httpMethod.toUpperCase(),
        path: encodePath(stripBasePath(event.path || '/', options.basePath)),
        query: queryString(event),
        headers,
        protocol: 'HTTP/1.1',
        https: headers.get('x-forwarded-proto') === 'https',
        remoteAddress: trimOws(forwardedFor.slice(forwardedFor.lastIndexOf(',') + 1)),
        body: eventBody(event.body, event.isBase64Encoded),
      },
      options,
    );
  },

  toResult(event, response: EncodedResponse): ALBResult {
    const result: ALBResult = {
      statusCode: response.status,
      statusDescription: `${response.status} ${response.statusText || reasonPhrase(response.status)}`.trim(),
      body: response.body,
      isBase64Encoded: response.isBase64Encoded,
    };
    if (isObject(event.multiValueHeaders)) {
      result.multiValueHeaders = multiValueHeaders(response.headers);
    } else {
      const headers: Record<string, string> = {};
      const h = response.headers;
      for (let i = 0; i < h.length; i += 2) {
        const key = h[i]!.toLowerCase();
        const value = h[i + 1]!;
        // One Set-Cookie only: the last (a single-value result cannot carry more).
        if (key === 'set-cookie') setOwn(headers, key, value);
        else addJoined(headers, key, value);
      }
      result.headers = headers;
    }
    return result;
  },
};

function queryString(event: ALBEvent): string {
  const multi = event.multiValueQueryStringParameters;
  const single = event.queryStringParameters;
  const parts: string[] = [];
  if (isObject(multi)) {
    for (const [name, values] of Object.entries(multi))
      for (const v of multiValues('query parameter', name, values)) parts.push(`${name}=${v}`);
  } else if (isObject(single)) {
    for (const [name, v] of Object.entries(single)) if (v !== undefined) parts.push(`${name}=${v}`);
  }
  return parts.join('&');
}
