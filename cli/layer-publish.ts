import { createHash } from 'node:crypto';
import type { Architecture, Runtime } from '@aws-sdk/client-lambda';
import type { LambdaArch } from '../layer/debian.ts';
import type { LayerContent, PublishedLayer } from '../layer/publish.ts';
import { UsageError } from '../proxy/errors.ts';
import { parseCommand } from './args.ts';
import { DEFAULT_LAYER_DIR } from './layer-build.ts';

/** What `fpm-bridge layer build` writes when given no --out. */
const DEFAULT_ZIP = `${DEFAULT_LAYER_DIR}/layer.zip`;

const PUBLISH_USAGE = `Usage: fpm-bridge layer publish [options]

Publishes a layer zip built by "fpm-bridge layer build" as a new version of a Lambda layer
(PublishLayerVersion) and prints its ARN, for the "layers:" of your functions.

Options:
  --zip FILE            the layer zip (default ${DEFAULT_ZIP}); at most 50 MiB, else use --s3-bucket/--s3-key
  --s3-bucket BUCKET    take the zip from S3 instead (upload it first: aws s3 cp layer.zip s3://BUCKET/KEY)
  --s3-key KEY          the zip's key in --s3-bucket
  --name NAME           layer name (default fpm-bridge-php-84, -82 for PHP 8.2, by the zip's
                        share/fpm-bridge/layer.json; -arm64 appended for an arm64 layer)
  --region REGION       AWS region (default: AWS_REGION, AWS_DEFAULT_REGION or your AWS profile's)
  --arch ARCH           x86_64 or arm64: what the layer was built for (default: what the zip's
                        share/fpm-bridge/layer.json says, else x86_64)
  --runtimes LIST       compatible runtimes, comma-separated (default nodejs22.x,nodejs24.x)
  --description TEXT    layer version description (default: PHP version, architecture and the zip's
                        sha256, by which "serverless deploy" finds this version again)
  --license TEXT        license info: an SPDX identifier or a URL
  --public              let every AWS account use this layer version
  --debug               show stack traces
  -h, --help            show this help

Credentials come from the usual AWS places (AWS_PROFILE, AWS_ACCESS_KEY_ID, ~/.aws, SSO).
`;

/** `fpm-bridge layer publish`: prints the new layer version's ARN on stdout, and nothing else there. */
export async function layerPublish(
  argv: string[],
  stdout: NodeJS.WritableStream = process.stdout,
): Promise<void> {
  const parsed = parseCommand(
    'layer publish',
    PUBLISH_USAGE,
    argv,
    {
      zip: { type: 'string' },
      's3-bucket': { type: 'string' },
      's3-key': { type: 'string' },
      name: { type: 'string' },
      region: { type: 'string' },
      arch: { type: 'string' },
      runtimes: { type: 'string' },
      description: { type: 'string' },
      license: { type: 'string' },
      public: { type: 'boolean', default: false },
    },
    stdout,
  );
  if (parsed === null) return;
  const { values, positionals } = parsed;
  if (positionals.length > 0) {
    throw new UsageError(`layer publish takes no arguments, got "${positionals.join(' ')}" — use --zip FILE`);
  }
  // Loaded here rather than at the top (and kept lazy in the dist/cli.js bundle): the AWS SDK is over half
  // of the CLI's code, and the other commands should not pay for loading it.
  const [
    sdk,
    {
      contentDescription,
      LAYER_RUNTIMES,
      layerManifest,
      layerName,
      makeLayerPublic,
      publishLayer,
      readLayerZip,
    },
    { PHP_VERSIONS },
    { awsError, lambdaClient },
  ] = await Promise.all([
    import('@aws-sdk/client-lambda'),
    import('../layer/publish.ts'),
    import('../layer/build.ts'),
    import('./aws.ts'),
  ]);
  if (values.arch !== undefined && !Object.values<string>(sdk.Architecture).includes(values.arch)) {
    throw new UsageError(`invalid --arch "${values.arch}" — expected x86_64 or arm64`);
  }
  const runtimes = values.runtimes?.split(',').map((r) => r.trim()) ?? LAYER_RUNTIMES;
  for (const r of runtimes) {
    if (!Object.values<string>(sdk.Runtime).includes(r)) {
      throw new UsageError(
        `invalid runtime "${r}" in --runtimes — expected Lambda runtime ids such as nodejs22.x`,
      );
    }
  }
  const content = layerContent(values.zip, values['s3-bucket'], values['s3-key'], readLayerZip);
  // A zip from "layer build" says what it was built for: an arm64 layer labelled x86_64 would deploy and
  // then fail to exec php-fpm.
  const manifest = 'zipFile' in content ? layerManifest(content.zipFile) : null;
  const built = manifest?.arch ?? null;
  if (values.arch !== undefined && built !== null && values.arch !== built) {
    throw new UsageError(
      `--arch ${values.arch}, but the zip was built for ${built} (its share/fpm-bridge/layer.json) — drop --arch, or build for ${values.arch}`,
    );
  }
  // Checked above against the SDK's list: x86_64 or arm64.
  const arch = (values.arch ?? built ?? 'x86_64') as LambdaArch;
  const name = values.name ?? layerName(manifest?.php ?? PHP_VERSIONS[0]!, arch);
  // Content-addressed as the Serverless plugin's own publishing: a later `serverless deploy` reuses it.
  const description =
    values.description ??
    (manifest?.php !== undefined && 'zipFile' in content
      ? contentDescription(manifest.php, arch, createHash('sha256').update(content.zipFile).digest('hex'))
      : undefined);
  const client = await lambdaClient({ region: values.region }, `PublishLayerVersion "${name}"`);
  const region = await client.config.region();
  try {
    let published: PublishedLayer;
    try {
      published = await publishLayer(client, {
        name,
        content,
        runtimes: runtimes as Runtime[],
        architectures: [arch as Architecture],
        description,
        license: values.license,
      });
    } catch (err) {
      throw awsError(err, `PublishLayerVersion "${name}" in ${region}`);
    }
    // Printed first: should making it public fail, the version exists all the same.
    stdout.write(`${published.arn}\n`);
    if (values.public) {
      await makeLayerPublic(client, name, published.version).catch((err: unknown) => {
        throw awsError(err, `AddLayerVersionPermission on ${published.arn}`);
      });
    }
  } finally {
    client.destroy();
  }
}

function layerContent(
  zip: string | undefined,
  bucket: string | undefined,
  key: string | undefined,
  readLayerZip: (path: string) => Uint8Array,
): LayerContent {
  if (bucket === undefined && key === undefined) return { zipFile: readLayerZip(zip ?? DEFAULT_ZIP) };
  if (bucket === undefined || key === undefined) {
    throw new UsageError(
      '--s3-bucket and --s3-key go together: the bucket and the key of the uploaded layer zip',
    );
  }
  if (zip !== undefined) throw new UsageError('pass either --zip or --s3-bucket/--s3-key, not both');
  return { s3Bucket: bucket, s3Key: key };
}
