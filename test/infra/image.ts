/**
 * Reads infra/Dockerfile and lays out on this host what its image holds, so the tests can run the image's own
 * command lines (ENTRYPOINT + CMD, HEALTHCHECK, the compose file's sidecar commands) where no Docker engine is.
 */
import { type ChildProcess, type StdioOptions, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { locatePhpFpm } from '../../proxy/fpm/locate.ts';
import { ROOT } from '../support/cli.ts';
import { phpFpmUnderTest } from '../support/php-fpm.ts';

/** One Dockerfile instruction: its keyword in upper case and its arguments, continuation lines joined. */
export interface Instruction {
  keyword: string;
  args: string;
}

/** Parses a Dockerfile: comments and blank lines dropped, `\`-continued lines joined with one space. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    // Comment lines end nothing: inside a continued instruction Docker skips them too.
    if (line === '' || line.startsWith('#')) continue;
    const continued = line.endsWith('\\');
    pending += `${pending === '' ? '' : ' '}${continued ? line.slice(0, -1).trim() : line}`;
    if (continued) continue;
    const space = pending.indexOf(' ');
    out.push({ keyword: pending.slice(0, space).toUpperCase(), args: pending.slice(space + 1).trim() });
    pending = '';
  }
  return out;
}

/** The image a Dockerfile describes, as the tests need it. */
export interface ImageSpec {
  /** The stages in order: `FROM` arguments and the instructions that follow each. */
  stages: { from: string; instructions: Instruction[] }[];
  /** ARG defaults, from any stage. */
  args: Record<string, string>;
  /** ENV of the final stage. */
  env: Record<string, string>;
  user: string;
  workdir: string;
  entrypoint: string[];
  cmd: string[];
  /** HEALTHCHECK's options (`--interval=15s` → `interval: '15s'`) and exec-form command. */
  healthcheck: { options: Record<string, string>; command: string[] };
}

function execForm(args: string): string[] {
  const value: unknown = JSON.parse(args);
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
    throw new Error(`expected the exec form (a JSON array of strings), got ${args}`);
  return value;
}

/** Splits `A=1 B=2` (no quoting: the Dockerfile uses none). */
function pairs(args: string): Record<string, string> {
  return Object.fromEntries(
    args.split(/\s+/).map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]),
  );
}

/** What infra/Dockerfile (`text`) says the image is. */
export function readImageSpec(text: string): ImageSpec {
  const instructions = parseDockerfile(text);
  const stages: ImageSpec['stages'] = [];
  const args: Record<string, string> = {};
  for (const i of instructions) {
    if (i.keyword === 'FROM') stages.push({ from: i.args, instructions: [] });
    else stages.at(-1)?.instructions.push(i);
    if (i.keyword === 'ARG' && i.args.includes('=')) {
      const at = i.args.indexOf('=');
      args[i.args.slice(0, at)] = i.args.slice(at + 1).replace(/^"(.*)"$/, '$1');
    }
  }
  const final = stages.at(-1)!.instructions;
  const last = (keyword: string) => final.findLast((i) => i.keyword === keyword)?.args ?? '';
  const env: Record<string, string> = {};
  for (const i of final) if (i.keyword === 'ENV') Object.assign(env, pairs(i.args));
  const health = last('HEALTHCHECK');
  const at = health.indexOf('CMD ');
  return {
    stages,
    args,
    env,
    user: last('USER'),
    workdir: last('WORKDIR'),
    entrypoint: execForm(last('ENTRYPOINT')),
    cmd: execForm(last('CMD')),
    healthcheck: {
      options: pairs(
        health
          .slice(0, at)
          .trim()
          .replace(/(^|\s)--/g, '$1'),
      ),
      command: execForm(health.slice(at + 4)),
    },
  };
}

/**
 * The image's files on this host, in a temporary directory: every `COPY` of the final stage (from the
 * build stage, whose WORKDIR is this checkout with `npm run build` done, or from the context, which is this
 * checkout). `path()` maps an image path to
 * its copy here, so the image's command lines run unchanged but for that mapping.
 */
export class HostImage {
  readonly dir: string;

