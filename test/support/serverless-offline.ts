/**
 * `serverless offline` (osls + serverless-offline) as a child process for tests, with every process it
 * starts, php-fpm included, gone when it is stopped.
 */
import { spawn } from 'node:child_process';
import { childEnv, killGroup, SERVERLESS } from '../e2e/serverless.ts';
import { freePort } from './ports.ts';
import { alive, childrenOf, commandOf } from './proc.ts';

/** Bounds on the waits below; a process still running past them is killed. */
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

export interface Offline {
  /** The HTTP API's base URL. */
  url: string;
  /** Stops the process group and kills any php-fpm below it that outlived it. */
  stop(): Promise<void>;
}

/** Every live process below `root` with its command line, php-fpm's included (it leads a group of its own). */
function descendants(root: number): { pid: number; command: string }[] {
  const found: { pid: number; command: string }[] = [];
  for (let parents = [root]; parents.length > 0; ) {
    parents = parents.flatMap(childrenOf);
    for (const pid of parents) found.push({ pid, command: commandOf(pid) });
  }
  return found;
}

/**
 * Starts `serverless offline` for the service in `cwd` on free ports, with `env` on top of the e2e tests'
 * child environment (no test-runner variables, no FPM_BRIDGE_* settings of the caller, a dead proxy).
 */
export async function startOffline(cwd: string, env: NodeJS.ProcessEnv): Promise<Offline> {
  const [httpPort, lambdaPort] = [await freePort(), await freePort()];
  const ports = ['--httpPort', String(httpPort), '--lambdaPort', String(lambdaPort)];
  const child = spawn(process.execPath, [SERVERLESS, 'offline', '--host', '127.0.0.1', ...ports], {
    cwd,
    env: childEnv(env),
    // Its own process group, so that stopping it reaches every process it started.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const within = (ms: number) =>
    Promise.race([
      exited.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref()),
    ]);
  const stop = async () => {
    const below = descendants(child.pid!);
    killGroup(child, 'SIGTERM');
    if (!(await within(STOP_TIMEOUT_MS))) killGroup(child, 'SIGKILL');
    await within(STOP_TIMEOUT_MS);
    // Only a process that is still the one seen below it: a pid may have been reused since.
    for (const p of below) {
      if (!alive(p.pid) || commandOf(p.pid) !== p.command) continue;
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // ESRCH: it exited meanwhile.
      }
    }
  };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`serverless offline was not ready after ${READY_TIMEOUT_MS} ms:\n${output}`));
    }, READY_TIMEOUT_MS);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`serverless offline exited (${code}) before it was ready:\n${output}`));
    };
    child.once('exit', onExit);
    const onData = (d: Buffer) => {
      output += d;
      if (!output.includes('Server ready:')) return;
      clearTimeout(timer);
      child.off('exit', onExit);
      resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
  });
  return { url: `http://127.0.0.1:${httpPort}`, stop };
}
