/**
 * `serverless offline` (osls + serverless-offline) as a child process for tests, with every process it
 * starts, php-fpm included, gone when it is stopped.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { childEnv, killGroup, SERVERLESS } from '../e2e/serverless.ts';
import { freePort } from './ports.ts';
import { alive, childrenOf, commandOf } from './proc.ts';

/** Makes serverless-offline keep a path's trailing slash, as API Gateway does: see the file. */
const KEEP_TRAILING_SLASH = new URL('keep-trailing-slash.mjs', import.meta.url).href;

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

/** A `serverless offline` process that said it is ready. */
export interface RunningOffline {
  /** Leads its own process group: signal the group to reach every process it started. */
  child: ChildProcess;
  /** The HTTP API's base URL. */
  url: string;
  /** serverless-offline's Lambda API (Invoke), on its lambdaPort. */
  lambdaUrl: string;
  /** Everything it printed so far, stdout and stderr together. */
  output(): string;
}

/**
 * Spawns `serverless offline` for the service in `cwd` on free ports, with `args` added (e.g. `--stage`) and
 * `env` on top of the e2e tests' child environment (no test-runner variables, no FPM_BRIDGE_* settings of
 * the caller, a dead proxy), and resolves once it is ready; if it is not within 30 s, its group is killed.
 */
export async function spawnOffline(
  cwd: string,
  env: NodeJS.ProcessEnv,
  args: readonly string[] = [],
): Promise<RunningOffline> {
  const [httpPort, lambdaPort] = [await freePort(), await freePort()];
  const ports = ['--httpPort', String(httpPort), '--lambdaPort', String(lambdaPort)];
  const command = [
    '--import',
    KEEP_TRAILING_SLASH,
    SERVERLESS,
    'offline',
    ...args,
    '--host',
    '127.0.0.1',
    ...ports,
  ];
  const child = spawn(process.execPath, command, {
    cwd,
    env: childEnv(env),
    // Its own process group, so that stopping it reaches every process it started.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  // The framework logs to stderr, serverless-offline's banner included.
  const collect = (d: Buffer) => {
    output += d;
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      killGroup(child, 'SIGKILL');
      reject(new Error(`serverless offline was not ready after ${READY_TIMEOUT_MS} ms:\n${output}`));
    }, READY_TIMEOUT_MS);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`serverless offline exited (${code}) before it was ready:\n${output}`));
    };
    child.once('exit', onExit);
    const check = () => {
      if (!output.includes('Server ready:')) return;
      clearTimeout(timer);
      child.off('exit', onExit);
      child.stdout.off('data', check);
      child.stderr.off('data', check);
      resolve();
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
  });
  return {
    child,
    url: `http://127.0.0.1:${httpPort}`,
    lambdaUrl: `http://127.0.0.1:${lambdaPort}`,
    output: () => output,
  };
}

/** {@link spawnOffline}, with a `stop()` that leaves nothing it started behind, php-fpm included. */
export async function startOffline(cwd: string, env: NodeJS.ProcessEnv): Promise<Offline> {
  const { child, url } = await spawnOffline(cwd, env);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
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
  return { url, stop };
}
