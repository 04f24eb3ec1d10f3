import { Pool, type PoolOptions } from '../../proxy/fastcgi/pool.ts';
import { locatePhpFpm } from '../../proxy/fpm/locate.ts';
import { PhpFpmSupervisor } from '../../proxy/fpm/supervisor.ts';

export interface TestFpm {
  supervisor: PhpFpmSupervisor;
  pool: Pool;
  socket: string;
  /** php-fpm's log lines (master notices and worker stderr), for assertions. */
  log: string[];
  stop(): Promise<void>;
}

/**
 * The php-fpm the tests run: `FPM_BRIDGE_PHP_FPM` (scripts/test.mjs sets the host's; test/php-8.4/ the layer's),
 * else `""`, for the one `serve` would find. Read when called: test/php-8.4/ sets it before importing suites.
 */
export function phpFpmUnderTest(): string {
  return process.env.FPM_BRIDGE_PHP_FPM ?? '';
}

/** A real php-fpm ({@link phpFpmUnderTest}) on a private Unix socket, with a pool sized to its workers. */
export async function startFpm(
  options: {
    workers?: number;
    requestTerminateTimeout?: number;
    pool?: Partial<PoolOptions>;
    /** Where the supervisor makes its private directory (default: $TMPDIR). */
    runDir?: string;
  } = {},
): Promise<TestFpm> {
  const workers = options.workers ?? 2;
  const log: string[] = [];
  const supervisor = new PhpFpmSupervisor({
    binary: locatePhpFpm(phpFpmUnderTest()),
    workers,
    requestTerminateTimeout: options.requestTerminateTimeout ?? 0,
    scriptExtensions: ['.php'],
    phpIniDirs: [],
    startTimeout: 10_000,
    runDir: options.runDir,
    onLog: (line) => log.push(line),
  });
  await supervisor.start();
  const pool = new Pool({ kind: 'unix', path: supervisor.socket }, { maxConns: workers, ...options.pool });
  return {
    supervisor,
    pool,
    socket: supervisor.socket,
    log,
    async stop() {
      pool.destroy();
      await supervisor.stop();
    },
  };
}
