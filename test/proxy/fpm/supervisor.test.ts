import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { PhpFpmNotFoundError, PhpFpmStartError, UpstreamClosedError } from '../../../proxy/errors.ts';
import { locatePhpFpm } from '../../../proxy/fpm/locate.ts';
import { PhpFpmSupervisor } from '../../../proxy/fpm/supervisor.ts';
import { bufferCgi } from '../../../proxy/upstream.ts';
import { startBridge, waitFor } from '../../support/bridge.ts';
import { startFpm } from '../../support/php-fpm.ts';

const made: string[] = [];
after(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

function fakeBinaries(...names: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-bin-'));
  made.push(dir);
  for (const name of names) writeFileSync(join(dir, name), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
  return dir;
}

const HELLO = join(mkdtempSync(join(tmpdir(), 'fpm-bridge-sup-')), 'hello.php');
made.push(dirname(HELLO));
writeFileSync(HELLO, '<?php echo "hello from ", getmypid();');
const params = ['REQUEST_METHOD', 'GET', 'SCRIPT_FILENAME', HELLO, 'SCRIPT_NAME', '/hello.php'];

describe('locatePhpFpm', () => {
  it('prefers the newest versioned php-fpm on PATH', () => {
    const dir = fakeBinaries('php-fpm8.1', 'php-fpm8.3', 'php-fpm');
    assert.equal(locatePhpFpm(undefined, { PATH: dir }, [], '/nonexistent'), join(dir, 'php-fpm8.3'));
  });

  it('takes php-fpm8.4 over php-fpm8.2 in /usr/sbin, and reads versions as numbers (8.10 after 8.9)', () => {
    const sbin = fakeBinaries('php-fpm8.2', 'php-fpm8.4');
    assert.equal(
      locatePhpFpm(undefined, { PATH: '/nonexistent' }, [sbin], '/nonexistent'),
      join(sbin, 'php-fpm8.4'),
    );
    const future = fakeBinaries('php-fpm8.9', 'php-fpm8.10', 'php-fpm');
    assert.equal(locatePhpFpm(undefined, { PATH: future }, [], '/nonexistent'), join(future, 'php-fpm8.10'));
  });

  it('takes the PHP 8.4 of fpm-bridge’s layer at /opt over Debian 12’s php-fpm8.2, by the layer’s manifest', () => {
    const sbin = fakeBinaries('php-fpm8.2');
    const opt = mkdtempSync(join(tmpdir(), 'fpm-bridge-opt-'));
    made.push(opt);
    mkdirSync(join(opt, 'bin'));
    writeFileSync(join(opt, 'bin', 'php-fpm'), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
    mkdirSync(join(opt, 'share', 'fpm-bridge'), { recursive: true });
    writeFileSync(join(opt, 'share', 'fpm-bridge', 'layer.json'), JSON.stringify({ php: '8.4' }));
    const layer = join(opt, 'bin', 'php-fpm');
    assert.equal(locatePhpFpm(undefined, { PATH: '' }, [sbin], layer), layer);
    // Without a manifest saying its version, a plain php-fpm comes after any versioned one.
    const plain = fakeBinaries('php-fpm');
    assert.equal(locatePhpFpm(undefined, { PATH: plain }, [sbin], '/nonexistent'), join(sbin, 'php-fpm8.2'));
  });

  it('uses an explicit binary and names it when it is missing', () => {
    const dir = fakeBinaries('custom-fpm');
    assert.equal(locatePhpFpm(join(dir, 'custom-fpm'), {}), join(dir, 'custom-fpm'));
    assert.throws(() => locatePhpFpm('/nope/php-fpm', {}), {
      name: 'PhpFpmNotFoundError',
      code: 'FPM_BRIDGE_ERR_PHP_FPM_NOT_FOUND',
      message:
        'php-fpm binary "/nope/php-fpm" (from "phpFpmBinary" or FPM_BRIDGE_PHP_FPM) does not exist or is not executable',
    });
  });

  it('says where it looked and which package to install when there is none', () => {
    assert.throws(
      () => locatePhpFpm(undefined, { PATH: '/nonexistent' }, [], '/nonexistent/opt/bin/php-fpm'),
      (err: unknown) => {
        assert.ok(err instanceof PhpFpmNotFoundError);
        assert.equal(
          err.message,
          'php-fpm not found (looked at FPM_BRIDGE_PHP_FPM, PATH, /usr/sbin/php-fpm*, /usr/local/sbin/php-fpm*, /opt/bin/php-fpm) — install it with "apt-get install php8.4-fpm" (Debian 13; "php8.2-fpm" on Debian 12) or point FPM_BRIDGE_PHP_FPM at the binary',
        );
        return true;
      },
    );
  });
});

describe('PhpFpmSupervisor', () => {
  it('restarts php-fpm after it is killed, and requests succeed again on the same socket', async () => {
    const fpm = await startFpm({ workers: 1 });
    try {
      const first = await bufferCgi(fpm.pool, { params, body: null }).response;
      assert.match(first.body.toString(), /^hello from \d+$/);
      const exited = new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          if (fpm.supervisor.pid === null || fpm.supervisor.restarts > 0) {
            clearInterval(timer);
            resolve();
          }
        }, 5);
      });
      process.kill(fpm.supervisor.pid!, 'SIGKILL');
      await exited;
      await fpm.supervisor.whenReady();
      assert.equal(fpm.supervisor.restarts, 1);
      const again = await bufferCgi(fpm.pool, { params, body: null }).response;
      assert.equal(again.status, 200);
      assert.notEqual(again.body.toString(), first.body.toString());
    } finally {
      await fpm.stop();
    }
  });

  it('serves the first request after a restart from the new php-fpm while something still listens at the old socket path', async () => {
    const fpm = await startFpm({ workers: 1 });
    // A killed php-fpm's workers hold its listening socket open until the last of them is gone: here a
    // stand-in for them listens at the path, dropping every connection, while the restart waits its backoff.
    const stale = createServer((socket) => socket.destroy());
    try {
      const restarts = fpm.supervisor.restarts;
      process.kill(fpm.supervisor.pid!, 'SIGKILL');
      await waitFor(() => !fpm.supervisor.running, 'the death to be seen');
      rmSync(fpm.socket, { force: true });
      await new Promise<void>((resolve) => stale.listen(fpm.socket, resolve));
      await fpm.supervisor.whenReady();
      assert.equal(fpm.supervisor.restarts, restarts + 1);
      const res = await bufferCgi(fpm.pool, { params, body: null }).response;
      assert.equal(res.status, 200);
    } finally {
      stale.close();
      await fpm.stop();
    }
  });

  it('recover() starts a restart held back by the crash-loop backoff at once, for a waiting request', async () => {
    const fpm = await startFpm({ workers: 1 });
    try {
      // Each quick death doubles the backoff: 100, 200, 400 ms, then 800 ms before the next start.
      for (let death = 0; death < 4; death++) {
        const restarts = fpm.supervisor.restarts;
        process.kill(fpm.supervisor.pid!, 'SIGKILL');
        if (death < 3) {
          await waitFor(() => fpm.supervisor.restarts === restarts + 1, 'the restart');
          await fpm.supervisor.whenReady();
        } else {
          await waitFor(() => !fpm.supervisor.running, 'the death to be seen');
        }
      }
      const started = Date.now();
      await fpm.supervisor.recover();
      assert.ok(Date.now() - started < 800, `waited ${Date.now() - started} ms`);
      const res = await bufferCgi(fpm.pool, { params, body: null }).response;
      assert.equal(res.status, 200);
    } finally {
      await fpm.stop();
    }
  });

  it('stop() settles a restart still waiting out its backoff, so nobody waits for ever', async () => {
    const fpm = await startFpm({ workers: 1 });
    process.kill(fpm.supervisor.pid!, 'SIGKILL');
    await waitFor(() => !fpm.supervisor.running, 'the death to be seen');
    const waiting = fpm.supervisor.whenReady();
    await fpm.stop();
    await assert.rejects(waiting, { message: 'php-fpm was stopped' });
  });

  it('removes the private directories of processes that are gone, and no other, when it starts', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'fpm-bridge-run-'));
    const gone = spawnSync(process.execPath, ['-e', '']).pid!;
    const leftBy = (pid: number | null, name: string) => {
      mkdirSync(join(parent, name));
      writeFileSync(join(parent, name, 'php-fpm.conf'), '');
      if (pid !== null) writeFileSync(join(parent, name, 'owner.pid'), String(pid));
    };
    leftBy(gone, 'fpm-bridge-Orphan');
    leftBy(process.pid, 'fpm-bridge-Living');
    leftBy(null, 'fpm-bridge-NoPid0');
    leftBy(gone, 'fpm-bridge-other-dir');
    const fpm = await startFpm({ workers: 1, runDir: parent });
    try {
      assert.deepEqual(
        readdirSync(parent).sort(),
        [
          'fpm-bridge-Living',
          'fpm-bridge-NoPid0',
          'fpm-bridge-other-dir',
          basename(fpm.supervisor.dir),
        ].sort(),
      );
    } finally {
      await fpm.stop();
      rmSync(parent, { recursive: true, force: true });
    }
  });

  it('removes its private directory, socket included, when stopped', async () => {
    const fpm = await startFpm({ workers: 1 });
    assert.ok(existsSync(fpm.socket));
    await fpm.stop();
    assert.equal(existsSync(fpm.supervisor.dir), false);
    assert.equal(fpm.supervisor.pid, null);
  });

  it('fails the start with the exit status when php-fpm exits at once, and does not claim to restart it', async () => {
    const dir = fakeBinaries('php-fpm');
    const exits: unknown[] = [];
    const supervisor = new PhpFpmSupervisor({
      binary: join(dir, 'php-fpm'),
      workers: 1,
      requestTerminateTimeout: 0,
      scriptExtensions: ['.php'],
      phpIniDirs: [],
      startTimeout: 5000,
      onExit: (code) => exits.push(code),
    });
    await assert.rejects(supervisor.start(), (err: unknown) => {
      assert.ok(err instanceof PhpFpmStartError);
      assert.equal(err.code, 'FPM_BRIDGE_ERR_PHP_FPM_START');
      assert.equal(
        err.message,
        `php-fpm "${join(dir, 'php-fpm')}" exited during start (code 1); its log lines above say why`,
      );
      return true;
    });
    assert.deepEqual(exits, []);
    assert.equal(supervisor.restarts, 0);
    await supervisor.stop();
  });
});

describe('Bridge over a supervised php-fpm', () => {
  it('breaks the response php-fpm died under, then waits for the restart and serves the next request', async () => {
    const t = await startBridge({ overrides: { workers: 1 } });
    try {
      const supervisor = t.bridge.backend.supervisor!;
      const inFlight = await t.stream({ uri: '/slow-body.php?s=5' });
      assert.equal(inFlight.status, 200);
      const received: Buffer[] = [];
      const bodyDone = new Promise<unknown>((resolve) => {
        inFlight.body.on('data', (d: Buffer) => received.push(d));
        inFlight.body.on('error', resolve);
        inFlight.body.on('end', () => resolve(null));
      });
      process.kill(supervisor.pid!, 'SIGKILL');
      const err = await bodyDone;
      assert.ok(err instanceof UpstreamClosedError);
      assert.equal(err.code, 'FPM_BRIDGE_ERR_UPSTREAM_CLOSED');
      assert.equal(Buffer.concat(received).toString(), 'start\n');
      const next = await t.request({ uri: '/dump.php' });
      assert.equal(next.status, 200);
      assert.equal(supervisor.restarts, 1);
    } finally {
      await t.close();
    }
  });
});
