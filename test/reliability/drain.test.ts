// SIGTERM to `fpm-bridge serve` (the real CLI process) while requests run: they finish, new connections
// are refused, php-fpm is stopped and the process exits 0.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, it } from 'node:test';
import { waitFor } from '../support/bridge.ts';
import { type Served, serve } from '../support/cli.ts';
import { alive, childrenOf, commandOf } from '../support/proc.ts';

interface Streaming {
  /** Resolves once the first body bytes arrived: the request is provably running in PHP. */
  started: Promise<void>;
  done: Promise<{ status: number; body: string }>;
}

function streaming(url: string): Streaming {
  let started!: () => void;
  const startedP = new Promise<void>((r) => (started = r));
  const done = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
        started();
      });
      res.on('end', () => resolve({ status: res.statusCode!, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
  return { started: startedP, done };
}

describe('fpm-bridge serve on SIGTERM with requests in flight', () => {
  it('finishes them, refuses new connections, stops php-fpm and exits 0', async () => {
    const app = await serve(['test/fixtures/php', '--workers', '2']);
    try {
      await drains(app);
    } finally {
      await app.stop('SIGKILL');
    }
  });
});

async function drains(app: Served): Promise<void> {
  const fpm = childrenOf(app.child.pid!).filter((pid) => commandOf(pid).startsWith('php-fpm: master'));
  assert.equal(fpm.length, 1, 'one php-fpm master');
  const running = [streaming(`${app.url}/slow-body.php?s=1`), streaming(`${app.url}/slow-body.php?s=1`)];
  await Promise.all(running.map((r) => r.started));
  const exited = app.stop('SIGTERM');
  await waitFor(() => app.stderr().includes('stopping: finishing requests in flight'), 'the stop to begin');
  await assert.rejects(fetch(`${app.url}/hello.txt`), 'a new connection is refused');
  for (const r of running) assert.deepEqual(await r.done, { status: 200, body: 'start\nend\n' });
  assert.equal(await exited, 0);
  assert.equal(alive(fpm[0]!), false);
}
