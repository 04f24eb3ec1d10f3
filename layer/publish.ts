import { readFileSync, statSync } from 'node:fs';
import {
  AddLayerVersionPermissionCommand,
  type Architecture,
  type LambdaClient,
  PublishLayerVersionCommand,
  type Runtime,
} from '@aws-sdk/client-lambda';
import { ConfigError } from '../proxy/errors.ts';

/**
 * The largest zip PublishLayerVersion takes inline: 50 MiB. AWS words it as "Request must be smaller than
 * 69905067 bytes", which is 50 MiB once base64-encoded; past it the zip has to come from S3.
 */
export const DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024;

/** Where the layer's bytes come from: the zip itself, or an object already uploaded to S3. */
export type LayerContent = { zipFile: Uint8Array } | { s3Bucket: string; s3Key: string };

export interface PublishLayerOptions {
  /** Layer name (or ARN); each publish adds a version to it. */
  name: string;
  content: LayerContent;
  /** CompatibleRuntimes, e.g. nodejs22.x: the runtimes the console and `sam` offer the layer for. */
  runtimes: readonly Runtime[];
  /** CompatibleArchitectures: the one the binaries were built for. */
  architectures: readonly Architecture[];
  description?: string;
  /** LicenseInfo: an SPDX identifier or a URL, up to 512 characters. */
  license?: string;
}

export interface PublishedLayer {
  /** `arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION`, what a function's `layers:` lists. */
  arn: string;
  version: number;
}

/**
 * Reads a built layer zip for direct upload, refusing what AWS would refuse after the upload: a file that is
 * no zip, or one over {@link DIRECT_UPLOAD_LIMIT}.
 */
export function readLayerZip(path: string): Uint8Array {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (err) {
    throw new ConfigError(
      `cannot read the layer zip ${path} (${(err as NodeJS.ErrnoException).code}) — build it with "fpm-bridge layer build" or name it with --zip`,
      { cause: err },
    );
  }
  // Checked before reading: no point holding a zip in memory that AWS would refuse.
  if (size > DIRECT_UPLOAD_LIMIT) {
    throw new ConfigError(
      `${path} is ${size} bytes, over the ${DIRECT_UPLOAD_LIMIT} (50 MiB) that PublishLayerVersion takes directly — upload it to S3 (aws s3 cp ${path} s3://BUCKET/KEY) and pass --s3-bucket BUCKET --s3-key KEY`,
    );
  }
  const bytes = readFileSync(path);
  // Every zip with at least one entry starts with a local file header (APPNOTE.TXT 4.3.7): "PK\3\4".
  if (bytes.length < 4 || bytes.readUInt32LE(0) !== 0x04034b50) {
    throw new ConfigError(
      `${path} is not a zip file — pass the layer.zip that "fpm-bridge layer build" wrote`,
    );
  }
  return bytes;
}

/**
 * Publishes a new version of a layer (PublishLayerVersion). SDK errors are left as they are: the CLI turns
 * them into one line (cli/aws.ts).
 *
 * @example
 *   const { arn } = await publishLayer(client, {
 *     name: 'fpm-bridge-php-82', content: { zipFile: readLayerZip('layer.zip') },
 *     runtimes: ['nodejs22.x'], architectures: ['x86_64'],
 *   })
 */
export async function publishLayer(
  client: LambdaClient,
  options: PublishLayerOptions,
): Promise<PublishedLayer> {
  const { content } = options;
  const published = await client.send(
    new PublishLayerVersionCommand({
      LayerName: options.name,
      Content:
        'zipFile' in content
          ? { ZipFile: content.zipFile }
          : { S3Bucket: content.s3Bucket, S3Key: content.s3Key },
      CompatibleRuntimes: [...options.runtimes],
      CompatibleArchitectures: [...options.architectures],
      Description: options.description,
      LicenseInfo: options.license,
    }),
  );
  const arn = published.LayerVersionArn;
  const version = published.Version;
  if (arn === undefined || version === undefined) {
    throw new Error('PublishLayerVersion answered without LayerVersionArn or Version');
  }
  return { arn, version };
}

/** Lets every AWS account use one version of a layer (AddLayerVersionPermission, principal `*`). */
export async function makeLayerPublic(client: LambdaClient, name: string, version: number): Promise<void> {
  await client.send(
    new AddLayerVersionPermissionCommand({
      LayerName: name,
      VersionNumber: version,
      // A statement belongs to one version, and each publish makes a new version: the id never collides.
      StatementId: 'fpm-bridge-public',
      Action: 'lambda:GetLayerVersion',
      Principal: '*',
    }),
  );
}
