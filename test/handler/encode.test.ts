import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compressResponse, preferredEncoding, withoutWrongLength } from '../../handler/encode.ts';
import { headerValues } from '../../proxy/header-fields.ts';

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
