import { type ParseArgsConfig, parseArgs } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

import { UsageError } from '../proxy/errors.ts';

/** The options every command takes; `--debug` is read by cli.ts (stack traces) and by commands that log. */
const COMMON = {
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

/**
 * parseArgs for one command, with `--debug` and `-h/--help` added: unknown or malformed options are a
 * {@link UsageError} (exit 2) naming the help. With `--help`, writes `usage` to `out` and returns null: the
 * command has nothing more to do.
 */
export function parseCommand<T extends Options>(
  command: string,
  usage: string,
  args: string[],
  options: T,
  out: NodeJS.WritableStream = process.stdout,
) {
  const parse = () =>
    parseArgs({ args, options: { ...options, ...COMMON }, allowPositionals: true, strict: true });
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse();
  } catch (err) {
    throw new UsageError(`${(err as Error).message} — run "fpm-bridge ${command} --help"`);
  }
  // The values' type is still generic in T here; `help` is COMMON's.
  if ((parsed.values as { help?: boolean }).help) {
    out.write(usage);
    return null;
  }
  return parsed;
}
