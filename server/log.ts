import { type DestinationStream, type Logger as PinoLogger, pino } from 'pino';

/**
 * The standalone server's logger: pino, one JSON line per entry (`level`, `time`, the entry's fields,
 * `msg`) — the same shape as the Lambda's {@link createJsonLogger}, so one log pipeline reads both. It
 * satisfies the core's `Logger`. No `pid`/`hostname`: a container's log driver adds where a line came from.
 *
 * @example
 *   const log = createPinoLogger('info', pino.destination(2)) // stderr
 *   log.info({ requestId: '1' }, 'hello')
 */
export function createPinoLogger(
  level: 'debug' | 'info',
  destination: DestinationStream = pino.destination(1),
): PinoLogger {
  return pino({ level, base: undefined }, destination);
}

/** stderr (2) or stdout (1), written synchronously: nothing is lost when the process exits right after a line,
 * and a line is out before whatever follows it (the access log's stdout, the default, is written
 * asynchronously, as pino does, and flushed on exit). */
export function syncDestination(fd: 1 | 2): DestinationStream {
  return pino.destination({ dest: fd, sync: true });
}
