import { type ParseArgsConfig, parseArgs } from 'node:util';
import { UsageError } from '../proxy/errors.ts';

/** parseArgs for one command: unknown or malformed options are a {@link UsageError} (exit 2) naming the help. */
export function parseCommand<T extends ParseArgsConfig['options']>(
  command: string,
  args: string[],
  options: T,
) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message} — run "fpm-bridge ${command} --help"`);
  }
}
