import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { EncodedResponse } from '../../handler/adapter.ts';
import {
  compressResponse,
  jsonSizeBound,
  preferredEncoding,
  withoutWrongLength,
} from '../../handler/encode.ts';
import { ADAPTERS } from '../../handler/sources.ts';
import { headerValues } from '../../proxy/header-fields.ts';
import { loadEvent } from '../support/events.ts';
import { fuzz } from '../support/fuzz.ts';

describe('preferredEncoding: the coding a response that must shrink is compressed with', () => {
  const cases: [string, 'br' | 'gzip' | null][] = [
    ['gzip, deflate, br', 'br'],
    ['gzip', 'gzip'],
    ['GZIP', 'gzip'],
    ['x-gzip', 'gzip'],
    ['br;q=0.1, gzip;q=1', 'gzip'],
    ['br;q=0, gzip', 'gzip'],
    ['*', 'br'],
    ['*;q=0.5, br;q=0', 'gzip'],
    ['gzip;q=0', null],
    ['identity', null],
    ['deflate', null],
    ['', null],
    // Whitespace before a parameter is OWS (RFC 9110 §5.6.6); only SP and HTAB are whitespace.
    ['gzip ;q=0.5, br;q=0.4', 'gzip'],
    ['gzip\xa0', null],
    // A weight that is no qvalue (RFC 9110 §12.4.2) refuses the coding.
    ['br;q=1.5, gzip', 'gzip'],
    ['gzip;q=0x1', null],
  ];
  for (const [header, expected] of cases) {
    it(`Accept-Encoding "${header}" → ${expected ?? 'none'}`, () => {
      assert.equal(preferredEncoding(header), expected);
    });
  }
});

describe("withoutWrongLength: PHP's Content-Length in a Lambda result is its body's length or absent", () => {
  const head = (status: number, ...lengths: string[]) => ({
    status,
    statusText: '',
    headers: ['Content-Type', 'text/plain', ...lengths.flatMap((l) => ['Content-Length', l])],
  });

  it('keeps a right one and a missing one', () => {
    assert.deepEqual(withoutWrongLength(head(200, '3'), 3, false), { head: head(200, '3'), wrong: null });
    assert.deepEqual(withoutWrongLength(head(200), 3, false), { head: head(200), wrong: null });
  });

  it('drops a wrong one, and a repeated one, saying what PHP sent', () => {
    assert.deepEqual(withoutWrongLength(head(200, '10'), 3, false), {
      head: head(200),
      wrong: 'PHP\'s body is 3 bytes but it sent "Content-Length: 10"; the header was dropped',
    });
    assert.deepEqual(withoutWrongLength(head(200, '3', '10'), 3, false).head, head(200));
  });

  it('keeps the one of a HEAD, 204 or 304 answer, which describes the GET body', () => {
    assert.equal(withoutWrongLength(head(200, '10'), 0, true).wrong, null);
    assert.equal(withoutWrongLength(head(304, '10'), 0, false).wrong, null);
  });
});

describe('compressResponse: the fields it writes itself, once', () => {
  const body = Buffer.from('x'.repeat(1000));
  const vary = async (...headers: string[]) => {
    const head = { status: 200, statusText: 'OK', headers: ['Content-Length', '1000', ...headers] };
    const compressed = await compressResponse(head, body, 'gzip');
    return [headerValues(compressed!.headers, 'vary'), headerValues(compressed!.headers, 'content-length')];
  };

  it('adds Vary: Accept-Encoding beside the Vary PHP sent, drops the length, and adds no Vary PHP already said', async () => {
    assert.deepEqual(await vary(), [['Accept-Encoding'], []]);
    assert.deepEqual(await vary('Vary', 'Cookie'), [['Cookie', 'Accept-Encoding'], []]);
    assert.deepEqual(await vary('Vary', 'Cookie, accept-encoding'), [['Cookie, accept-encoding'], []]);
    assert.deepEqual(await vary('Vary', '*'), [['*'], []]);
  });
});

/** One fixture of each result shape: REST and ALB multi-value, HTTP API (and Function URL), ALB single-value. */
const RESULT_SHAPES = [
  loadEvent('apigw-rest', 'get-root'),
  loadEvent('apigw-http', 'get-root'),
  loadEvent('alb', 'get-single-value'),
  loadEvent('alb', 'get-multi-value'),
];

const adapterOf = (event: unknown) => ADAPTERS.find((a) => a.matches(event))!;
const multiValue = (event: object) => 'multiValueHeaders' in event && Boolean(event.multiValueHeaders);

describe('event source results carry each header PHP sent, whatever its name', () => {
  // Names of Object.prototype's members: a plain object reads the inherited member where the header is not set.
  const response: EncodedResponse = {
    status: 200,
    statusText: 'OK',
    headers: ['constructor', 'a', '__proto__', 'b', 'toString', 'c', 'hasOwnProperty', 'd'],
    body: '',
    isBase64Encoded: false,
  };
  for (const event of RESULT_SHAPES) {
    const adapter = adapterOf(event);
    const multi = multiValue(event);
    it(`in the ${adapter.name}${multi ? ' multi-value' : ''} result`, () => {
      const result = JSON.parse(JSON.stringify(adapter.toResult(event, response)));
      if (multi) {
        assert.deepEqual(
          result.multiValueHeaders,
          JSON.parse('{"constructor":["a"],"__proto__":["b"],"toString":["c"],"hasOwnProperty":["d"]}'),
        );
      } else {
        assert.deepEqual(
          result.headers,
          JSON.parse('{"constructor":"a","__proto__":"b","tostring":"c","hasownproperty":"d"}'),
        );
      }
    });
  }
});

describe("jsonSizeBound: a result is serialized to measure it only when it may pass the source's payload limit", () => {
  // Characters JSON escapes to six bytes (controls, a lone surrogate), quotes and backslashes, non-ASCII
  // and astral ones, among any others.
  const text = fc.string({
    maxLength: 200,
    size: 'max',
    unit: fc.oneof(
      fc.constantFrom('\u0000', '\u001f', '"', '\\', 'é', '€', '😀', '\ud800'),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
    ),
  });
  const response = fc.record({
    status: fc.integer({ min: 100, max: 599 }),
    statusText: text,
    headers: fc.array(fc.tuple(text, text)).map((pairs) => pairs.flat()),
    body: text,
    isBase64Encoded: fc.boolean(),
  });

  // At the bound's edge: every character escaped to six bytes.
  const escaped = '\u0001'.repeat(1000);
  const worst: EncodedResponse = {
    status: 599,
    statusText: escaped,
    headers: [escaped, escaped],
    body: escaped,
    isBase64Encoded: false,
  };
  for (const event of RESULT_SHAPES) {
    const adapter = adapterOf(event);
    const shape = multiValue(event) ? ' multi-value' : '';
    it(`is not below the size of the ${adapter.name}${shape} result's JSON when every character is escaped`, () => {
      const size = Buffer.byteLength(JSON.stringify(adapter.toResult(event, worst)));
      assert.ok(jsonSizeBound(worst) >= size, `bound ${jsonSizeBound(worst)} < ${size} bytes`);
    });
    it(`is never below the size of the ${adapter.name}${shape} result's JSON, whatever the strings`, () => {
      fc.assert(
        fc.property(response, (r: EncodedResponse) => {
          const size = Buffer.byteLength(JSON.stringify(adapter.toResult(event, r)));
          assert.ok(jsonSizeBound(r) >= size, `bound ${jsonSizeBound(r)} < ${size} bytes`);
        }),
        fuzz(300),
      );
    });
  }
});
