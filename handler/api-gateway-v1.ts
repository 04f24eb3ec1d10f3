import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import {
  type AdapterOptions,
  API_GATEWAY_PAYLOAD_LIMIT,
  collectHeaders,
  type EncodedResponse,
  type EventAdapter,
  encodeComponent,
  encodePath,
  eventBody,
  isObject,
  type LambdaRequest,
  lambdaRequest,
  multiValueHeaders,
  multiValues,
  stripBasePath,
} from './adapter.ts';

/**
 * API Gateway REST API (payload 1.0). AWS gives no raw query string here, only decoded parameters, so
 * QUERY_STRING is rebuilt from `multiValueQueryStringParameters` in their order, encoding only what must be
 * (PHP's parse_str yields the same values). `path` is the resource path without the stage; with a custom
 * domain it carries the base path mapping's prefix, which `basePath` removes.
 */
export const apiGatewayV1: EventAdapter<APIGatewayProxyEvent, APIGatewayProxyResult> = {
  name: 'API Gateway REST',
  payloadLimit: API_GATEWAY_PAYLOAD_LIMIT,

  matches(event): event is APIGatewayProxyEvent {
    if (!isObject(event) || typeof event.httpMethod !== 'string' || typeof event.path !== 'string')
      return false;
    const context = event.requestContext;
    // AWS always sends requestContext. Events that tools and tests write (Bref's own among them) often leave
    // it out; with `httpMethod` and `path` and no other payload version, they can only mean a REST request.
    if (context === undefined || context === null)
      return event.version === undefined || event.version === '1.0';
    return isObject(context) && !('elb' in context);
  },

  toRequest(event: APIGatewayProxyEvent, _context: Context, options: AdapterOptions): LambdaRequest {
    const context: Partial<APIGatewayProxyEvent['requestContext']> = event.requestContext ?? {};
    return lambdaRequest(
      {
        method: event.httpMethod.toUpperCase(),
        path: encodePath(stripBasePath(event.path || '/', options.basePath)),
        query: queryString(event),
        headers: collectHeaders(event.headers, event.multiValueHeaders),
        protocol: context.protocol || 'HTTP/1.1',
        https: true,
        // No requestContext, no client address: REMOTE_ADDR is empty rather than made up.
        remoteAddress: context.identity?.sourceIp ?? '',
        body: eventBody(event.body, event.isBase64Encoded),
        domainName: context.domainName,
      },
      options,
    );
  },

  toResult(_event, response: EncodedResponse): APIGatewayProxyResult {
    return {
      statusCode: response.status,
      multiValueHeaders: multiValueHeaders(response.headers),
      body: response.body,
      isBase64Encoded: response.isBase64Encoded,
    };
  },
};

function queryString(event: APIGatewayProxyEvent): string {
  const multi = event.multiValueQueryStringParameters;
  const single = event.queryStringParameters;
  const parts: string[] = [];
  if (isObject(multi)) {
    for (const [name, values] of Object.entries(multi)) {
      for (const v of multiValues('query parameter', name, values)) parts.push(pair(name, v));
    }
  } else if (isObject(single)) {
    for (const [name, v] of Object.entries(single)) if (v !== undefined) parts.push(pair(name, v));
  }
  return parts.join('&');
}

function pair(name: string, value: string): string {
  return `${encodeComponent(name)}=${encodeComponent(value)}`;
}
