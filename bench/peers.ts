/**
 * nginx and HAProxy as FastCGI fronts of a php-fpm pool, configured as a PHP site is: for `bench/fronts.ts`,
 * which measures `fpm-bridge serve` against them, and for the tests that send all of them the same bytes.
 * Each runs as a daemon in a process group of its own, stopped with everything it forked.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { delimiter, join } from 'node:path';

/** Every process this script started and has not seen exit: killed on any way out (error, Ctrl-C). */
export const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) killGroup(child, 'SIGKILL');
});

export interface Daemon {
  child: ChildProcess;
  /** The last lines it printed, for error messages. */
  output: string[];
  exited: Promise<void>;
}

/**
 * Spawns a front in a process group of its own, so stopping it also stops the workers it forked (nginx's
 * master and worker) and a Ctrl-C in the terminal reaches only this script, which then stops everything.
 */
export function spawnDaemon(
  command: string,
  args: readonly string[],
  cwd: string,
  env = process.env,
): Daemon {
  const child = spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(...chunk.toString().split('\n').filter(Boolean));
    output.splice(0, Math.max(0, output.length - 20));
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => {
    child.once('error', (err) => {
      output.push(err.message);
      resolve();
    });
    child.once('exit', () => resolve());
  });
  void exited.then(() => live.delete(child));
  return { child, output, exited };
}

export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

/** SIGTERM (each front's fast, clean stop; fpm-bridge writes its --cpu-prof then), SIGKILL after 10 s. */
export async function stopDaemon(d: Daemon): Promise<void> {
  killGroup(d.child, 'SIGTERM');
  const timer = setTimeout(() => killGroup(d.child, 'SIGKILL'), 10_000);
  await d.exited;
  clearTimeout(timer);
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Resolves once `port` accepts connections; rejects with the daemon's output if it exits or takes too long. */
export async function waitForPort(port: number, d: Daemon, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (d.child.exitCode !== null || d.child.signalCode !== null) {
      throw new Error(`${what} exited during start:\n  ${d.output.join('\n  ')}`);
    }
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (up) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port} within 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The binary's path on PATH or in the sbin directories (not on a non-root user's PATH), else null. */
export function findTool(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  for (const dir of dirs.filter(Boolean)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // Not in this directory.
    }
  }
  return null;
}

export type PeerName = 'nginx' | 'haproxy';

export interface PeerSetup {
  /** Scratch directory for the configuration, temp files and pid file. */
  dir: string;
  docroot: string;
  /** php-fpm's Unix socket. */
  socket: string;
  /** php-fpm's worker count: the requests in flight the front allows. */
  workers: number;
  /** FastCGI params every request carries besides the CGI ones: an app's settings (WordPress's WORDPRESS_CONFIG). */
  params?: Readonly<Record<string, string>>;
  /**
   * nginx's idle kept connections to php-fpm (`upstream { keepalive N; }` and `fastcgi_keep_conn on`); 0, the
   * default, for a connection per request. See {@link nginxConf} for why kept ones starve clients.
   */
  nginxKeepalive?: number;
}

/** `fastcgi_param NAME VALUE;` / `set-param NAME VALUE` lines for {@link PeerSetup.params}. */
function paramLines(s: PeerSetup, line: (name: string, value: string) => string): string {
  return Object.entries(s.params ?? {})
    .map(([name, value]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || !/^[\w./:-]*$/.test(value))
        throw new Error(`param ${name}=${value} cannot be written into a config unquoted`);
      return line(name, value);
    })
    .join('\n');
}

/**
 * nginx as a PHP site is configured for php-fpm: one worker process (the CPU budget every front gets), no
 * access log, `try_files $uri $uri/ /index.php` routing, and buffers large enough that neither a 100 KiB
 * response nor a 1 MiB request body goes through a temp file.
 *
 * By default nginx opens a connection to php-fpm per request, which php-fpm's workers accept in turn: its
 * listen backlog is then a fair FIFO queue. Kept connections (`nginxKeepalive`) are not fair: a kept
 * connection pins its worker (php-fpm waits on it for the next request), and nginx has no queue of its own,
 * so with more requests in flight than workers the connections it opens beyond the kept ones wait in the
 * backlog until a kept one closes — measured here, seconds at the p99 and clients starved — while requests
 * that find a kept connection free go first.
 */
