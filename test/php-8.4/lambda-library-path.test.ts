// Lambda's LD_LIBRARY_PATH names the layer's /opt/lib, whose glibc (Debian 13's here) is not the system's:
// a program of the system started with it fails to load. serverless-offline copies that variable, so on a
// host with the layer at /opt the handler met exactly that in the setpriv it starts php-fpm through.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { createLambdaApp } from '../../handler/runtime.ts';
import { recordingLogger } from '../support/bridge.ts';
import { loadEvent } from '../support/events.ts';
import { fakeContext } from '../support/lambda-context.ts';
import { layerPhpMissing } from '../support/layer-php.ts';

const LAMBDA_LIBRARY_PATH =
  '/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib';

describe('the handler under Lambda’s LD_LIBRARY_PATH, with the layer at /opt', {
  skip: layerPhpMissing('8.4') ?? false,
}, () => {
  it('starts the layer’s php-fpm, and PHP sees the variable as the function set it', async () => {
    process.env.LD_LIBRARY_PATH = LAMBDA_LIBRARY_PATH;
    const app = await createLambdaApp({
      taskRoot: join(import.meta.dirname, '..', 'fixtures', 'php'),
      env: {},
      overrides: {
        phpFpmBinary: '/opt/bin/php-fpm',
        docroot: join(import.meta.dirname, '..', 'fixtures', 'php'),
      },
      log: recordingLogger([]),
    });
    try {
      const event = { ...loadEvent('apigw-http', 'get-root'), rawPath: '/dump.php', rawQueryString: '' };
      const result = (await app.handler(event, fakeContext())) as APIGatewayProxyStructuredResultV2;
      assert.equal(result.statusCode, 200, String(result.body));
      assert.equal(JSON.parse(String(result.body)).server.LD_LIBRARY_PATH, LAMBDA_LIBRARY_PATH);
    } finally {
      await app.close();
      delete process.env.LD_LIBRARY_PATH;
    }
  });
});
