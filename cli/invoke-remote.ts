import { InvokeCommand } from '@aws-sdk/client-lambda';
import { isObject } from '../handler/adapter.ts';
import { AwsError } from '../proxy/errors.ts';
import { awsError, type LambdaClientOptions, lambdaClient } from './aws.ts';

/**
 * `fpm-bridge invoke --function`: Invoke (RequestResponse) on a deployed function or an emulator. The
 * payload is the function's result; a FunctionError means the handler threw, and its `errorType` and
 * `errorMessage` become the one line shown.
 */
export async function invokeFunction(
  name: string,
  event: unknown,
  options: LambdaClientOptions,
): Promise<unknown> {
  const client = await lambdaClient(options, `Invoke "${name}"`);
  const action = `Invoke "${name}"${options.endpoint === undefined ? ` in ${await client.config.region()}` : ` at ${options.endpoint}`}`;
  try {
    const response = await client
      .send(new InvokeCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify(event)) }))
      .catch((err: unknown) => {
        throw awsError(err, action);
      });
    const text = Buffer.from(response.Payload ?? new Uint8Array()).toString('utf8');
    const payload = text === '' ? null : parsePayload(text);
    if (response.FunctionError !== undefined) {
      const error = isObject(payload) ? `${payload.errorType}: ${payload.errorMessage}` : text;
      throw new AwsError(`function "${name}" failed (${response.FunctionError}): ${error}`);
    }
    return payload;
  } finally {
    client.destroy();
  }
}

/** A payload is JSON; should a function return something else, it is shown as the text it is. */
function parsePayload(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
