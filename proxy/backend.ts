import { Balancer } from './balancer.ts';
import type { Config } from './config.ts';
import { type FcgiAddress, formatAddress, parseAddress } from './fastcgi/address.ts';
import { Pool, type PoolOptions } from './fastcgi/pool.ts';
import { locatePhpFpm } from './fpm/locate.ts';
import { PhpFpmSupervisor } from './fpm/supervisor.ts';
import type { Logger } from './log.ts';
import type { Dispatcher } from './upstream.ts';

/** The php-fpm side of the bridge: one spawned and supervised php-fpm, or external addresses. */
export interface Backend {
  dispatcher: Dispatcher;
  pools: readonly Pool[];
  /** The spawned php-fpm, or null for external addresses. */
  supervisor: PhpFpmSupervisor | null;
  /** Where requests go, for messages: `unix:/...` addresses. */
  describe(): string;
  close(): Promise<void>;
}

function poolOptions(config: Config, maxConns: number): Partial<PoolOptions> {
  return {
    maxConns,
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
export async function startBackend(config: Config, log: Logger, runDir?: string): Promise<Backend> {
  if (config.fpm === 'spawn') {
    const supervisor = new PhpFpmSupervisor({
      binary: locatePhpFpm(config.phpFpmBinary || undefined),
      workers: config.workers,
      // php-fpm kills a worker one second after we gave up on it (504), so the worker comes back.
      requestTerminateTimeout: config.timeout > 0 ? Math.ceil(config.timeout / 1000) + 1 : 0,
      scriptExtensions: config.scriptExtensions,
      phpIniDirs: config.phpIni,
      startTimeout: config.startTimeout,
      runDir,
      onLog: (line) => logFpmLine(log, line),
      onExit: (code, signal) => log.error({ code, signal }, 'php-fpm exited; restarting it'),
    });
    try {
      await supervisor.start();
    } catch (err) {
      await supervisor.stop();
      throw err;
    }
    const pool = new Pool({ kind: 'unix', path: supervisor.socket }, poolOptions(config, config.workers));
    return {
      dispatcher: pool,
      pools: [pool],
      supervisor,
      describe: () =>
        `php-fpm ${supervisor.pid ?? ''} with ${config.workers} workers on unix:${supervisor.socket}`,
      async close() {
        await pool.close();
        await supervisor.stop();
      },
    };
  }
  const addresses: FcgiAddress[] = config.fpm.map((a) => parseAddress(a));
  const pools = addresses.map((a) => new Pool(a, poolOptions(config, config.maxConns)));
  return {
    dispatcher: pools.length === 1 ? pools[0]! : new Balancer(pools),
    pools,
    supervisor: null,
    describe: () => addresses.map(formatAddress).join(', '),
    async close() {
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
