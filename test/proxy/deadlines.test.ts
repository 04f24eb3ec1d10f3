import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Deadlines } from '../../proxy/deadlines.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('Deadlines: many deadlines on one timer', () => {
  it('expires each item once, whatever order they were added in', async () => {
    const expired: string[] = [];
    const d = new Deadlines<string>((item) => expired.push(item));
    d.add('late', 60);
    d.add('early', 10);
    d.add('middle', 30);
    await sleep(150);
    // Sorted: a timer that ran late expires every item due by then in one go.
    assert.deepEqual(expired.sort(), ['early', 'late', 'middle']);
  });

  it('never expires an item deleted before its time, and still expires the others', async () => {
    const expired: string[] = [];
    const d = new Deadlines<string>((item) => expired.push(item));
    d.add('finished', 10);
    d.add('running', 40);
    d.delete('finished');
    await sleep(120);
    assert.deepEqual(expired, ['running']);
  });

  it('expires an item added while another expires, and one added again after its deletion', async () => {
    const expired: string[] = [];
    const d = new Deadlines<string>((item) => {
      expired.push(item);
      if (item === 'first') d.add('added by the expiry', 10);
    });
    d.add('first', 10);
    d.add('again', 20);
    d.delete('again');
    d.add('again', 30);
    await sleep(150);
    assert.deepEqual(expired.sort(), ['added by the expiry', 'again', 'first']);
  });

  it('keeps no process alive by itself: a pending deadline lets Node exit', () => {
    const run = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        "import { Deadlines } from './proxy/deadlines.ts'; new Deadlines(() => {}).add('x', 600_000);",
      ],
      { cwd: ROOT, encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(run.signal, null, 'the process had to be killed: the deadline kept it alive');
    assert.equal(run.status, 0, run.stderr);
  });
});