export function nginxConf(s: PeerSetup, port: number): string {
  const tmp = join(s.dir, 'nginx-tmp');
  mkdirSync(tmp, { recursive: true });
  const keepalive = s.nginxKeepalive ?? 0;
  return `daemon off;
master_process on;
worker_processes 1;
pid ${join(s.dir, 'nginx.pid')};
error_log stderr warn;
${
  // As root, nginx would run its worker as "nobody", which cannot enter the php-fpm socket's 0700 directory;
  // as anyone else the directive is ignored with a warning, so it is only written for root.
  process.getuid?.() === 0 ? 'user root;' : ''
}
events {
  worker_connections 4096;
}
http {
  access_log off;
  client_body_temp_path ${tmp}/client;
  fastcgi_temp_path ${tmp}/fastcgi;
  proxy_temp_path ${tmp}/proxy;
  uwsgi_temp_path ${tmp}/uwsgi;
  scgi_temp_path ${tmp}/scgi;
  # nginx closes a client connection after 1000 requests by default; a load generator counts every close as an error,
  # and neither HAProxy nor node:http closes kept connections on a count.
  keepalive_requests 1000000;
  upstream php {
    server unix:${s.socket};
${
  keepalive > 0
    ? `    # Idle kept connections. (A kept connection holds its worker, and nginx opens a connection per request in
    # flight with no limit or queue — max_conns without "queue" refuses with 502 —, so above ${s.workers} requests
    # in flight the extra connections wait in php-fpm's listen backlog until a kept one closes:
    # keepalive_requests stays at its default 1000 so that they do get a worker.)
    keepalive ${keepalive};`
    : ''
}
  }
  server {
    listen 127.0.0.1:${port};
    root ${s.docroot};
    index index.php;
    client_max_body_size 2m;
    # The whole 1 MiB body is buffered (nginx's default mode) in memory rather than in a temp file.
    client_body_buffer_size 2m;
    location / {
      try_files $uri $uri/ /index.php$is_args$args;
    }
    # A script, with path info after it (/info.php/a/b), split as fpm-bridge and HAProxy do.
    location ~ ^(.+?\\.php)(/.*)?$ {
      include /etc/nginx/fastcgi_params;
      fastcgi_split_path_info ^(.+?\\.php)(/.*)$;
      fastcgi_param PATH_INFO $fastcgi_path_info;
      fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
${paramLines(s, (n, v) => `      fastcgi_param ${n} ${v};`)}
      fastcgi_pass php;
      fastcgi_keep_conn ${keepalive > 0 ? 'on' : 'off'};
      # 16 + 16 × 16 KiB in memory: a 100 KiB response is read from php-fpm whole, without a temp file.
      fastcgi_buffer_size 16k;
      fastcgi_buffers 16 16k;
    }
  }
}
`;
}

/**
 * HAProxy's FastCGI application: one thread (the CPU budget every front gets), no log, kept connections
 * reused by any request, and at most one request per worker at a time — the rest queue in HAProxy.
 */
export function haproxyConf(s: PeerSetup, port: number): string {
  return `global
  nbthread 1
  maxconn 4096

defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout queue 60s

fcgi-app php
  docroot ${s.docroot}
  index index.php
  path-info ^(/.+\\.php)(/.*)?$
  # FCGI_KEEP_CONN: php-fpm keeps the connection open after each response.
  option keep-conn
${paramLines(s, (n, v) => `  set-param ${n} ${v}`)}

frontend http
  bind 127.0.0.1:${port}
  maxconn 4096
  default_backend php

backend php
  use-fcgi-app php
  # Idle kept connections serve any client's next request, not only the one that opened them.
  http-reuse always
  server fpm unix@${s.socket} proto fcgi maxconn ${s.workers}
`;
}

/**
 * Writes `name`'s configuration into `s.dir` and starts it listening on 127.0.0.1:`port`; resolves once it
 * accepts connections. Throws, naming the package, when the binary is not installed.
 */
export async function startPeer(name: PeerName, s: PeerSetup, port: number): Promise<Daemon> {
  const binary = findTool(name);
  if (binary === null) throw new Error(`${name} is not installed — apt-get install -y ${name}`);
  mkdirSync(s.dir, { recursive: true });
  let daemon: Daemon;
  if (name === 'nginx') {
    const conf = join(s.dir, 'nginx.conf');
    writeFileSync(conf, nginxConf(s, port));
    daemon = spawnDaemon(binary, ['-e', 'stderr', '-p', s.dir, '-c', conf], s.dir);
  } else {
    const conf = join(s.dir, 'haproxy.cfg');
    writeFileSync(conf, haproxyConf(s, port));
    daemon = spawnDaemon(binary, ['-db', '-f', conf], s.dir);
  }
  try {
    await waitForPort(port, daemon, name);
  } catch (err) {
    await stopDaemon(daemon);
    throw err;
  }
  return daemon;
}
