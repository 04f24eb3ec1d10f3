// Lambda layers built for tests, unzipped, and bubblewrap sandboxes that hold nothing of the host's system
// but the layer at /opt (as a Node.js runtime, whose system is not the one the binaries were built for).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildLayer, type LayerReport } from '../../layer/build.ts';
import type { LambdaArch } from '../../layer/debian.ts';
import { BUILT_IN, CLI_BUILT_IN, DEFAULT_EXTENSIONS, EXTENSIONS } from '../../layer/extensions.ts';

/** Kept between runs: apt's lists and the .deb files (about 50 MB per PHP version and architecture). */
export const LAYER_CACHE = join(tmpdir(), 'fpm-bridge-layer-cache');

export interface TestLayer {
  report: LayerReport;
  /** The unzipped layer, bound read-only at /opt in every sandbox. */
  dir: string;
  buildSeconds: number;
}

/** Builds a layer into `work` (Debian's packages from {@link LAYER_CACHE}) and unzips it with unzip(1). */
export async function buildTestLayer(
  work: string,
  options: { php: string; arch?: LambdaArch; extensions?: readonly string[]; offline?: boolean },
): Promise<TestLayer> {
  const started = Date.now();
  const report = await buildLayer({
    out: mkdtempSync(join(work, 'out-')),
    php: options.php,
    extensions: [...(options.extensions ?? DEFAULT_EXTENSIONS)],
    arch: options.arch ?? 'x86_64',
    cacheDir: LAYER_CACHE,
    offline: options.offline,
  });
  const buildSeconds = (Date.now() - started) / 1000;
  const dir = mkdtempSync(join(work, 'opt-'));
  mkdirSync(dir, { recursive: true });
  // unzip(1), not our own reader: the zip must be one that other tools (and Lambda) read as we meant it.
  const r = spawnSync('unzip', ['-q', report.zip, '-d', dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return { report, dir, buildSeconds };
}

/**
 * `bwrap` mounts for a sandbox with the layer at /opt, a private /tmp, /proc and /dev, no environment at
 * all, then `extra` (mounts, `--setenv`). As root (CI, this machine) bwrap creates its namespaces itself; an unprivileged
 * user needs user namespaces, which `--unshare-all` asks for too. `qemu` (a static qemu-user binary) runs
 * a foreign architecture's binaries, as the only host file in the sandbox.
 */
export function sandboxArgs(layer: string, extra: readonly string[] = [], qemu?: string): string[] {
  return [
    ...['--unshare-all', '--die-with-parent', '--ro-bind', layer, '/opt'],
    ...(qemu === undefined ? [] : ['--ro-bind', qemu, '/qemu']),
    ...['--tmpfs', '/tmp', '--proc', '/proc', '--dev', '/dev', '--clearenv', '--chdir', '/'],
    ...extra,
    ...(qemu === undefined ? [] : ['/qemu']),
  ];
}

export interface SandboxResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function inSandbox(
  layer: string,
  command: readonly string[],
  options: { extra?: readonly string[]; qemu?: string } = {},
): SandboxResult {
  const r = spawnSync('bwrap', [...sandboxArgs(layer, options.extra, options.qemu), ...command], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.error !== undefined) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The module names `php -m` prints, once each, sorted case-insensitively. */
export function moduleNames(output: string): string[] {
  const names = output
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('['))
    .map((l) => l.trim());
  return [...new Set(names)].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));
}

/** What `php -m` (`sapi` cli) or `php-fpm -m` (fpm) must list for a layer: built-in and chosen modules. */
export function expectedModules(report: LayerReport, sapi: 'cli' | 'fpm'): string[] {
  const chosen = report.modules.map((n) => EXTENSIONS[n]?.module ?? n);
  const builtIn = sapi === 'cli' ? [...BUILT_IN, ...CLI_BUILT_IN] : [...BUILT_IN, 'cgi-fcgi'];
  return moduleNames([...builtIn, ...chosen].join('\n'));
}
