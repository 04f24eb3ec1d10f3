// Stands in for the Lambda Node.js runtime's interface client inside test/support/lambda-sandbox.ts: loads
// the module _HANDLER names from the task root (LAMBDA_TASK_ROOT), as the runtime does, and calls the
// handler once per event of /var/runtime/events.json in one process (one warm sandbox). Each result is
// one line on fd 3; stdout and stderr are the function's log, as CloudWatch would get them.
import { existsSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const spec = process.env._HANDLER;
const dot = spec.lastIndexOf('.');
const base = join(process.env.LAMBDA_TASK_ROOT, spec.slice(0, dot));
const file = ['.mjs', '.js', '.cjs'].map((ext) => base + ext).find((f) => existsSync(f));
if (file === undefined) throw new Error(`no module for _HANDLER ${spec} in ${process.env.LAMBDA_TASK_ROOT}`);
const handler = (await import(pathToFileURL(file).href))[spec.slice(dot + 1)];
if (typeof handler !== 'function') throw new Error(`${file} exports no function ${spec.slice(dot + 1)}`);

const events = JSON.parse(readFileSync('/var/runtime/events.json', 'utf8'));
const name = process.env.AWS_LAMBDA_FUNCTION_NAME;
for (const [i, event] of events.entries()) {
  const deadline = Date.now() + Number(process.env.FUNCTION_TIMEOUT_MS);
  const context = {
    awsRequestId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: process.env.FUNCTION_ARN,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: 'sandbox',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  // The platform's lines around each invocation, as Lambda writes them to the function's log.
  console.log(`START RequestId: ${context.awsRequestId} Version: $LATEST`);
  let line;
  try {
    line = JSON.stringify({ result: await handler(event, context) });
  } catch (err) {
    line = JSON.stringify({ errorType: err?.name, errorMessage: err?.message });
  }
  writeSync(3, `${line}\n`);
  console.log(`END RequestId: ${context.awsRequestId}`);
}
// php-fpm, started by the handler, would live on between invocations: the sandbox ends with this process.
process.exit(0);
