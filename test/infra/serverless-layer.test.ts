/**
 * The PHP layer `serverless deploy` provides itself (infra/serverless-layer.ts), against a mocked Lambda
 * client and stand-in zips: a manifest and a file, no PHP (test/e2e/deploy.test.ts deploys a real one).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import {
  LambdaClient,
  ListLayerVersionsCommand,
  PublishLayerVersionCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { type LayerAws, provideLayer } from '../../infra/serverless-layer.ts';
import { zip } from '../../layer/zip.ts';

const ACCOUNT_LAYER = 'arn:aws:lambda:eu-west-1:123456789012:layer';

/** A zip shaped like "layer build"'s: its manifest and `extra` bytes in bin/php-fpm. */
function standIn(manifest: object | null, extra = Buffer.from('#!/bin/sh\n')): Buffer {
  const entries = [{ name: 'bin/php-fpm', data: extra, mode: 0o755 }];
  if (manifest !== null) {
    const data = Buffer.from(JSON.stringify(manifest));
    entries.push({ name: 'share/fpm-bridge/layer.json', data, mode: 0o644 });
  }
  return zip(entries);
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('the layer serverless deploy provides', () => {
  const lambda = mockClient(LambdaClient);
  let dir = '';
  let staged: { key: string; bytes: number; removed: boolean }[] = [];
  let lines: string[] = [];

  const aws: LayerAws = {
    lambda: new LambdaClient({ region: 'eu-west-1' }),
    region: 'eu-west-1',
    async stage(key, zipBytes) {
      const entry = { key, bytes: zipBytes.length, removed: false };
      staged.push(entry);
      return {
        s3Bucket: 'deployment-bucket',
        s3Key: key,
        remove: async () => {
          entry.removed = true;
        },
      };
    },
  };

  function write(name: string, bytes: Buffer): string {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return path;
  }

  const provide = (path: string, arch: 'x86_64' | 'arm64' = 'x86_64', publish = true) =>
    provideLayer(path, arch, aws, (line) => lines.push(line), publish);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-provide-'));
  });
  afterEach(() => {
    lambda.reset();
    staged = [];
    lines = [];
  });
  after(() => {
    lambda.restore();
    rmSync(dir, { recursive: true, force: true });
  });

  it('publishes a zip no version holds yet, named for its PHP version and architecture, its sha256 in the description', async () => {
    const bytes = standIn({ php: '8.2', arch: 'x86_64' });
    const hash = sha256(bytes);
    lambda.on(ListLayerVersionsCommand).resolves({
      LayerVersions: [
        { LayerVersionArn: `${ACCOUNT_LAYER}:fpm-bridge-php-82:1`, Version: 1, Description: 'by hand' },
        {
          LayerVersionArn: `${ACCOUNT_LAYER}:fpm-bridge-php-82:2`,
          Version: 2,
          Description: `fpm-bridge PHP 8.2 x86_64 sha256:${'0'.repeat(64)}`,
        },
      ],
    });
    lambda
      .on(PublishLayerVersionCommand)
      .resolves({ LayerVersionArn: `${ACCOUNT_LAYER}:fpm-bridge-php-82:3`, Version: 3 });
    assert.deepEqual(await provide(write('layer.zip', bytes)), {
      arn: `${ACCOUNT_LAYER}:fpm-bridge-php-82:3`,
      published: true,
    });
    assert.equal(
      lambda.commandCalls(ListLayerVersionsCommand)[0]!.args[0].input.LayerName,
      'fpm-bridge-php-82',
    );
    const input = lambda.commandCalls(PublishLayerVersionCommand)[0]!.args[0].input;
    assert.deepEqual(
      { ...input, Content: { ZipFile: Buffer.from(input.Content!.ZipFile!) } },
      {
        LayerName: 'fpm-bridge-php-82',
        Content: { ZipFile: bytes },
        CompatibleRuntimes: ['nodejs22.x', 'nodejs24.x'],
        CompatibleArchitectures: ['x86_64'],
        Description: `fpm-bridge PHP 8.2 x86_64 sha256:${hash}`,
        LicenseInfo: undefined,
      },
    );
    assert.deepEqual(staged, []);
    assert.deepEqual(lines, [
      `publishing the 0.0 MiB PHP 8.2 layer for x86_64 as fpm-bridge-php-82`,
      `published ${ACCOUNT_LAYER}:fpm-bridge-php-82:3`,
    ]);
  });

  it('reuses the newest version that holds the same zip and publishes nothing', async () => {
    const bytes = standIn({ php: '8.4', arch: 'arm64' });
    const description = `fpm-bridge PHP 8.4 arm64 sha256:${sha256(bytes)}`;
    lambda.on(ListLayerVersionsCommand).resolves({
      LayerVersions: [4, 7, 5].map((v) => ({
        LayerVersionArn: `${ACCOUNT_LAYER}:fpm-bridge-php-84-arm64:${v}`,
        Version: v,
        Description: description,
      })),
    });
    assert.deepEqual(await provide(write('arm.zip', bytes), 'arm64'), {
      arn: `${ACCOUNT_LAYER}:fpm-bridge-php-84-arm64:7`,
      published: false,
    });
    assert.equal(lambda.commandCalls(PublishLayerVersionCommand).length, 0);
    assert.equal(
      lambda.commandCalls(ListLayerVersionsCommand)[0]!.args[0].input.LayerName,
      'fpm-bridge-php-84-arm64',
    );
    assert.deepEqual(lines, [
      `PHP layer fpm-bridge-php-84-arm64:7 already holds this zip (sha256 ${sha256(bytes).slice(0, 12)}…)`,
    ]);
  });

  it('publishes when the layer does not exist yet and listing it is an error (as on some emulators)', async () => {
    lambda
      .on(ListLayerVersionsCommand)
      .rejects(new ResourceNotFoundException({ message: 'Layer not found', $metadata: {} }));
    lambda
      .on(PublishLayerVersionCommand)
      .resolves({ LayerVersionArn: `${ACCOUNT_LAYER}:fpm-bridge-php-82:1`, Version: 1 });
    const result = await provide(write('first.zip', standIn({ php: '8.2', arch: 'x86_64' })));
    assert.deepEqual(result, { arn: `${ACCOUNT_LAYER}:fpm-bridge-php-82:1`, published: true });
  });

  it('publishes nothing when only asked to find the layer (serverless package), and finds none', async () => {
    lambda.on(ListLayerVersionsCommand).resolves({ LayerVersions: [] });
    assert.equal(
      await provide(write('pkg.zip', standIn({ php: '8.2', arch: 'x86_64' })), 'x86_64', false),
      null,
    );
    assert.equal(lambda.commandCalls(PublishLayerVersionCommand).length, 0);
  });

  it('sends a zip over 50 MiB through S3 and removes it from the bucket once published', async () => {
    // Random bytes do not compress: the zip stays over the limit.
    const bytes = standIn({ php: '8.2', arch: 'x86_64' }, randomBytes(51 * 1024 * 1024));
    const hash = sha256(bytes);
    lambda.on(ListLayerVersionsCommand).resolves({ LayerVersions: [] });
    lambda
      .on(PublishLayerVersionCommand)
      .resolves({ LayerVersionArn: `${ACCOUNT_LAYER}:fpm-bridge-php-82:1`, Version: 1 });
    await provide(write('big.zip', bytes));
    assert.deepEqual(staged, [{ key: `fpm-bridge-layers/${hash}.zip`, bytes: bytes.length, removed: true }]);
    assert.deepEqual(lambda.commandCalls(PublishLayerVersionCommand)[0]!.args[0].input.Content, {
      S3Bucket: 'deployment-bucket',
      S3Key: `fpm-bridge-layers/${hash}.zip`,
    });
  });

  it('removes the staged zip when publishing fails', async () => {
    const bytes = standIn({ php: '8.2', arch: 'x86_64' }, randomBytes(51 * 1024 * 1024));
    lambda.on(ListLayerVersionsCommand).resolves({ LayerVersions: [] });
    lambda.on(PublishLayerVersionCommand).rejects(new Error('boom'));
    await assert.rejects(provide(write('big2.zip', bytes)), { message: 'boom' });
    assert.equal(staged[0]?.removed, true);
  });

  it('refuses a zip that is no layer build, or one for another architecture, saying what to do', async () => {
    const none = write('other.zip', standIn(null));
    await assert.rejects(provide(none), {
      code: 'FPM_BRIDGE_ERR_CONFIG',
      message: `${none} has no valid share/fpm-bridge/layer.json — give custom.fpmBridge.layerZip a zip that "fpm-bridge layer build" wrote`,
    });
    const arm = write('arm64.zip', standIn({ php: '8.2', arch: 'arm64' }));
    await assert.rejects(provide(arm, 'x86_64'), {
      code: 'FPM_BRIDGE_ERR_CONFIG',
      message: `${arm} holds a PHP layer for arm64, but the functions run on x86_64 — build one with "fpm-bridge layer build --arch x86_64", or set the functions' architecture to arm64`,
    });
    assert.equal(lambda.calls().length, 0);
  });
});
