import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import * as errors from '../proxy/errors.ts';
import { withTable } from '../scripts/docs.ts';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('holds the configuration table exactly as proxy/config.ts declares it (npm run docs)', () => {
    assert.equal(readme, withTable(readme));
  });

  it('documents every error code once, and no two error classes share a code', () => {
    const codes: string[] = [];
    for (const value of Object.values(errors)) {
      if (typeof value !== 'function' || value === errors.FpmBridgeError) continue;
      const Ctor = value as unknown as new (...args: unknown[]) => errors.FpmBridgeError;
      codes.push(new Ctor('x', false).code);
    }
    assert.equal(new Set(codes).size, codes.length, `duplicate codes in ${codes.join(', ')}`);
    for (const code of codes) {
      assert.equal(readme.split(`| \`${code}\` |`).length - 1, 1, `${code} is documented once in README.md`);
    }
  });
});
