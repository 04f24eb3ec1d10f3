import { readFileSync, statSync } from 'node:fs';
import {
  AddLayerVersionPermissionCommand,
  type Architecture,
  type LambdaClient,
  PublishLayerVersionCommand,
  paginateListLayerVersions,
  type Runtime,
} from '@aws-sdk/client-lambda';
import { ConfigError } from '../proxy/errors.ts';
import type { LambdaArch } from './debian.ts';
import { readZipEntry } from './zip.ts';

/**
 * The largest zip PublishLayerVersion takes inline: 50 MiB. AWS words it as "Request must be smaller than
 * 69905067 bytes", which is 50 MiB once base64-encoded; past it the zip has to come from S3.
 */
export const DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024;

/** The runtimes fpm-bridge's handler supports, which a layer is published for (Node 20 is past its end of life on Lambda). */
export const LAYER_RUNTIMES: readonly Runtime[] = ['nodejs22.x', 'nodejs24.x'];

/** Where a zip from "fpm-bridge layer build" says what it holds. */
const MANIFEST = 'share/fpm-bridge/layer.json';

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

/** What a layer zip's manifest says it was built for; either field is absent when it says nothing valid. */
export interface LayerManifest {
  /** PHP's version, e.g. "8.4". */
  php?: string;
  arch?: LambdaArch;
}

/**
 * Reads a built layer zip, refusing what AWS would refuse after the upload: a file that is no zip, or (for
 * direct upload, unless `inline` is false) one over {@link DIRECT_UPLOAD_LIMIT}.
 */
export function readLayerZip(path: string, { inline = true } = {}): Uint8Array {
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
  if (inline && size > DIRECT_UPLOAD_LIMIT) {
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

/** The manifest of a zip from "layer build" (share/fpm-bridge/layer.json), or null for another zip. */
export function layerManifest(zip: Uint8Array): LayerManifest | null {
  const entry = readZipEntry(zip, MANIFEST);
  if (entry === null) return null;
  let parsed: { php?: unknown; arch?: unknown };
  try {
    parsed = JSON.parse(entry.toString('utf8'));
  } catch {
    return null;
  }
  const manifest: LayerManifest = {};
  if (typeof parsed.php === 'string' && /^\d+\.\d+$/.test(parsed.php)) manifest.php = parsed.php;
  if (parsed.arch === 'x86_64' || parsed.arch === 'arm64') manifest.arch = parsed.arch;
  return manifest;
}

/**
 * The name fpm-bridge's layers go by: one per PHP version and architecture, each publish a version of it.
 *
 * @example
 *   layerName('8.4', 'arm64') // 'fpm-bridge-php-84-arm64'
 */
export function layerName(php: string, arch: LambdaArch): string {
  return `fpm-bridge-php-${php.replace('.', '')}${arch === 'arm64' ? '-arm64' : ''}`;
}

/**
 * The description that makes a layer version content-addressed: ListLayerVersions returns descriptions but
 * not CodeSha256, so the zip's sha256 is written where a later deploy can find it.
 */
export function contentDescription(php: string, arch: LambdaArch, sha256: string): string {
  return `fpm-bridge PHP ${php} ${arch} sha256:${sha256}`;
}

/**
 * The newest version of layer `name` whose description carries this sha256 (see {@link contentDescription}),
 * or null when none does (or the layer does not exist yet). SDK errors are left as they are.
 */
export async function findLayerVersion(
  client: LambdaClient,
  name: string,
  sha256: string,
): Promise<PublishedLayer | null> {
  const tag = `sha256:${sha256}`;
  let found: PublishedLayer | null = null;
  try {
    for await (const page of paginateListLayerVersions({ client }, { LayerName: name })) {
      for (const v of page.LayerVersions ?? []) {
        const words = v.Description?.split(' ') ?? [];
        if (!words.includes(tag) || v.LayerVersionArn === undefined || v.Version === undefined) continue;
        if (found === null || v.Version > found.version)
          found = { arn: v.LayerVersionArn, version: v.Version };
      }
    }
  } catch (err) {
    // A layer never published is an empty list on AWS, and a not-found error on some emulators.
    if ((err as Error).name === 'ResourceNotFoundException') return null;
    throw err;
  }
  return found;
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
