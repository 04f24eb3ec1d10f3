import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, afterEach, before, describe, it } from 'node:test';
import {
  AddLayerVersionPermissionCommand,
  LambdaClient,
  LambdaServiceException,
  PublishLayerVersionCommand,
} from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { layerPublish } from '../../cli/layer-publish.ts';
import { DIRECT_UPLOAD_LIMIT } from '../../layer/publish.ts';
import { zip } from '../../layer/zip.ts';
import { AwsError, ConfigError, UsageError } from '../../proxy/errors.ts';
import { noAwsEnv, recordRequests } from '../support/aws.ts';
import { runCli } from '../support/cli.ts';

const ARN = 'arn:aws:lambda:eu-west-1:123456789012:layer:fpm-bridge-php-84:3';
const ACTION = 'PublishLayerVersion "fpm-bridge-php-84" in eu-west-1';

/** Runs `fpm-bridge layer publish ARGS` in this process against the mocked client; resolves with stdout. */
async function publish(args: string[]): Promise<string> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d) => (text += d));
  await layerPublish(args, out);
  return text;
}

/** An AWS error as the SDK makes it from an error response it has no class for. */
function serviceError(name: string, message: string, status: number): LambdaServiceException {
  return new LambdaServiceException({
    name,
    $fault: 'client',
    $metadata: { httpStatusCode: status },
    message,
  });
}

