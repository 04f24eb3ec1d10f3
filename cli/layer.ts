import { UsageError } from '../proxy/errors.ts';
import { layerBuild } from './layer-build.ts';
import { layerPublish } from './layer-publish.ts';

const LAYER_USAGE = `Usage: fpm-bridge layer <build|publish> [options]

  build     assemble a Lambda layer with php-fpm, php and extensions from Debian's packages
  publish   upload a built layer to AWS Lambda (PublishLayerVersion)

Run "fpm-bridge layer <command> --help" for its options.
`;

export async function layer(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'build':
      return layerBuild(rest);
    case 'publish':
      return layerPublish(rest);
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(LAYER_USAGE);
      return;
    default:
      throw new UsageError(`unknown layer command "${sub}" — run "fpm-bridge layer --help"`);
  }
}
