import { type ChildProcess, spawn } from 'node:child_process';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Served {
  child: ChildProcess;
  url: string;
  /** Everything the process wrote to stdout (JSON lines: the startup line, then access log lines). */
  stdout: () => string;
  /** Everything the process wrote to stderr (JSON log lines). */
  stderr: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs `fpm-bridge ARGS` from source (tsx) to completion. */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/cli.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Starts `fpm-bridge serve ARGS --listen 127.0.0.1:0` and resolves with the URL its startup line (the first
 * line on stdout, JSON) names once it is ready.
 */
export function serve(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Served> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'cli/cli.ts', 'serve', ...args, '--listen', '127.0.0.1:0'],
      {
        cwd: ROOT,
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.once('exit', (code) =>
      reject(new Error(`serve exited with ${code} before it was ready: ${stderr}`)),
    );
    let ready = false;
    child.stdout.on('data', (d) => {
      stdout += d;
      // Access log lines follow the startup line: only the first line counts (a later one would remove the
      // exit listener stop() waits on).
      if (ready || !stdout.includes('\n')) return;
      ready = true;
      child.removeAllListeners('exit');
      const line = stdout.slice(0, stdout.indexOf('\n'));
      let url: string;
      try {
        ({ url } = JSON.parse(line) as { url: string });
      } catch {
        child.kill('SIGKILL');
        return reject(new Error(`serve's first line on stdout is not JSON: ${line}`));
      }
      resolve({
        child,
        url,
        stdout: () => stdout,
        stderr: () => stderr,
        stop: (signal = 'SIGTERM') =>
          new Promise((done) => {
            if (child.exitCode !== null) return done(child.exitCode);
            child.once('exit', (code) => done(code));
            child.kill(signal);
          }),
      });
    });
  });
}

/** GET with the request target sent byte for byte (fetch would normalise `%2e%2e` and the like). */
export function rawGet(base: string, target: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path: target, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
