import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import {
  type AdapterOptions,
  API_GATEWAY_PAYLOAD_LIMIT,
  addJoined,
  collectHeaders,
  type EncodedResponse,
  type EventAdapter,
  encodePath,
  eventBody,
  isObject,
  type LambdaRequest,
  lambdaRequest,
  stripBasePath,
} from './adapter.ts';

/**
 * HTTP API (payload 2.0) and Lambda Function URLs, which share the shape. `rawPath` and `rawQueryString`
 * are what the client sent: they become REQUEST_URI and QUERY_STRING byte for byte. Cookies arrive apart in
 * `cookies` (joined back with `; ` into Cookie) and Set-Cookie leaves through `cookies` in the result;
 * other repeated response headers are joined with `, `, since a v2 result has no multi-value headers.
 */
export const apiGatewayV2: EventAdapter<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2> = {
  name: 'HTTP API / Function URL',
  payloadLimit: API_GATEWAY_PAYLOAD_LIMIT,

  matches(event): event is APIGatewayProxyEventV2 {
    return (
      isObject(event) &&
      event.version === '2.0' &&
      isObject(event.requestContext) &&
      isObject(event.requestContext.http)
    );
  },

  toRequest(event: APIGatewayProxyEventV2, _context: Context, options: AdapterOptions): LambdaRequest {
    const http = event.requestContext.http;
    const headers = collectHeaders(event.headers, null);
    if (Array.isArray(event.cookies) && event.cookies.length > 0) {
      const existing = headers.get('cookie');
      headers.set('Cookie', [...(existing === undefined ? [] : [existing]), ...event.cookies].join('; '));
    }
    return lambdaRequest(
      {
        method: http.method.toUpperCase(),
        path: encodePath(stripBasePath(event.rawPath || http.path || '/', options.basePath)),
        query: event.rawQueryString ?? '',
        headers,
        protocol: http.protocol || 'HTTP/1.1',
        https: true,
        remoteAddress: http.sourceIp ?? '',
        body: eventBody(event.body, event.isBase64Encoded),
        domainName: event.requestContext.domainName,
      },
      options,
    );
  },

  toResult(_event, response: EncodedResponse): APIGatewayProxyStructuredResultV2 {
    const headers: Record<string, string> = {};
    const cookies: string[] = [];
    const h = response.headers;
    for (let i = 0; i < h.length; i += 2) {
      const name = h[i]!;
      if (name.length === 10 && name.toLowerCase() === 'set-cookie') {
        cookies.push(h[i + 1]!);
        continue;
      }
      const key = name.toLowerCase();
      addJoined(headers, key, h[i + 1]!);
    }
    const result: APIGatewayProxyStructuredResultV2 = {
      statusCode: response.status,
      headers,
      body: response.body,
      isBase64Encoded: response.isBase64Encoded,
    };
    if (cookies.length > 0) result.cookies = cookies;
    return result;
  },
};
