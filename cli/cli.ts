import { UsageError } from '../proxy/errors.ts';
import { invoke } from './invoke.ts';
import { layer } from './layer.ts';
import { serve } from './serve.ts';

const USAGE = `Usage: fpm-bridge <command> [options]

Commands:
  serve [DOCROOT]   serve a PHP application through php-fpm over HTTP
  layer build       build the Lambda layer (php-fpm, php, extensions) from Debian's packages
  layer publish     publish a built layer to AWS Lambda
  invoke [EVENT]    run a Lambda event through the handler here, on AWS or on serverless-offline

Run "fpm-bridge <command> --help" for a command's options.
`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'layer':
      return layer(rest);
    case 'invoke':
      return invoke(rest);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return;
    default:
      throw new UsageError(`unknown command "${command}" — run "fpm-bridge --help" for the list`);
  }
}

const argv = process.argv.slice(2);
main(argv).catch((err: unknown) => {
  const debug = argv.includes('--debug');
  // Stacks, not the object: util.inspect would print the minified bundle's class names.
  if (debug && err instanceof Error) {
    for (let e: unknown = err, first = true; e instanceof Error; e = e.cause, first = false) {
      console.error(first ? e.stack : `Caused by: ${e.stack}`);
    }
  } else if (!(err instanceof Error)) console.error(err);
  else console.error(`fpm-bridge: ${err.message}`);
  process.exit(err instanceof UsageError ? 2 : 1);
});
