import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DIRECTORY, FILE, FileCache, NOTHING } from '../../../proxy/cgi/file-cache.ts';

describe('FileCache', () => {
  it('remembers what each path names', () => {
    const cache = new FileCache(60_000);
    assert.equal(cache.get('/index.php'), undefined);
    cache.set('/index.php', FILE);
    cache.set('/app', DIRECTORY);
    cache.set('/nope', NOTHING);
    assert.deepEqual(
      ['/index.php', '/app', '/nope', '/other'].map((p) => cache.get(p)),
      [FILE, DIRECTORY, NOTHING, undefined],
    );
  });

  it('holds a bounded amount whatever paths arrive: a flood of 16 KiB paths keeps under 2 Mi characters', () => {
    const cache = new FileCache(60_000);
    cache.get('/');
    for (let i = 0; i < 1000; i++) {
      const path = `/${String(i).padStart(16_000, 'x')}`;
      if (cache.get(path) === undefined) cache.set(path, NOTHING);
      assert.ok(cache.size.chars <= 2 * 1024 * 1024, `${cache.size.chars} characters held`);
    }
    for (let i = 0; i < 20_000; i++) cache.set(`/p${i}`, NOTHING);
    assert.ok(cache.size.entries <= 10_000, `${cache.size.entries} entries held`);
  });
});
