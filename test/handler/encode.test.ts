import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { preferredEncoding } from '../../handler/encode.ts';

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
  ];
  for (const [header, expected] of cases) {
    it(`Accept-Encoding "${header}" → ${expected ?? 'none'}`, () => {
      assert.equal(preferredEncoding(header), expected);
    });
  }
});
