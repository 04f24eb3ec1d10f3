/**
 * moto's Lambda Invoke, run without Docker: test/support/moto-server.py hands each invocation to this script
 * (one JSON object on stdin: the function as moto holds it, its code and layer zips written to files, and the
 * event), which runs it in the bubblewrap sandbox of test/support/lambda-sandbox.ts and prints one JSON object
 * on stdout: the invocation's result or error, and the log Lambda would send to CloudWatch.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DeployedFunction, invokeInSandbox } from './lambda-sandbox.ts';

/** What moto-server.py writes on stdin: the function as moto holds it, with its zips as files. */
interface InvokeRequest extends Omit<DeployedFunction, 'layer' | 'task'> {
  /** The function's zip. */
  code: string;
  /** The layers' zips, in the function's order: a later layer's files replace an earlier one's, as on Lambda. */
  layers: string[];
  event: unknown;
}

function unzip(zip: string, dir: string): void {
  const r = spawnSync('unzip', ['-q', '-o', zip, '-d', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`unzip ${zip}: ${r.stderr}`);
}

const request = JSON.parse(readFileSync(0, 'utf8')) as InvokeRequest;
const work = mkdtempSync(join(tmpdir(), 'fpm-bridge-invoke-'));
try {
  const fn = { ...request, layer: join(work, 'opt'), task: join(work, 'task') };
  mkdirSync(fn.layer);
  unzip(request.code, fn.task);
  for (const layer of request.layers) unzip(layer, fn.layer);
  const { invocations, log } = await invokeInSandbox(fn, [request.event]);
  process.stdout.write(JSON.stringify({ ...invocations[0], log }));
} catch (err) {
  // The sandbox itself failed (no result line): moto answers it as the function's error, as Lambda does.
  const message = err instanceof Error ? err.message : String(err);
  process.stdout.write(
    JSON.stringify({ errorType: 'Runtime.ExitError', errorMessage: message, log: message }),
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
