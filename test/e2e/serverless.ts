/**
 * Running the Serverless Framework (osls, installed as `serverless`) from the end-to-end tests: offline,
 * bounded in time, in a process group of its own; and reading what `serverless package` writes.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../support/cli.ts';

export const SERVERLESS = join(ROOT, 'node_modules', 'serverless', 'bin', 'serverless.js');
/** fpm-bridge's PHP scripts as the plugin packages them beside the handler, sorted as zipEntries() lists them. */
export const PHP_SCRIPTS: readonly string[] = readdirSync(join(ROOT, 'handler', 'php'))
  .map((f) => `.fpm-bridge/php/${f}`)
  .sort();
/** Serverless Framework v3 itself (devDependency `serverless-v3`), the last release osls forked from. */
export const SERVERLESS_V3 = join(ROOT, 'node_modules', 'serverless-v3', 'bin', 'serverless.js');

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** The environment for a child: no test-runner context, no FPM_BRIDGE_* from the caller's shell but
 * the php-fpm binary, no colours, and a dead proxy so any attempt to reach AWS fails at once. */
export function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key === 'NODE_TEST_CONTEXT' || key === 'NODE_OPTIONS') continue;
    if (key.startsWith('FPM_BRIDGE_') && key !== 'FPM_BRIDGE_PHP_FPM') continue;
    if (/^((HTTPS?|ALL|NO)_)?PROXY$/i.test(key)) continue;
    env[key] = value;
  }
  // Port 9 (discard) on loopback: refused at once, so a network call fails instead of hanging.
  return {
    ...env,
    NO_COLOR: '1',
    HTTP_PROXY: 'http://127.0.0.1:9',
    HTTPS_PROXY: 'http://127.0.0.1:9',
    ...extra,
  };
}

/** Runs a command in its own process group to completion, killing the group past `timeoutMs`. */
export function run(
  file: string,
  args: string[],
  timeoutMs: number,
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      cwd: options.cwd ?? ROOT,
      env: childEnv(options.env),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => {
      output += `\n[killed after ${timeoutMs} ms]`;
      killGroup(child, 'SIGKILL');
    }, timeoutMs);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

/**
 * Copies the service in `source` to `dir` (made if need be) with node_modules/fpm-bridge holding this checkout's
 * package.json and dist/: what `npm install fpm-bridge` leaves, without a link to the whole checkout, which
 * the framework's file walk would follow.
 */
export function copyWithPlugin(source: string, dir: string): void {
  cpSync(source, dir, { recursive: true });
  const pkg = join(dir, 'node_modules', 'fpm-bridge');
  mkdirSync(pkg, { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  symlinkSync(join(ROOT, 'dist'), join(pkg, 'dist'));
}

export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: the group is gone already.
  }
}

export type Resource = { Type: string; Properties: Record<string, unknown> };

/** The resources of a CloudFormation template `serverless package` wrote, and those of one type. */
export function resourcesOf(template: { Resources: Record<string, Resource> }) {
  const resources = template.Resources;
  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
  return { resources, ofType };
}

/** The names in a zip's central directory (APPNOTE.TXT 4.3.12), without unpacking it. */
export function zipEntries(zip: Buffer): string[] {
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  assert.ok(eocd >= 0, 'not a zip: no end of central directory record');
  const count = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    assert.equal(zip.readUInt32LE(at), 0x02014b50, 'bad central directory header');
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    names.push(zip.toString('utf8', at + 46, at + 46 + nameLength));
    at += 46 + nameLength + extraLength + commentLength;
  }
  return names.sort();
}
