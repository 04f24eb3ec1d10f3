import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as errors from '../../proxy/errors.ts';

describe('error classes', () => {
  it('each carries its own class name as `name`, spelled out so that the minified bundles keep it', () => {
    for (const [exported, value] of Object.entries(errors)) {
      if (typeof value !== 'function') continue;
      const Ctor = value as unknown as new (...args: unknown[]) => Error;
      const err = new Ctor('x', false);
      assert.equal(err.name, exported);
      assert.match(String(err.stack), new RegExp(`^${exported}\\b`));
    }
  });
});
