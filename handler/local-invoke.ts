import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { createLambdaApp, type LambdaAppOptions } from './runtime.ts';

/** The invocation time a local run gets: serverless.yml's function timeout. */
export const LOCAL_TIMEOUT_MS = 28_000;

/**
 * A Lambda Context for an invocation outside Lambda, shaped like the one the Node.js runtime passes. PHP
 * sees it as LAMBDA_INVOCATION_CONTEXT; the deadline bounds the request as the real one does.
 */
export function localContext(functionName: string, timeoutMs = LOCAL_TIMEOUT_MS): Context {
  const deadline = Date.now() + timeoutMs;
  const deprecated = (method: string) => () => {
    throw new Error(`context.${method}() is the callback API; fpm-bridge's handler returns a promise`);
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: deprecated('done'),
    fail: deprecated('fail'),
    succeed: deprecated('succeed'),
  };
}

/**
 * Runs one event through the real Lambda handler in this process, as one cold invocation: starts php-fpm,
 * invokes, stops php-fpm (also when the invocation fails), and returns what the handler returned.
 *
 * @example
 *   const result = await invokeLocally(httpApiEvent({ target: '/' }), { taskRoot: process.cwd() })
 */
export async function invokeLocally(event: unknown, options: LambdaAppOptions = {}): Promise<unknown> {
  const app = await createLambdaApp(options);
  try {
    return await app.handler(event, localContext('fpm-bridge-local'));
  } finally {
    await app.close();
  }
}
