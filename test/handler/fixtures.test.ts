// Sanity checks on the Lambda event fixtures themselves, so adapter tests can trust their shape.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  EVENT_SOURCES,
  type EventName,
  eventFilesOnDisk,
  eventNames,
  HTTP_EVENT_SOURCES,
  type HttpEventSource,
  loadEvent,
} from '../support/events.ts';
import { fakeContext } from '../support/lambda-context.ts';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const V2_SOURCES = ['apigw-http', 'function-url'] as const;

interface BodyCarrier {
  body?: string | null;
  isBase64Encoded: boolean;
}

function bodyBytes(event: BodyCarrier): Buffer {
  if (event.body === undefined || event.body === null) return Buffer.alloc(0);
  return Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
}

/** A header of a fixture by case-insensitive name, from whichever header map the event carries. */
function header(source: HttpEventSource, fixture: string, lower: string): string | undefined {
  const event = loadEvent(source, fixture as EventName<typeof source>);
  const single = event.headers ?? {};
  const multi = 'multiValueHeaders' in event ? (event.multiValueHeaders ?? {}) : {};
  for (const [key, value] of Object.entries(single)) if (key.toLowerCase() === lower) return value;
  for (const [key, values] of Object.entries(multi)) if (key.toLowerCase() === lower) return values?.at(-1);
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

describe('event fixtures', () => {
  for (const source of EVENT_SOURCES) {
    it(`${source}/ holds exactly the fixtures the loader lists`, () => {
      assert.deepEqual(eventFilesOnDisk(source), [...eventNames(source)].sort());
    });

    for (const name of eventNames(source)) {
      it(`${source}/${name} parses to a JSON object`, () => {
        assert.ok(isRecord(loadEvent(source, name)));
      });
    }
  }
});

describe('API Gateway REST fixtures', () => {
  for (const name of eventNames('apigw-rest')) {
    it(`${name} has the REST discriminators and no payload version`, () => {
      const event = loadEvent('apigw-rest', name);
      assert.match(event.httpMethod, /^(GET|HEAD|POST)$/);
      assert.ok(event.resource.startsWith('/'));
      assert.equal(event.requestContext.resourcePath, event.resource);
      assert.equal(event.requestContext.httpMethod, event.httpMethod);
      assert.equal(event.requestContext.stage, 'prod');
      assert.equal(event.requestContext.accountId, '123456789012');
      assert.match(event.requestContext.apiId, /^[a-z0-9]{10}$/);
      assert.match(event.requestContext.requestId, /^[0-9a-f-]{36}$/);
      assert.equal(event.requestContext.identity.sourceIp, '203.0.113.42');
      assert.equal(typeof event.requestContext.requestTimeEpoch, 'number');
      assert.ok(event.requestContext.domainName);
      assert.equal('version' in event, false);
    });

    it(`${name} keeps the last value of each multi-value header and query parameter`, () => {
      const event = loadEvent('apigw-rest', name);
      assert.deepEqual(Object.keys(event.headers).sort(), Object.keys(event.multiValueHeaders).sort());
      for (const [key, values] of Object.entries(event.multiValueHeaders)) {
        assert.equal(event.headers[key], values?.at(-1), key);
      }
      const single = event.queryStringParameters;
      const multi = event.multiValueQueryStringParameters;
      assert.equal(single === null, multi === null);
      for (const [key, values] of Object.entries(multi ?? {}))
        assert.equal(single?.[key], values?.at(-1), key);
    });

    it(`${name} has requestContext.path as the client saw it`, () => {
      const event = loadEvent('apigw-rest', name);
      if (event.requestContext.domainName?.includes('.execute-api.')) {
        assert.equal(event.requestContext.path, `/${event.requestContext.stage}${event.path}`);
      } else {
        assert.equal(event.requestContext.path, event.path);
      }
    });
  }

  it('gives query values already decoded', () => {
    const event = loadEvent('apigw-rest', 'get-query');
    assert.deepEqual(event.queryStringParameters, { 'a[]': '2', empty: '', q: 'hello world', plus: 'a+b' });
    assert.deepEqual(event.multiValueQueryStringParameters?.['a[]'], ['1', '2']);
  });

  it('puts the base path of a custom domain into path and leaves it out of the proxy parameter', () => {
    const event = loadEvent('apigw-rest', 'custom-domain');
    assert.equal(event.path, '/api/users/42');
    assert.equal(event.requestContext.path, '/api/users/42');
    assert.equal(event.requestContext.domainName, 'api.example.com');
    assert.deepEqual(event.pathParameters, { proxy: 'users/42' });
  });

  it('carries repeated headers in multiValueHeaders', () => {
    const event = loadEvent('apigw-rest', 'repeated-headers');
    assert.deepEqual(event.multiValueHeaders['X-Custom'], ['one', 'two']);
    assert.deepEqual(event.multiValueHeaders['Cookie'], ['a=1', 'b=2']);
  });
});

describe('HTTP API and Function URL fixtures', () => {
  for (const source of V2_SOURCES) {
    for (const name of eventNames(source)) {
      it(`${source}/${name} is payload 2.0 with lowercase headers and no cookie header`, () => {
        const event = loadEvent(source, name);
        assert.equal(event.version, '2.0');
        assert.match(event.requestContext.http.method, /^(GET|HEAD|POST)$/);
        assert.equal(event.requestContext.http.path, event.rawPath);
        assert.equal(event.requestContext.http.sourceIp, '203.0.113.42');
        assert.equal(event.requestContext.http.protocol, 'HTTP/1.1');
        assert.equal(typeof event.requestContext.timeEpoch, 'number');
        assert.equal(event.routeKey, event.requestContext.routeKey);
        assert.equal(typeof event.rawQueryString, 'string');
        for (const key of Object.keys(event.headers)) assert.equal(key, key.toLowerCase());
        assert.equal('cookie' in event.headers, false);
        for (const cookie of event.cookies ?? []) assert.match(cookie, /^[^=;\s]+=[^;]*$/);
      });

      it(`${source}/${name} has queryStringParameters decoded from rawQueryString, repeats joined by commas`, () => {
        const event = loadEvent(source, name);
        if (event.rawQueryString === '') {
          assert.equal(event.queryStringParameters, undefined);
          return;
        }
        const expected: Record<string, string> = {};
        for (const pair of event.rawQueryString.split('&')) {
          const [rawKey = '', rawValue = ''] = pair.split('=');
          const key = decodeURIComponent(rawKey);
          const value = decodeURIComponent(rawValue);
          expected[key] = key in expected ? `${expected[key]},${value}` : value;
        }
        assert.deepEqual(event.queryStringParameters, expected);
      });
    }

    it(`${source} keeps the raw query string byte for byte`, () => {
      const event = loadEvent(source, 'get-query');
      assert.equal(event.rawQueryString, 'a[]=1&a[]=2&empty=&q=hello%20world&plus=a%2Bb');
      assert.deepEqual(event.queryStringParameters, {
        'a[]': '1,2',
        empty: '',
        q: 'hello world',
        plus: 'a+b',
      });
    });

    it(`${source} moves cookies into the cookies array`, () => {
      assert.deepEqual(loadEvent(source, 'cookies').cookies, ['a=1', 'b=2']);
    });
  }

  it('HTTP API joins a repeated header with a comma', () => {
    assert.equal(loadEvent('apigw-http', 'repeated-headers').headers['x-custom'], 'one,two');
  });

  it('HTTP API on a named stage starts rawPath with the stage', () => {
    const event = loadEvent('apigw-http', 'stage');
    assert.equal(event.requestContext.stage, 'prod');
    assert.ok(event.rawPath.startsWith(`/${event.requestContext.stage}/`));
    assert.deepEqual(event.pathParameters, { proxy: 'users/42' });
  });

  it('HTTP API sends form posts base64-encoded', () => {
    const event = loadEvent('apigw-http', 'post-form');
    assert.equal(event.isBase64Encoded, true);
    assert.match(bodyBytes(event).toString('utf8'), /^name=Jane\+Doe&/);
  });

  for (const name of eventNames('function-url')) {
    it(`function-url/${name} comes from a lambda-url domain with no authorizer or an IAM one`, () => {
      const event = loadEvent('function-url', name);
      const context = event.requestContext;
      assert.match(context.domainName, /^[a-z0-9]{32}\.lambda-url\.us-east-1\.on\.aws$/);
      assert.equal(context.domainPrefix, context.apiId);
      assert.equal(event.headers['host'], context.domainName);
      if ('authorizer' in context) {
        assert.ok(isRecord(context.authorizer) && isRecord(context.authorizer['iam']));
      } else {
        assert.equal(context.accountId, 'anonymous');
      }
    });
  }
});

describe('ALB fixtures', () => {
  for (const name of eventNames('alb')) {
    it(`${name} has the target group and the forwarding headers`, () => {
      const event = loadEvent('alb', name);
      assert.match(
        event.requestContext.elb.targetGroupArn,
        /^arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup\/[\w-]+\/[0-9a-f]{16}$/,
      );
      const multi = event.multiValueHeaders !== undefined;
      assert.equal(event.headers === undefined, multi);
      assert.equal(event.queryStringParameters === undefined, multi);
      assert.equal(event.multiValueQueryStringParameters === undefined, !multi);
      for (const key of Object.keys(event.headers ?? event.multiValueHeaders ?? {})) {
        assert.equal(key, key.toLowerCase());
      }
      assert.equal(header('alb', name, 'x-forwarded-for'), '203.0.113.42');
      assert.equal(header('alb', name, 'x-forwarded-proto'), 'https');
      assert.equal(header('alb', name, 'x-forwarded-port'), '443');
      assert.match(header('alb', name, 'x-amzn-trace-id') ?? '', /^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$/);
      assert.equal(typeof event.body, 'string');
    });
  }

  it('passes query values still percent-encoded', () => {
    assert.deepEqual(loadEvent('alb', 'get-single-value').queryStringParameters, {
      q: 'hello%20world',
      plus: 'a%2Bb',
      space: 'a+b',
      empty: '',
    });
    assert.deepEqual(loadEvent('alb', 'get-multi-value').multiValueQueryStringParameters, {
      'a%5B%5D': ['1', '2'],
      q: ['hello%20world'],
    });
  });

  it('lists both values of a repeated header with multi-value headers on', () => {
    assert.deepEqual(loadEvent('alb', 'get-multi-value').multiValueHeaders?.['x-custom'], ['one', 'two']);
  });
});

describe('request bodies', () => {
  const pngs = HTTP_EVENT_SOURCES.map((source) => {
    const event = loadEvent(source, 'post-binary');
    return { source, event, bytes: bodyBytes(event) };
  });

  for (const { source, event, bytes } of pngs) {
    it(`${source}/post-binary carries a base64 PNG`, () => {
      assert.equal(event.isBase64Encoded, true);
      assert.equal(header(source, 'post-binary', 'content-type'), 'image/png');
      assert.deepEqual(bytes.subarray(0, 8), PNG_SIGNATURE);
      assert.equal(bytes.subarray(12, 16).toString('latin1'), 'IHDR');
      assert.deepEqual(bytes, pngs[0]?.bytes);
    });
  }

  for (const source of ['apigw-rest', 'apigw-http'] as const) {
    it(`${source}/multipart-upload has a body framed by the boundary of its content type`, () => {
      const event = loadEvent(source, 'multipart-upload');
      assert.equal(event.isBase64Encoded, true);
      const contentType = header(source, 'multipart-upload', 'content-type') ?? '';
      const boundary = /^multipart\/form-data; boundary=(\S+)$/.exec(contentType)?.[1];
      assert.ok(boundary, contentType);
      const body = bodyBytes(event);
      const text = body.toString('latin1');
      assert.ok(text.startsWith(`--${boundary}\r\n`));
      assert.ok(text.endsWith(`\r\n--${boundary}--\r\n`));
      assert.equal(text.split(`--${boundary}`).length, 4, 'two parts and the closing delimiter');
      const fileHead = 'filename="pixel.png"\r\nContent-Type: image/png\r\n\r\n';
      const start = text.indexOf(fileHead) + fileHead.length;
      const end = text.lastIndexOf(`\r\n--${boundary}--`);
      assert.deepEqual(body.subarray(start, end), pngs[0]?.bytes);
    });
  }

  for (const source of HTTP_EVENT_SOURCES) {
    for (const name of eventNames(source)) {
      it(`${source}/${name} has a content-length matching its decoded body, if any`, () => {
        const length = header(source, name, 'content-length');
        if (length === undefined) return;
        assert.equal(Number(length), bodyBytes(loadEvent(source, name)).length);
      });
    }
  }

  it('counts the bytes of a UTF-8 JSON body, not its characters', () => {
    const event = loadEvent('apigw-rest', 'post-json');
    assert.ok(event.body?.includes('Zürich'));
    assert.equal(Number(event.headers['Content-Length']), Buffer.byteLength(event.body ?? ''));
  });
});

describe('other fixtures', () => {
  it('sqs is a record batch with a matching md5OfBody', () => {
    const [record] = loadEvent('other', 'sqs').Records;
    assert.equal(record?.eventSource, 'aws:sqs');
    assert.equal(
      record?.md5OfBody,
      createHash('md5')
        .update(record?.body ?? '')
        .digest('hex'),
    );
  });

  it('sns, s3, eventbridge and schedule carry their source markers', () => {
    assert.equal(loadEvent('other', 'sns').Records[0]?.EventSource, 'aws:sns');
    assert.equal(loadEvent('other', 's3').Records[0]?.eventSource, 'aws:s3');
    const bridge = loadEvent('other', 'eventbridge');
    assert.equal(bridge.version, '0');
    assert.ok(bridge['detail-type'] && bridge.source);
    const schedule = loadEvent('other', 'schedule');
    assert.equal(schedule['detail-type'], 'Scheduled Event');
    assert.equal(schedule.source, 'aws.events');
  });

  it('cli, warmer and the empty object are what they say', () => {
    assert.deepEqual(loadEvent('other', 'cli'), { cli: 'artisan migrate --force' });
    assert.deepEqual(loadEvent('other', 'warmer'), { warmer: true });
    assert.deepEqual(loadEvent('other', 'empty-object'), {});
  });

  it('the websocket $connect looks like HTTP but has no httpMethod, version or rawPath', () => {
    const event = loadEvent('other', 'api-gateway-websocket');
    assert.equal(event.requestContext.eventType, 'CONNECT');
    assert.equal(event.requestContext.routeKey, '$connect');
    assert.ok(event.headers['Sec-WebSocket-Key']);
    for (const key of ['httpMethod', 'version', 'rawPath']) assert.equal(key in event, false, key);
  });
});

describe('loadEvent', () => {
  it('returns an independent deep copy on every call', () => {
    const first = loadEvent('apigw-rest', 'get-query');
    const second = loadEvent('apigw-rest', 'get-query');
    assert.notEqual(first, second);
    assert.notEqual(first.requestContext, second.requestContext);
    assert.deepEqual(first, second);
    first.headers['Host'] = 'mutated.example';
    first.requestContext.identity.sourceIp = '198.51.100.1';
    first.multiValueQueryStringParameters?.['a[]']?.push('3');
    const third = loadEvent('apigw-rest', 'get-query');
    assert.deepEqual(third, second);
    assert.notEqual(third.headers['Host'], 'mutated.example');
  });

  it('names the fixtures that exist when asked for one that does not', () => {
    assert.throws(
      () => loadEvent('alb', 'nope' as string as EventName<'alb'>),
      /no "nope" event fixture for source "alb"; there are: get-single-value, /,
    );
  });
});

describe('fakeContext', () => {
  it('counts the remaining time down from its deadline', () => {
    let clock = 1_000_000;
    const context = fakeContext({ remainingMs: 5_000, now: () => clock });
    assert.equal(context.getRemainingTimeInMillis(), 5_000);
    clock += 1_200;
    assert.equal(context.getRemainingTimeInMillis(), 3_800);
    clock += 10_000;
    assert.equal(context.getRemainingTimeInMillis(), 0);
  });

  it('looks like a Lambda context', () => {
    const context = fakeContext({ awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678' });
    assert.equal(context.awsRequestId, 'c6af9ac6-7b61-11e6-9a41-93e812345678');
    assert.equal(
      context.invokedFunctionArn,
      `arn:aws:lambda:us-east-1:123456789012:function:${context.functionName}`,
    );
    assert.equal(context.logGroupName, `/aws/lambda/${context.functionName}`);
    assert.match(context.logStreamName, /^\d{4}\/\d{2}\/\d{2}\/\[\$LATEST\][0-9a-f]{32}$/);
    assert.match(
      fakeContext().awsRequestId,
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    const remaining = fakeContext().getRemainingTimeInMillis();
    assert.ok(remaining > 29_000 && remaining <= 30_000);
  });
});
