import { Balancer } from './balancer.ts';
import type { Config } from './config.ts';
import { type FcgiAddress, formatAddress, parseAddress } from './fastcgi/address.ts';
import { Pool, type PoolOptions } from './fastcgi/pool.ts';
import { locatePhpFpm } from './fpm/locate.ts';
import { PhpFpmSupervisor } from './fpm/supervisor.ts';
import type { BackendStatus } from './health.ts';
import type { Logger } from './log.ts';
import type { Dispatcher } from './upstream.ts';

/** The php-fpm side of the bridge: one spawned and supervised php-fpm, or external addresses. */
export interface Backend {
  dispatcher: Dispatcher;
  pools: readonly Pool[];
  /** The spawned php-fpm, or null for external addresses. */
  supervisor: PhpFpmSupervisor | null;
  /** Each php-fpm address with its pool and whether it is up: what health endpoints and metrics read. */
  backends: readonly BackendStatus[];
  /** Requests can run: the spawned php-fpm is ready, or at least one address is up. */
  healthy(): boolean;
  /** Every php-fpm address has requests waiting for a worker: a new request will wait its turn. */
  saturated(): boolean;
  /** Where requests go, for messages: `unix:/...` addresses. */
  describe(): string;
  close(): Promise<void>;
}

export interface BackendOptions {
  /** Directory for the spawned php-fpm's socket, config and log FIFO (default the system's temp dir). */
  runDir?: string;
  /**
   * The caller restarts php-fpm itself after a request timed out (the Lambda runtime), so php-fpm gets no
   * request_terminate_timeout: its clock runs on while a Lambda sandbox is frozen, and would kill the
   * worker of a kept connection on thaw.
   */
  restartsAfterTimeout?: boolean;
  /** Variables the spawned php-fpm gets on top of fpm-bridge's own environment. */
  env?: Readonly<Record<string, string>>;
}

/**
 * php-fpm's request_terminate_timeout in seconds, for the php-fpm fpm-bridge spawns. A worker's clock starts
 * when it begins to wait on a kept connection, so the next request there has already used up to
 * `keepConnTimeout` of it: php-fpm kills a script from 1 s after fpm-bridge gave up on it (504) on, never
 * before.
 */
function requestTerminateTimeout(config: Config): number {
  return config.timeout > 0 ? Math.ceil((config.timeout + config.keepConnTimeout) / 1000) + 1 : 0;
}

function poolOptions(config: Config, maxConns: number, findLimit: boolean): Partial<PoolOptions> {
  return {
    maxConns,
    findLimit,
    keepConnTimeout: config.keepConnTimeout,
    keepConn: config.keepConn,
    mpxsConns: config.mpxsConns,
    maxReqs: config.maxReqs,
    getValues: config.getValues,
    connectTimeout: config.connectTimeout,
    queueLimit: config.queueLimit,
    queueTimeout: config.queueTimeout,
  };
}

/**
 * Starts the backend the config asks for. With `fpm: spawn`, php-fpm is located, started with `workers`
 * static workers and supervised; the pool opens exactly `workers` connections, because fpm-bridge wrote
 * the pool config and knows that number (php-fpm does not report it).
 */
export async function startBackend(
  config: Config,
  log: Logger,
  options: BackendOptions = {},
): Promise<Backend> {
  if (config.fpm === 'spawn') {
    const supervisor = new PhpFpmSupervisor({
      binary: locatePhpFpm(config.phpFpmBinary || undefined),
      workers: config.workers,
      // php-fpm kills a script that fpm-bridge gave up on (504), so that its worker comes back.
      requestTerminateTimeout: options.restartsAfterTimeout ? 0 : requestTerminateTimeout(config),
      scriptExtensions: config.scriptExtensions,
      phpIniDirs: config.phpIni,
      startTimeout: config.startTimeout,
      runDir: options.runDir,
      env: options.env,
      onLog: (line) => logFpmLine(log, line),
      onExit: (code, signal) => log.error({ code, signal }, 'php-fpm exited; restarting it'),
    });
    try {
      await supervisor.start();
    } catch (err) {
      await supervisor.stop();
      throw err;
    }
    const pool = new Pool(
      { kind: 'unix', path: supervisor.socket },
      poolOptions(config, config.workers, false),
    );
    // The supervisor knows first-hand whether its php-fpm runs: no probe needed.
    const status: BackendStatus = {
      address: `unix:${supervisor.socket}`,
      pool,
      get up() {
        return supervisor.running;
      },
    };
    return {
      dispatcher: pool,
      pools: [pool],
      supervisor,
      backends: [status],
      healthy: () => supervisor.running,
      saturated: () => pool.queued > 0,
      describe: () =>
        `${supervisor.binary}, pid ${supervisor.pid ?? '-'}, ${config.workers} workers, unix:${supervisor.socket}`,
      async close() {
        await pool.close();
        await supervisor.stop();
      },
    };
  }
  const addresses: FcgiAddress[] = config.fpm.map((a) => parseAddress(a));
  // Their pool size is unknown: a maxConns above it must not leave connections in php-fpm's backlog.
  const pools = addresses.map((a) => new Pool(a, poolOptions(config, config.maxConns, true)));
  // Even one address goes through the balancer: it keeps that address's health for the health endpoint.
  const balancer = new Balancer(
    pools,
    {
      failures: config.healthFailures,
      coolDown: config.healthCoolDown,
      interval: config.healthInterval,
      // A probe is a connect and one small record each way: the connect limit bounds it, and the interval.
      probeTimeout: Math.min(config.connectTimeout || 2000, config.healthInterval || 2000),
    },
    log,
  );
  balancer.start();
  return {
    dispatcher: balancer,
    pools,
    supervisor: null,
    backends: balancer.health,
    healthy: () => balancer.health.some((h) => h.up),
    saturated: () => pools.every((p) => p.queued > 0),
    describe: () => addresses.map(formatAddress).join(', '),
    async close() {
      balancer.close();
      await Promise.all(pools.map((p) => p.close()));
    },
  };
}

const LEVEL = /^\[[^\]]+\] (NOTICE|WARNING|ERROR|ALERT|DEBUG): (.*)$/;

/** php-fpm's own lines carry a date and level; worker output (decorate_workers_output = no) does not. */
function logFpmLine(log: Logger, line: string): void {
  // PHP's own log messages also arrive as FastCGI STDERR with the request they belong to (logged with its
  // id); the worker's copy relayed by the master is the duplicate, kept for --debug.
  if (line.startsWith('NOTICE: PHP message: ')) {
    log.debug({ source: 'php' }, line.slice(8));
    return;
  }
  const m = LEVEL.exec(line);
  if (m === null) {
    log.warn({ source: 'php' }, line);
    return;
  }
  const [, level, text] = m;
  if (level === 'NOTICE' || level === 'DEBUG') log.debug({ source: 'php-fpm' }, text);
  else if (level === 'WARNING') log.warn({ source: 'php-fpm' }, text);
  else log.error({ source: 'php-fpm' }, text);
}
