/**
 * The Lambda entry (`dist/handler.handler`, and `dist/handler.streamingHandler` for Function URLs in
 * RESPONSE_STREAM mode). php-fpm starts here, during the init phase, before the first invocation.
 */

import type { Writable } from 'node:stream';
import type { Context } from 'aws-lambda';
import { createLambdaApp, type ResponseStreamFactory } from './runtime.ts';

/**
 * The globals the Node.js Lambda runtime provides for response streaming. The AWS SDK (loaded when an
 * environment value names an SSM parameter) makes an `awslambda` object of its own where there is none, for
 * its invocation store: outside Lambda it has no streamifyResponse, and is no sign of Lambda's runtime.
 */
declare const awslambda:
  | {
      streamifyResponse?(fn: (event: unknown, stream: Writable, context: Context) => Promise<void>): unknown;
      HttpResponseStream: { from: ResponseStreamFactory };
    }
  | undefined;

const app = await createLambdaApp().catch((err: Error) => {
  // One line that names the cause in the init error CloudWatch shows, then fail the init.
  process.stderr.write(
    `${JSON.stringify({ level: 60, msg: `fpm-bridge could not start: ${err.message}`, code: (err as { code?: string }).code })}\n`,
  );
  throw err;
});

export const handler = app.handler;

export const streamingHandler =
  typeof awslambda === 'undefined' || awslambda.streamifyResponse === undefined
    ? undefined
    : awslambda.streamifyResponse((event, stream, context) =>
        app.streamingHandler(event, stream, context, awslambda!.HttpResponseStream.from),
      );