describe('fpm-bridge layer publish', () => {
  const lambda = mockClient(LambdaClient);
  let dir = '';
  let zipPath = '';
  let zipBytes: Buffer;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-publish-'));
    zipPath = join(dir, 'layer.zip');
    zipBytes = zip([
      { name: 'bin/', mode: 0o755 },
      { name: 'bin/php-fpm', data: Buffer.from('#!/bin/sh\n'), mode: 0o755 },
    ]);
    writeFileSync(zipPath, zipBytes);
  });
  afterEach(() => lambda.reset());
  after(() => {
    lambda.restore();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends the zip, name, runtimes, architecture, description and license, and prints the ARN alone', async () => {
    lambda.on(PublishLayerVersionCommand).resolves({ LayerVersionArn: ARN, Version: 3 });
    const stdout = await publish([
      '--zip',
      zipPath,
      '--name',
      'php82-arm',
      '--region',
      'eu-west-1',
      '--arch',
      'arm64',
      '--runtimes',
      'nodejs20.x, nodejs22.x',
      '--description',
      'PHP 8.2 for fpm-bridge',
      '--license',
      'PHP-3.01',
    ]);
    assert.equal(stdout, `${ARN}\n`);
    const calls = lambda.commandCalls(PublishLayerVersionCommand);
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0]!.args[0].input, {
      LayerName: 'php82-arm',
      Content: { ZipFile: zipBytes },
      CompatibleRuntimes: ['nodejs20.x', 'nodejs22.x'],
      CompatibleArchitectures: ['arm64'],
      Description: 'PHP 8.2 for fpm-bridge',
      LicenseInfo: 'PHP-3.01',
    });
    assert.equal(lambda.calls().length, 1, 'nothing but PublishLayerVersion');
  });

  it('defaults to the name fpm-bridge-php-84 (for a zip that does not say its PHP), nodejs22.x and nodejs24.x, and x86_64', async () => {
    lambda.on(PublishLayerVersionCommand).resolves({ LayerVersionArn: ARN, Version: 3 });
    await publish(['--zip', zipPath, '--region', 'eu-west-1']);
    assert.deepEqual(lambda.commandCalls(PublishLayerVersionCommand)[0]!.args[0].input, {
      LayerName: 'fpm-bridge-php-84',
      Content: { ZipFile: zipBytes },
      CompatibleRuntimes: ['nodejs22.x', 'nodejs24.x'],
      CompatibleArchitectures: ['x86_64'],
      Description: undefined,
      LicenseInfo: undefined,
    });
  });

  it("takes PHP version and architecture from the zip's manifest: a PHP 8.2 arm64 build is fpm-bridge-php-82-arm64, its sha256 in the description", async () => {
    const armZip = join(dir, 'arm64.zip');
    const bytes = zip([
      { name: 'bin/php-fpm', data: Buffer.from('#!/bin/sh\n'), mode: 0o755 },
      {
        name: 'share/fpm-bridge/layer.json',
        data: Buffer.from(`${JSON.stringify({ php: '8.2', arch: 'arm64', extensions: [] }, null, 2)}\n`),
        mode: 0o644,
      },
    ]);
    writeFileSync(armZip, bytes);
    lambda.on(PublishLayerVersionCommand).resolves({ LayerVersionArn: ARN, Version: 3 });
    await publish(['--zip', armZip, '--region', 'eu-west-1']);
    const input = lambda.commandCalls(PublishLayerVersionCommand)[0]!.args[0].input;
    assert.deepEqual(
      [input.LayerName, input.CompatibleArchitectures, input.Description],
      [
        'fpm-bridge-php-82-arm64',
        ['arm64'],
        `fpm-bridge PHP 8.2 arm64 sha256:${createHash('sha256').update(bytes).digest('hex')}`,
      ],
    );
    await assert.rejects(
      publish(['--zip', armZip, '--region', 'eu-west-1', '--arch', 'x86_64']),
      new UsageError(
        '--arch x86_64, but the zip was built for arm64 (its share/fpm-bridge/layer.json) — drop --arch, or build for x86_64',
      ),
    );
  });

  it('takes the zip from S3 with --s3-bucket and --s3-key', async () => {
    lambda.on(PublishLayerVersionCommand).resolves({ LayerVersionArn: ARN, Version: 3 });
    await publish(['--s3-bucket', 'my-layers', '--s3-key', 'php/layer.zip', '--region', 'eu-west-1']);
    assert.deepEqual(lambda.commandCalls(PublishLayerVersionCommand)[0]!.args[0].input.Content, {
      S3Bucket: 'my-layers',
      S3Key: 'php/layer.zip',
    });
  });

  it('with --public, grants lambda:GetLayerVersion on the new version to every account', async () => {
    lambda.on(PublishLayerVersionCommand).resolves({ LayerVersionArn: ARN, Version: 3 });
    lambda.on(AddLayerVersionPermissionCommand).resolves({});
    assert.equal(await publish(['--zip', zipPath, '--region', 'eu-west-1', '--public']), `${ARN}\n`);
    const grants = lambda.commandCalls(AddLayerVersionPermissionCommand);
    assert.equal(grants.length, 1);
    assert.deepEqual(grants[0]!.args[0].input, {
      LayerName: 'fpm-bridge-php-84',
      VersionNumber: 3,
      StatementId: 'fpm-bridge-public',
      Action: 'lambda:GetLayerVersion',
      Principal: '*',
    });
  });

  it('prints the ARN even when making the version public is refused, then names the refusal', async () => {
    lambda.on(PublishLayerVersionCommand).resolves({ LayerVersionArn: ARN, Version: 3 });
    lambda
      .on(AddLayerVersionPermissionCommand)
      .rejects(
        serviceError(
          'AccessDeniedException',
          'not authorized to perform: lambda:AddLayerVersionPermission',
          403,
        ),
      );
    const out = new PassThrough();
    let stdout = '';
    out.on('data', (d) => (stdout += d));
    await assert.rejects(layerPublish(['--zip', zipPath, '--region', 'eu-west-1', '--public'], out), {
      name: 'AwsError',
      message: `these AWS credentials may not AddLayerVersionPermission on ${ARN} (AccessDeniedException: not authorized to perform: lambda:AddLayerVersionPermission) — grant the permission AWS names, or use another profile`,
    });
    assert.equal(stdout, `${ARN}\n`);
  });

  describe('turns what AWS or the SDK throws into one line that says what to do', () => {
    const credentialsError = Object.assign(new Error('Could not load credentials from any providers'), {
      name: 'CredentialsProviderError',
    });
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    const cases: [string, Error, string][] = [
      [
        'no credentials',
        credentialsError,
        `no AWS credentials for ${ACTION} — set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run "aws configure" (Could not load credentials from any providers)`,
      ],
      [
        'unknown access key',
        serviceError(
          'UnrecognizedClientException',
          'The security token included in the request is invalid.',
          403,
        ),
        `AWS refused the credentials for ${ACTION} (UnrecognizedClientException: The security token included in the request is invalid.) — check AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`,
      ],
      [
        'expired session',
        serviceError('ExpiredTokenException', 'The security token included in the request is expired', 403),
        `the AWS credentials for ${ACTION} have expired (ExpiredTokenException: The security token included in the request is expired) — renew them (e.g. "aws sso login") and retry`,
      ],
      [
        'missing permission',
        serviceError(
          'AccessDeniedException',
          'User: x is not authorized to perform: lambda:PublishLayerVersion',
          403,
        ),
        `these AWS credentials may not ${ACTION} (AccessDeniedException: User: x is not authorized to perform: lambda:PublishLayerVersion) — grant the permission AWS names, or use another profile`,
      ],
      [
        'no such bucket or key',
        serviceError('ResourceNotFoundException', 'Bucket not found', 404),
        `${ACTION}: not found (ResourceNotFoundException: Bucket not found) — check the name and the region`,
      ],
      [
        'no answer',
        refused,
        `cannot reach AWS for ${ACTION} (connect ECONNREFUSED 127.0.0.1:9) — check --endpoint, --region and the network`,
      ],
      [
        'any other AWS error',
        serviceError(
          'InvalidParameterValueException',
          'Unzipped size must be smaller than 262144000 bytes',
          400,
        ),
        `${ACTION} failed: InvalidParameterValueException: Unzipped size must be smaller than 262144000 bytes`,
      ],
    ];
    for (const [what, thrown, message] of cases) {
      it(what, async () => {
        lambda.on(PublishLayerVersionCommand).rejects(thrown);
        const err = await publish(['--zip', zipPath, '--region', 'eu-west-1']).then(
          () => assert.fail('resolved'),
          (e: unknown) => e,
        );
        assert.ok(err instanceof AwsError, String(err));
        assert.equal(err.code, 'FPM_BRIDGE_ERR_AWS');
        assert.equal(err.message, message);
        assert.equal(err.cause, thrown);
      });
    }
  });

  describe('refuses bad input before calling AWS', () => {
    const cases: [string, string[], Error][] = [
      [
        'an unknown architecture',
        ['--arch', 'amd64'],
        new UsageError('invalid --arch "amd64" — expected x86_64 or arm64'),
      ],
      [
        'an unknown runtime',
        ['--runtimes', 'nodejs22.x,node22'],
        new UsageError(
          'invalid runtime "node22" in --runtimes — expected Lambda runtime ids such as nodejs22.x',
        ),
      ],
      [
        'a bucket without a key',
        ['--s3-bucket', 'b'],
        new UsageError(
          '--s3-bucket and --s3-key go together: the bucket and the key of the uploaded layer zip',
        ),
      ],
      [
        'a zip and S3 both',
        ['--zip', 'layer.zip', '--s3-bucket', 'b', '--s3-key', 'k'],
        new UsageError('pass either --zip or --s3-bucket/--s3-key, not both'),
      ],
    ];
    for (const [what, args, expected] of cases) {
      it(what, async () => {
        await assert.rejects(publish([...args, '--region', 'eu-west-1']), expected);
        assert.equal(lambda.calls().length, 0);
      });
    }

    it('a zip that does not exist', async () => {
      const missing = join(dir, 'nope.zip');
      await assert.rejects(
        publish(['--zip', missing, '--region', 'eu-west-1']),
        new ConfigError(
          `cannot read the layer zip ${missing} (ENOENT) — build it with "fpm-bridge layer build" or name it with --zip`,
        ),
      );
    });

    it('a file that is no zip', async () => {
      const text = join(dir, 'notes.txt');
      writeFileSync(text, 'hello');
      await assert.rejects(
        publish(['--zip', text, '--region', 'eu-west-1']),
        new ConfigError(`${text} is not a zip file — pass the layer.zip that "fpm-bridge layer build" wrote`),
      );
    });

    it('a zip over the 50 MiB direct upload limit, naming the S3 options', async () => {
      const big = join(dir, 'big.zip');
      writeFileSync(big, zipBytes);
      // Sparse: the size is all that is looked at before refusing.
      truncateSync(big, DIRECT_UPLOAD_LIMIT + 1);
      await assert.rejects(
        publish(['--zip', big, '--region', 'eu-west-1']),
        new ConfigError(
          `${big} is 52428801 bytes, over the 52428800 (50 MiB) that PublishLayerVersion takes directly — upload it to S3 (aws s3 cp ${big} s3://BUCKET/KEY) and pass --s3-bucket BUCKET --s3-key KEY`,
        ),
      );
      assert.equal(lambda.calls().length, 0);
    });
  });
});

