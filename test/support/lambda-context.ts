// A Lambda invocation Context for handler tests, shaped like the one the Node.js runtime passes.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

export const FAKE_REGION = 'us-east-1';
export const FAKE_ACCOUNT_ID = '123456789012';

export interface FakeContextOptions {
  /** Milliseconds left in the invocation when the context is made (default 30 000). */
  remainingMs?: number;
  /** Default: a random UUID, as Lambda gives. */
  awsRequestId?: string;
  /** Default: `fpm-bridge-test`. */
  functionName?: string;
  /** The clock the deadline is measured on (default Date.now); a fake one tests timeouts without waiting. */
  now?: () => number;
}

export function fakeContext(options: FakeContextOptions = {}): Context {
  const now = options.now ?? Date.now;
  const deadline = now() + (options.remainingMs ?? 30_000);
  const functionName = options.functionName ?? 'fpm-bridge-test';
  const day = new Date(now()).toISOString().slice(0, 10).replaceAll('-', '/');
  const deprecated = (method: string) => () => {
    throw new Error(`context.${method}() is the deprecated callback API; handlers return a promise`);
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${FAKE_REGION}:${FAKE_ACCOUNT_ID}:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: options.awsRequestId ?? randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `${day}/[$LATEST]${randomBytes(16).toString('hex')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - now()),
    done: deprecated('done'),
    fail: deprecated('fail'),
    succeed: deprecated('succeed'),
  };
}