  constructor(readonly spec: ImageSpec) {
    this.dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-image-'));
    // Readable by the unprivileged user the commands run as.
    chmodSync(this.dir, 0o755);
    const buildWorkdir = spec.stages[0]!.instructions.find((i) => i.keyword === 'WORKDIR')!.args;
    const final = spec.stages.at(-1)!.instructions;
    for (const copy of final.filter((i) => i.keyword === 'COPY')) {
      const words = copy.args
        .split(/\s+/)
        .map((w) => w.replace(/\$\{(\w+)\}/g, (_, name) => spec.args[name]!));
      const fromBuild = words[0] === '--from=build';
      const paths = words.filter((w) => !w.startsWith('--'));
      if (words[0]!.startsWith('--from=') && !fromBuild) continue; // the node binary: this host has its own
      const dest = paths.pop()!;
      for (const source of paths) {
        const from = fromBuild ? join(ROOT, source.slice(buildWorkdir.length + 1)) : join(ROOT, source);
        const to = dest.endsWith('/') ? this.path(join(dest, basename(source))) : this.path(dest);
        mkdirSync(dirname(to), { recursive: true, mode: 0o755 });
        if (dest.endsWith('/')) copyFileSync(from, to);
        else cpSync(from, to, { recursive: true });
      }
    }
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Where an absolute path of the image is on this host. */
  path(imagePath: string): string {
    return join(this.dir, imagePath);
  }

  /** The image's environment, on this host's PATH (this node, Debian's /usr/sbin/php-fpm8.x). */
  env(overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      PATH: [
        dirname(process.execPath),
        '/usr/local/sbin',
        '/usr/local/bin',
        '/usr/sbin',
        '/usr/bin',
        '/sbin',
        '/bin',
      ].join(':'),
      HOME: '/nonexistent',
      // The image has one PHP; this host may have more (the 8.4 layer over /opt in `npm test`): the one under test.
      FPM_BRIDGE_PHP_FPM: locatePhpFpm(phpFpmUnderTest()),
      ...this.spec.env,
      ...overrides,
    };
  }

  /** Maps the image paths in a command line to their copies here, and its `php-fpm` link to this host's. */
  argv(argv: string[]): string[] {
    return argv.map((a) =>
      a === 'php-fpm'
        ? locatePhpFpm(phpFpmUnderTest())
        : a.startsWith('/opt/') || a === '/app' || a.startsWith('/app/')
          ? this.path(a)
          : a,
    );
  }
}

/**
 * How to run a command as the image does: as an unprivileged user (`nobody` standing in for the image's
 * `fpm-bridge` user). Needs root; otherwise commands run as the current user and `reason` says why.
 */
export function imageUser(): { prefix: string[]; reason: string | null } {
  if (process.getuid?.() !== 0)
    return { prefix: [], reason: 'not root: cannot switch to an unprivileged user' };
  const prefix = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--'];
  const probe = spawnSync(prefix[0]!, [...prefix.slice(1), process.execPath, '-e', ''], { encoding: 'utf8' });
  if (probe.status !== 0) {
    const why = probe.error?.message ?? probe.stderr.trim();
    return { prefix: [], reason: `cannot run as nobody: ${why}` };
  }
  return { prefix, reason: null };
}

/** A process started by {@link start}, with its output so far. */
export interface Running {
  child: ChildProcess;
  output: () => string;
  /** Sends `signal` and resolves with the exit code (null if a signal ended it). */
  stop(signal: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `argv` and resolves once its output matches `ready`; rejects if it exits first or is not ready
 * within 20 s. With `logFile`, stdout and stderr go to that file rather than to pipes: php-fpm's
 * `error_log = /proc/self/fd/2` can reopen a file (or a container runtime's FIFO), not the Unix socket a
 * Node pipe is.
 */
export function start(
  argv: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; ready: RegExp; logFile?: string },
): Promise<Running> {
  let piped = '';
  let output = () => piped;
  let stdio: StdioOptions = ['ignore', 'pipe', 'pipe'];
  if (options.logFile !== undefined) {
    const fd = openSync(options.logFile, 'a', 0o666);
    // The mode above is masked by the umask; the unprivileged user must be able to reopen the file.
    chmodSync(options.logFile, 0o666);
    stdio = ['ignore', fd, fd];
    const file = options.logFile;
    output = () => readFileSync(file, 'utf8');
  }
  const child = spawn(argv[0]!, argv.slice(1), { cwd: options.cwd, env: options.env, stdio });
  if (typeof stdio[1] === 'number') closeSync(stdio[1]);
  child.stdout?.on('data', (d) => (piped += d));
  child.stderr?.on('data', (d) => (piped += d));
  const running: Running = {
    child,
    output: () => output(),
    stop: (signal) =>
      new Promise((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done(child.exitCode);
        child.once('exit', (code) => done(code));
        child.kill(signal);
      }),
  };
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 20_000;
    const check = () => {
      if (options.ready.test(output())) return resolve(running);
      if (child.exitCode !== null || child.signalCode !== null)
        return reject(
          new Error(
            `${argv.join(' ')} exited (${child.signalCode ?? child.exitCode}) before it was ready:\n${output()}`,
          ),
        );
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        return reject(new Error(`${argv.join(' ')} was not ready within 20 s:\n${output()}`));
      }
      // Polled: the same check reads a pipe's or a file's output, and start-up takes well under a second.
      setTimeout(check, 25);
    };
    check();
  });
}

/** Runs `argv` to completion. */
export function run(
  argv: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): { code: number | null; output: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), { ...options, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}
