import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { PhpFpmStartError } from '../errors.ts';
import { renderFpmConf } from './fpm-conf.ts';
import { layerIni, phpEnv } from './layer.ts';

export interface SupervisorOptions {
  /** php-fpm binary (see locatePhpFpm). */
  binary: string;
  workers: number;
  /** Seconds before php-fpm kills a stuck worker; 0 = never. */
  requestTerminateTimeout: number;
  scriptExtensions: readonly string[];
  /** Extra php.ini directories, appended to php-fpm's own scan dir. */
  phpIniDirs: readonly string[];
  /** ms to wait for the socket after each start. */
  startTimeout: number;
  /** Directory for the socket, config and log FIFO (a private one is created inside it). */
  runDir?: string;
  /** Variables php-fpm gets on top of ours (the Lambda handler's defaults for the app's framework). */
  env?: Readonly<Record<string, string>>;
  /** Lines php-fpm and its workers wrote (master notices, warnings, worker stderr). */
  onLog?: (line: string) => void;
  /** Called after php-fpm exited unexpectedly and before it is started again. */
  onExit?: (code: number | null, signal: NodeJS.Signals | null) => void;
}

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p)) ?? null;
const ENV = ['/usr/bin/env', '/bin/env'].find((p) => existsSync(p)) ?? 'env';
const RESTART_MIN_MS = 100;
const RESTART_MAX_MS = 5000;
/** A php-fpm that stayed up this long resets the backoff: the next crash is a new incident. */
const STABLE_MS = 30_000;

/**
 * Starts php-fpm with a config it writes (private Unix socket, `pm = static`), waits until the socket accepts
 * connections, restarts it with exponential backoff when it dies, and stops it with us: on `stop()`, and on
 * our process's exit, the child is terminated and its private directory removed, so no socket is left behind.
 *
 * @example
 *   const fpm = new PhpFpmSupervisor({ binary: locatePhpFpm(), workers: 4, ... })
 *   await fpm.start()  // fpm.socket is ready
 */
export class PhpFpmSupervisor {
  readonly dir: string;
  readonly socket: string;
  /** Times php-fpm was started again after dying. */
  restarts = 0;
  /** php-fpm is up and said it is ready to handle connections (false while it starts or restarts). */
  running = false;
  /** php-fpm was up once: a death is then restarted; a first start that fails is only an error. */
  private everReady = false;
  private child: ChildProcess | null = null;
  private stopping = false;
  private restarting = false;
  private backoff = RESTART_MIN_MS;
  private startedAt = 0;
  private ready: Promise<void> | null = null;
  /** Requests waiting to see php-fpm's death ({@link recover}). */
  private deathWaiters: (() => void)[] = [];
  /** Fires the restart waiting out its backoff now; null when none waits. */
  private restartNow: (() => void) | null = null;
  private readonly onProcessExit = () => this.killNow();

  /** The php-fpm binary it runs. */
  get binary(): string {
    return this.options.binary;
  }

  constructor(private readonly options: SupervisorOptions) {
    const parent = options.runDir ?? tmpdir();
    removeOrphans(parent);
    // A directory of our own (mode 0700): the socket cannot collide with, or be reached by, anyone else's.
    this.dir = mkdtempSync(join(parent, 'fpm-bridge-'));
    writeFileSync(join(this.dir, OWNER), String(process.pid));
    this.socket = join(this.dir, 'php-fpm.sock');
    writeFileSync(
      join(this.dir, 'php-fpm.conf'),
      renderFpmConf({
        socket: this.socket,
        pidFile: join(this.dir, 'php-fpm.pid'),
        workers: options.workers,
        requestTerminateTimeout: options.requestTerminateTimeout,
        scriptExtensions: options.scriptExtensions,
      }),
    );
    process.once('exit', this.onProcessExit);
  }

  /** The running child's pid, or null between restarts. */
  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /** Starts php-fpm and resolves once its socket accepts connections. */
  start(): Promise<void> {
    this.stopping = false;
    this.ready = this.launch();
    return this.ready;
  }

  /** Resolves when php-fpm is up (after a restart too); rejects if the last start failed. */
  whenReady(): Promise<void> {
    return this.ready ?? this.start();
  }

