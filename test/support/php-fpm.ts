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

/** A real php-fpm (Debian php8.2-fpm) on a private Unix socket, with a pool sized to its workers. */
export async function startFpm(
  options: { workers?: number; requestTerminateTimeout?: number; pool?: Partial<PoolOptions> } = {},
): Promise<TestFpm> {
  const workers = options.workers ?? 2;
  const log: string[] = [];
  const supervisor = new PhpFpmSupervisor({
    binary: locatePhpFpm(),
    workers,
    requestTerminateTimeout: options.requestTerminateTimeout ?? 0,
    scriptExtensions: ['.php'],
    phpIniDirs: [],
    startTimeout: 10_000,
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
