/**
 * The PHP layer `serverless deploy` provides itself when serverless.yml names none: a layer zip (given, or
 * built by the plugin) published once per account, region, PHP version and architecture. Versions are
 * content-addressed: the zip's sha256 is in the version's description, and a deploy whose zip has a
 * published twin reuses it, so a redeploy publishes nothing. The framework side (credentials, the
 * deployment bucket, progress) is the plugin's; this module only talks to Lambda and, past 50 MiB, to S3.
 */
import { createHash } from 'node:crypto';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import { awsError } from '../cli/aws.ts';
import type { LambdaArch } from '../layer/debian.ts';
import {
  contentDescription,
  DIRECT_UPLOAD_LIMIT,
  findLayerVersion,
  LAYER_RUNTIMES,
  type LayerContent,
  layerManifest,
  layerName,
  publishLayer,
  readLayerZip,
} from '../layer/publish.ts';
import { ConfigError } from '../proxy/errors.ts';

/** A zip staged in S3 for PublishLayerVersion, and how to remove it once Lambda has its copy. */
export interface StagedZip {
  s3Bucket: string;
  s3Key: string;
  remove(): Promise<void>;
}

/** The account and region the service deploys to, as the framework resolved them. */
export interface LayerAws {
  lambda: LambdaClient;
  region: string;
  /** Uploads a zip too large to send inline to a bucket in `region`; `key` is unique to its contents. */
  stage(key: string, zip: Uint8Array): Promise<StagedZip>;
}

export interface ProvidedLayer {
  arn: string;
  /** False when a version with the same sha256 was there already. */
  published: boolean;
}

/**
 * The layer version holding `zipPath` (a zip from "fpm-bridge layer build", for `arch`): the one already
 * published with the same sha256, else a new version of `fpm-bridge-php-<version>[-arm64]` (only when
 * `publish`; else null). Zips over 50 MiB go through {@link LayerAws.stage}, removed again after publishing.
 *
 * @example
 *   const { arn } = (await provideLayer('layer/layer.zip', 'x86_64', aws, console.log, true))!
 */
export async function provideLayer(
  zipPath: string,
  arch: LambdaArch,
  aws: LayerAws,
  log: (line: string) => void,
  publish: boolean,
): Promise<ProvidedLayer | null> {
  const zip = readLayerZip(zipPath, { inline: false });
  const manifest = layerManifest(zip);
  if (manifest?.php === undefined || manifest.arch === undefined) {
    throw new ConfigError(
      `${zipPath} has no valid share/fpm-bridge/layer.json — give custom.fpmBridge.layerZip a zip that "fpm-bridge layer build" wrote`,
    );
  }
  if (manifest.arch !== arch) {
    throw new ConfigError(
      `${zipPath} holds a PHP layer for ${manifest.arch}, but the functions run on ${arch} — build one with "fpm-bridge layer build --arch ${arch}", or set the functions' architecture to ${manifest.arch}`,
    );
  }
  const sha256 = createHash('sha256').update(zip).digest('hex');
  const name = layerName(manifest.php, arch);
  const where = `"${name}" in ${aws.region}`;
  const found = await findLayerVersion(aws.lambda, name, sha256).catch((err: unknown) => {
    throw awsError(err, `ListLayerVersions ${where}`);
  });
  if (found !== null) {
    log(`PHP layer ${name}:${found.version} already holds this zip (sha256 ${sha256.slice(0, 12)}…)`);
    return { arn: found.arn, published: false };
  }
  if (!publish) return null;
  let staged: StagedZip | null = null;
  let content: LayerContent = { zipFile: zip };
  if (zip.length > DIRECT_UPLOAD_LIMIT) {
    log(`uploading the ${mib(zip.length)} layer zip to S3 (PublishLayerVersion takes at most 50 MiB inline)`);
    staged = await aws.stage(`fpm-bridge-layers/${sha256}.zip`, zip);
    content = { s3Bucket: staged.s3Bucket, s3Key: staged.s3Key };
  } else {
    log(`publishing the ${mib(zip.length)} PHP ${manifest.php} layer for ${arch} as ${name}`);
  }
  try {
    const published = await publishLayer(aws.lambda, {
      name,
      content,
      runtimes: LAYER_RUNTIMES,
      architectures: [arch],
      description: contentDescription(manifest.php, arch, sha256),
    }).catch((err: unknown) => {
      throw awsError(err, `PublishLayerVersion ${where}`);
    });
    log(`published ${published.arn}`);
    return { arn: published.arn, published: true };
  } finally {
    // Lambda keeps its own copy: the staged zip would only be left behind in the bucket.
    await staged?.remove();
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}
