/**
 * The logging the core needs: a subset of pino's API, so a pino logger (the standalone server's) or a
 * plain console-backed one (Lambda, where CloudWatch takes stdout) both fit.
 */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Drops everything: for library users who pass no logger, and tests. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

const LEVELS = { debug: 20, info: 30, warn: 40, error: 50 } as const;
export type LevelName = keyof typeof LEVELS;

/**
 * One JSON line per entry on stderr (pino's shape: level, time, msg and the object's fields), for the CLI
 * and Lambda, where stderr goes to the terminal or CloudWatch. Entries below `min` cost one comparison.
 */
export function createJsonLogger(
  min: LevelName = 'info',
  write = (line: string) => process.stderr.write(line),
): Logger {
  const threshold = LEVELS[min];
  const make = (level: LevelName) => {
    const n = LEVELS[level];
    if (n < threshold) return () => {};
    return (obj: object, msg?: string) => {
      write(`${JSON.stringify({ level: n, time: Date.now(), ...obj, msg })}\n`);
    };
  };
  return { debug: make('debug'), info: make('info'), warn: make('warn'), error: make('error') };
}

/** `log` with `requestId: id()` added to the entries that carry none, whenever id() gives one. */
export function withRequestId(log: Logger, id: () => string | undefined): Logger {
  const wrap =
    (write: Logger['info']) =>
    (obj: object, msg?: string): void => {
      const requestId = id();
      write(requestId === undefined || 'requestId' in obj ? obj : { requestId, ...obj }, msg);
    };
  return { debug: wrap(log.debug), info: wrap(log.info), warn: wrap(log.warn), error: wrap(log.error) };
}
