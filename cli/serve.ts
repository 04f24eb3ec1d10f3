import { resolve } from 'node:path';
import { startBackend } from '../proxy/backend.ts';
import { Bridge, SERVER_SOFTWARE } from '../proxy/bridge.ts';
import { loadConfig } from '../proxy/config.ts';
import { ConfigError, UsageError } from '../proxy/errors.ts';
import { phpVersion } from '../proxy/fpm/locate.ts';
import { createPinoLogger, syncDestination } from '../server/log.ts';
import { createFrontServer, listenFront } from '../server/server.ts';
import { parseCommand } from './args.ts';

const SERVE_USAGE = `Usage: fpm-bridge serve [DOCROOT] [options]

Serves the PHP application in DOCROOT (default: ./public if it exists, else .) over HTTP, running PHP on a
php-fpm it starts and supervises (or on php-fpm servers you name).

Options:
  --listen HOST:PORT   address to listen on (default 127.0.0.1:8080; env FPM_BRIDGE_LISTEN)
  --fpm ADDRESS        "spawn" (default), unix:/path.sock or tcp://host:port; repeat to balance over several
  --workers N          php-fpm workers when spawning (default: CPU count, at least 2)
  --config FILE        settings file (default: fpm-bridge.yml/.json in the working directory)
  --debug              show debug logs and stack traces
  -h, --help           show this help
`;

export async function serve(argv: string[]): Promise<void> {
  const parsed = parseCommand('serve', SERVE_USAGE, argv, {
    listen: { type: 'string' },
    fpm: { type: 'string', multiple: true },
    workers: { type: 'string' },
    config: { type: 'string' },
  });
  if (parsed === null) return;
  const { values, positionals } = parsed;
  if (positionals.length > 1)
    throw new UsageError(`serve takes one DOCROOT, got ${positionals.length}: ${positionals.join(' ')}`);
  const log = createPinoLogger(values.debug ? 'debug' : 'info', syncDestination(2));
  const { config } = await loadConfig({
    mode: 'serve',
    file: values.config,
    overrides: {
      docroot: positionals[0] === undefined ? undefined : resolve(positionals[0]),
      listen: values.listen,
      fpm: values.fpm,
      workers: values.workers,
    },
  });
  if (!/^(?:(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):)?\d{1,5}$/.test(config.listen)) {
    throw new ConfigError(
      `invalid "listen" "${config.listen}" — expected HOST:PORT or PORT, e.g. 127.0.0.1:8080`,
    );
  }
  const backend = await startBackend(config, log);
  // Asked before listening, so that the startup line is out before any access log line can be.
  const php = backend.supervisor === null ? null : await phpVersion(backend.supervisor.binary);
  const bridge = new Bridge(config, backend, log);
  const server = createFrontServer(bridge);
  let url: string;
  try {
    url = await listenFront(server, config);
  } catch (err) {
    await backend.close();
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`cannot listen on ${config.listen}: ${(err as Error).message}`, { cause: err });
  }
  // stdout carries JSON lines only (a container's log driver reads them), this one first; its message says
  // the same for a person at a terminal.
  const fpm = backend.describe();
  createPinoLogger('info', syncDestination(1)).info(
    { url, docroot: config.docroot, php, fpm },
    `${SERVER_SOFTWARE} serving ${config.docroot} on ${url} (${php === null ? '' : `PHP ${php}: `}${fpm})`,
  );
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: finishing requests in flight');
    server.close();
    // In-flight requests get this long to finish before their connections are cut.
    const deadline = setTimeout(() => server.closeAllConnections(), 10_000);
    deadline.unref();
    await new Promise<void>((r) => server.once('close', () => r()));
    await backend.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
