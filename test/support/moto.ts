/**
 * moto's server as the AWS of the deploy tests: started on a free loopback port through
 * test/support/moto-server.py (which closes three of moto's gaps: its Lambda Invoke runs functions through
 * test/support/lambda-invoke.ts instead of Docker), stopped with its process group.
 */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ROOT } from './cli.ts';
import { freePort } from './ports.ts';

const LAUNCHER = fileURLToPath(new URL('./moto-server.py', import.meta.url));
const INVOKER = fileURLToPath(new URL('./lambda-invoke.ts', import.meta.url));

/** Why the deploy tests cannot run here, or null: moto's server and cfn-lint must import in python3. */
export function motoMissing(): string | null {
  const r = spawnSync('python3', ['-c', 'import moto.server, cfnlint, boto3'], { encoding: 'utf8' });
  if (r.error !== undefined) return `python3 is not installed (${r.error.message})`;
  if (r.status !== 0) {
    return `python3 cannot import moto's server (pip install 'moto[server]' cfn-lint): ${r.stderr.trim().split('\n').at(-1)}`;
  }
  return null;
}

export interface Moto {
  /** `http://127.0.0.1:PORT`: an IP, not localhost, so that S3 clients address buckets path-style. */
  url: string;
  stop(): Promise<void>;
}

/** Starts moto and resolves once it answers. */
export async function startMoto(): Promise<Moto> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn('python3', [LAUNCHER, '-H', '127.0.0.1', '-p', String(port)], {
    cwd: ROOT, // where `--import tsx` finds tsx for the invoker
    env: { ...process.env, FPM_BRIDGE_TEST_INVOKE: `'${process.execPath}' --import tsx '${INVOKER}'` },
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    // Its request log is long; the start-up errors are at its beginning.
    if (stderr.length < 20_000) stderr += d;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      // ESRCH: gone already.
    }
    await exited;
  };
  for (let tries = 0; ; tries++) {
    if (child.exitCode !== null) throw new Error(`moto exited with ${child.exitCode}:\n${stderr}`);
    const up = await fetch(`${url}/moto-api/`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return { url, stop };
    if (tries === 300) {
      await stop();
      throw new Error(`moto did not answer on ${url} within 30 s:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