describe('fpm-bridge layer publish as a process, with no AWS configuration at all', () => {
  let home = '';
  let zipPath = '';
  let endpoint: Awaited<ReturnType<typeof recordRequests>>;

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'fpm-bridge-noaws-'));
    zipPath = join(home, 'layer.zip');
    writeFileSync(zipPath, zip([{ name: 'bin/', mode: 0o755 }]));
    endpoint = await recordRequests();
  });
  after(async () => {
    await endpoint.close();
    rmSync(home, { recursive: true, force: true });
  });

  it('without a region: exit 1, one line naming --region and AWS_REGION, and nothing sent', async () => {
    const { code, stdout, stderr } = await runCli(
      ['layer', 'publish', '--zip', zipPath],
      noAwsEnv(home, endpoint.url),
    );
    assert.deepEqual(
      { code, stdout, stderr },
      {
        code: 1,
        stdout: '',
        stderr:
          'fpm-bridge: no AWS region for PublishLayerVersion "fpm-bridge-php-84" — pass --region or set AWS_REGION (or "region" in your AWS profile)\n',
      },
    );
    assert.deepEqual(endpoint.requests, []);
  });

  it('without credentials: exit 1, one line naming where credentials come from, and nothing sent', async () => {
    const { code, stdout, stderr } = await runCli(
      ['layer', 'publish', '--zip', zipPath, '--region', 'eu-west-1'],
      noAwsEnv(home, endpoint.url),
    );
    assert.deepEqual(
      { code, stdout, stderr },
      {
        code: 1,
        stdout: '',
        stderr: `fpm-bridge: no AWS credentials for ${ACTION} — set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run "aws configure" (Could not load credentials from any providers)\n`,
      },
    );
    assert.deepEqual(endpoint.requests, []);
  });

  it('prints its help', async () => {
    const { code, stdout } = await runCli(['layer', 'publish', '--help']);
    assert.equal(code, 0);
    assert.match(stdout, /^Usage: fpm-bridge layer publish \[options\]\n/);
  });
});