  /**
   * For a request php-fpm refused: resolves once php-fpm is up again. A refused connection can come before
   * the child's exit is seen (the socket dies first), so while php-fpm still counts as running this waits
   * up to `graceMs` for its exit to show; a restart held back by the crash-loop backoff starts at once,
   * since a request is waiting for it. Rejects if the start fails.
   */
  async recover(graceMs = 50): Promise<void> {
    if (this.running) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, graceMs);
        this.deathWaiters.push(done);
        function done() {
          clearTimeout(timer);
          resolve();
        }
      });
    }
    this.restartNow?.();
    return this.whenReady();
  }

  /**
   * Kills php-fpm and every worker at once and starts it again: how a stuck worker (a script past its
   * deadline) is replaced so the next request finds a clean pool.
   */
  async restart(): Promise<void> {
    // Already dead, its restart waiting out the backoff: start it now (those awaiting `ready` get it).
    if (this.restartNow !== null) {
      this.restartNow();
      return this.ready!;
    }
    const child = this.child;
    if (child !== null && child.exitCode === null && child.signalCode === null) {
      this.restarting = true;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      killGroup(child, 'SIGKILL');
      await exited;
      this.restarting = false;
    }
    this.restarts++;
    this.ready = this.launch();
    return this.ready;
  }

  /** Terminates php-fpm (and its workers) and removes the private directory. */
  async stop(): Promise<void> {
    this.stopping = true;
    // A restart waiting out the backoff: settle it (rejected: stopped), so no request waits for ever.
    this.restartNow?.();
    const child = this.child;
    if (child !== null && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      // SIGQUIT: php-fpm's graceful stop; SIGKILL if it has not gone after two seconds.
      child.kill('SIGQUIT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    }
    this.child = null;
    this.running = false;
    process.off('exit', this.onProcessExit);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private launch(): Promise<void> {
    const o = this.options;
    // The last php-fpm's socket: its killed workers may hold it open, still listening, for a while after the
    // master's exit. At its path, the readiness probe and the next request would connect to it, and be
    // dropped when the last of them dies (a 502 after every restart under load). Gone, they can only reach
    // the new php-fpm's socket.
    rmSync(this.socket, { force: true });
    const args = ['--nodaemonize', '--fpm-config', join(this.dir, 'php-fpm.conf')];
    // php-fpm refuses to run as root without this; as root, fpm-bridge's own user is the one PHP runs as.
    if (process.getuid?.() === 0) args.push('--allow-to-run-as-root');
    // Our ini dirs after php-fpm's own scan dir; for a layer's php-fpm the layer's conf.d and the app's.
    const env = phpEnv(
      o.binary,
      o.phpIniDirs,
      o.env === undefined ? process.env : { ...process.env, ...o.env },
    );
    // --force-stderr: the log goes to the stderr pipe we read, with no file or FIFO in between.
    args.push('--force-stderr');
    // Bref's layer ships opcache.file_cache_only=1 for its own runtime, which turns it off as it starts
    // php-fpm; without that, every request would compile from the file cache instead of shared memory.
    if (layerIni(o.binary)?.kind === 'bref') args.push('-d', 'opcache.file_cache_only=0');
    // detached: php-fpm leads its own process group, so that when its master dies by SIGKILL the workers it
    // leaves behind (still holding kept connections) can be killed as a group.
    const spawnOptions = {
      env,
      stdio: ['ignore', 'ignore', 'pipe'] as ('ignore' | 'pipe')[],
      detached: true,
    };
    let child: ChildProcess;
    if (SETPRIV === null) child = spawn(o.binary, args, spawnOptions);
    else {
      // Lambda's LD_LIBRARY_PATH (and serverless-offline's copy of it) names /opt/lib, the layer's libraries,
      // which setpriv, a program of the host, must not load: their glibc is not the host's. It runs without
      // it, and `env` hands it back to php-fpm (which searches its own RPATH first) for the programs PHP starts.
      const { LD_LIBRARY_PATH: libraryPath, ...hostEnv } = env;
      const command =
        libraryPath === undefined
          ? [o.binary, ...args]
          : [ENV, `LD_LIBRARY_PATH=${libraryPath}`, o.binary, ...args];
      child = spawn(SETPRIV, ['--pdeathsig', 'TERM', '--', ...command], { ...spawnOptions, env: hostEnv });
    }
    let announced: (() => void) | null = null;
    const readyLine = new Promise<void>((resolve) => {
      announced = resolve;
    });
    readLines(child.stderr!, (line) => {
      // php-fpm says so once its socket listens and its workers are forked: no polling needed.
      if (announced !== null && line.endsWith('NOTICE: ready to handle connections')) {
        announced();
        announced = null;
      }
      o.onLog?.(line);
    });
    this.child = child;
    this.startedAt = Date.now();
    const spawnFailed = new Promise<never>((_, reject) => {
      child.once('error', (err) =>
        reject(new PhpFpmStartError(`cannot start php-fpm "${o.binary}": ${err.message}`, { cause: err })),
      );
      child.once('exit', (code, signal) => {
        if (this.child === child) {
          this.child = null;
          this.running = false;
        }
        killGroup(child, 'SIGKILL');
        for (const wake of this.deathWaiters.splice(0)) wake();
        reject(
          new PhpFpmStartError(
            `php-fpm "${o.binary}" exited during start (${signal ?? `code ${code}`}); its log lines above say why`,
          ),
        );
        if (!this.stopping && !this.restarting && this.everReady) this.scheduleRestart(code, signal);
      });
    });
    spawnFailed.catch(() => {});
    const alive = () => this.child === child && !this.stopping && announced !== null;
    return Promise.race([
      readyLine,
      waitForSocket(this.socket, o.startTimeout, o.binary, alive),
      spawnFailed,
    ]).then(() => {
      if (this.child !== child) return;
      this.running = true;
      this.everReady = true;
    });
  }

  private scheduleRestart(code: number | null, signal: NodeJS.Signals | null): void {
    this.options.onExit?.(code, signal);
    if (Date.now() - this.startedAt > STABLE_MS) this.backoff = RESTART_MIN_MS;
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, RESTART_MAX_MS);
    this.ready = new Promise<void>((resolve, reject) => {
      const relaunch = () => {
        clearTimeout(timer);
        this.restartNow = null;
        if (this.stopping) return reject(new PhpFpmStartError('php-fpm was stopped'));
        this.restarts++;
        this.launch().then(resolve, reject);
      };
      // Backoff so a php-fpm that dies at once (bad ini, missing extension) does not spin the CPU while
      // nobody waits for it.
      const timer = setTimeout(relaunch, delay);
      this.restartNow = relaunch;
    });
    this.ready.catch(() => {});
  }

  private killNow(): void {
    if (this.child !== null) killGroup(this.child, 'SIGTERM');
    try {
      rmSync(this.dir, { recursive: true, force: true });
    } catch {}
  }
}

/** In each private directory: the pid of the process that made it (see {@link removeOrphans}). */
const OWNER = 'owner.pid';

/**
 * Removes the private directories in `parent` whose process is gone. One killed with SIGKILL, or a worker
 * thread terminated (serverless-offline ends its handlers so), cannot remove its own; every start would
 * otherwise leave one behind in /tmp, which Lambda limits.
 */
function removeOrphans(parent: string): void {
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return;
  }
  for (const name of names) {
    if (!/^fpm-bridge-[A-Za-z0-9]{6}$/.test(name)) continue;
    let owner: number;
    try {
      owner = Number(readFileSync(join(parent, name, OWNER), 'utf8'));
    } catch {
      continue; // not one of ours, or not ours to read
    }
    if (Number.isInteger(owner) && owner > 0 && !processExists(owner)) {
      rmSync(join(parent, name), { recursive: true, force: true });
    }
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Calls `onLine` for every line of a stream, without its newline. */
function readLines(stream: Readable, onLine: (line: string) => void): void {
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (text: string) => {
    const lines = (partial + text).split('\n');
    partial = lines.pop()!;
    for (const line of lines) if (line !== '') onLine(line);
  });
  stream.on('end', () => {
    if (partial !== '') onLine(partial);
  });
}

/** Signals php-fpm's whole process group: the master and every worker, orphaned or not. */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/**
 * Resolves once `path` accepts a connection. Polls at a short interval: php-fpm creates the socket only
 * after loading every extension, which takes from milliseconds to a second.
 */
function waitForSocket(path: string, timeout: number, binary: string, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeout;
  return new Promise((resolve, reject) => {
    let delay = 2;
    const attempt = () => {
      const probe = connect({ path });
      probe.once('connect', () => {
        probe.destroy();
        resolve();
      });
      probe.once('error', () => {
        probe.destroy();
        if (!alive()) return; // the exit handler reports why
        if (Date.now() >= deadline) {
          reject(
            new PhpFpmStartError(`php-fpm "${binary}" did not open its socket ${path} within ${timeout} ms`),
          );
          return;
        }
        setTimeout(attempt, delay);
        // At most 4 ms: a Lambda cold start waits on exactly this moment (php-fpm listens 100–150 ms after
        // its start here), and a failed connect() to a Unix socket path costs next to nothing.
        delay = Math.min(delay * 2, 4);
      });
    };
    attempt();
  });
}
