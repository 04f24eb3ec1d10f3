import { resolve } from 'node:path';
import { buildLayer, formatReport, PHP_VERSIONS } from '../layer/build.ts';
import type { LambdaArch } from '../layer/debian.ts';
import { DEFAULT_EXTENSIONS } from '../layer/extensions.ts';
import { UsageError } from '../proxy/errors.ts';
import { parseCommand } from './args.ts';

/** Where `layer build` writes `layer.zip` by default, and where `layer publish` looks for it. */
export const DEFAULT_LAYER_DIR = 'layer';

const BUILD_USAGE = `Usage: fpm-bridge layer build [options]

Builds a Lambda layer (layer.zip) with php-fpm, php and PHP extensions from Debian 12's packages, with
every shared library they need and Debian's dynamic loader, so that it runs on the Node.js runtimes
(Amazon Linux 2023) without their /usr or /lib. Needs apt-get, dpkg-deb, patchelf and access to
deb.debian.org; no root. Prints progress on stderr, the size report and sha256 on stdout.

Options:
  --out DIR            where layer.zip goes (default ./${DEFAULT_LAYER_DIR})
  --php VERSION        PHP version (default ${PHP_VERSIONS[0]}; Debian 12 has ${PHP_VERSIONS.join(', ')})
  --extensions LIST    comma-separated extensions (default: ${DEFAULT_EXTENSIONS.join(',')})
  --arch ARCH          x86_64 (default) or arm64: the Lambda architecture, from Debian's amd64/arm64 packages
  --cache DIR          apt lists and .deb files kept between builds (default ~/.cache/fpm-bridge/layer)
  --offline            use only the cache (no network): the same packages as the last build, the same zip
  --debug              show stack traces
  -h, --help           show this help
`;

/** `fpm-bridge layer build`: the size report and sha256 on stdout, progress on stderr. */
export async function layerBuild(
  argv: string[],
  stdout: NodeJS.WritableStream = process.stdout,
  stderr: NodeJS.WritableStream = process.stderr,
): Promise<void> {
  const parsed = parseCommand(
    'layer build',
    BUILD_USAGE,
    argv,
    {
      out: { type: 'string', default: DEFAULT_LAYER_DIR },
      php: { type: 'string', default: PHP_VERSIONS[0] },
      extensions: { type: 'string', default: DEFAULT_EXTENSIONS.join(',') },
      arch: { type: 'string', default: 'x86_64' },
      cache: { type: 'string' },
      offline: { type: 'boolean', default: false },
    },
    stdout,
  );
  if (parsed === null) return;
  const { values, positionals } = parsed;
  if (positionals.length > 0) {
    throw new UsageError(`layer build takes no arguments, got "${positionals.join(' ')}" — use --out DIR`);
  }
  if (values.arch !== 'x86_64' && values.arch !== 'arm64') {
    throw new UsageError(`invalid --arch "${values.arch}" — expected x86_64 or arm64`);
  }
  const started = Date.now();
  const report = await buildLayer({
    out: resolve(values.out),
    php: values.php,
    extensions: values.extensions.split(','),
    arch: values.arch satisfies LambdaArch,
    cacheDir: values.cache === undefined ? undefined : resolve(values.cache),
    offline: values.offline,
    onProgress: (line) => stderr.write(`${line}\n`),
  });
  stderr.write(`built in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  stdout.write(formatReport(report));
}
