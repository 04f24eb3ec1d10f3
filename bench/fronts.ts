/**
 * Benchmark: `fpm-bridge serve` against nginx and HAProxy as HTTP fronts of one php-fpm pool. The same
 * php-fpm (`pm = static`), the same PHP scripts and the same wrk load for all three; workloads: hello world,
 * a 100 KiB response and a 1 MiB POST, at concurrency 1, 32 and 256.
 *
 *   npm run bench:fronts                                  # everything (~10 min), writes its section of RESULTS.md
 *   npm run bench:fronts -- --duration 3s --warmup 1s --no-write
 *   npm run bench:fronts -- --workloads hello --concurrency 32 --fronts fpm-bridge --cpu-prof /tmp/prof
 *
 * Needs Debian's nginx, haproxy and wrk (the script installs nothing: it names the missing ones and exits)
 * and a built `dist/cli.js` (the npm script builds it first).
 *
 * Each measurement starts its front afresh and stops it afterwards. That is not for the front's sake but for
 * php-fpm's: a worker that answered on a kept connection (FCGI_KEEP_CONN) stays with that connection until
 * the front closes it, so a front left idle with its kept connections would hold the workers the next front
 * needs. The fronts run interleaved (workload → concurrency → every front, the order rotating each step), so a
 * burst of other load on this shared machine is spread over all of them.
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fpmCpuMicros, machineBusyMicros } from './cpu-time.ts';
import {
  type Daemon,
  findTool,
  freePort,
  killGroup,
  live,
  type PeerSetup,
  spawnDaemon,
  startPeer,
  stopDaemon,
  waitForPort,
} from './peers.ts';
import { benchFpm, list, phpFpmVersion, RESULTS_FILE, writeSection } from './results.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist/cli.js');

// ---- workloads ----

interface Workload {
  name: string;
  title: string;
  script: string;
  php: string;
  /** Request body size in bytes (POST), or 0 for a GET. */
  upload: number;
  /** The exact response body. */
  expect: string;
}

const HELLO = 'Hello, World!';
const KIB = 1024;
const MIB = 1024 * KIB;

const WORKLOADS: readonly Workload[] = [
  {
    name: 'hello',
    title: 'hello world (13-byte response)',
    script: 'hello.php',
    php: `<?php\necho '${HELLO}';\n`,
    upload: 0,
    expect: HELLO,
  },
  {
    name: '100kb',
    title: '100 KiB response',
    script: '100kb.php',
    php: `<?php\necho str_repeat('x', ${100 * KIB});\n`,
    upload: 0,
    expect: 'x'.repeat(100 * KIB),
  },
  {
    name: 'post-1mb',
    title: '1 MiB POST (PHP reads the body and answers its length)',
    script: 'post.php',
    php: `<?php\necho strlen(file_get_contents('php://input'));\n`,
    upload: MIB,
    expect: String(MIB),
  },
];

/** `node-floor` is no contender but a yardstick: the least a front written in Node can cost (node-floor.ts). */
const FRONT_NAMES = ['nginx', 'haproxy', 'fpm-bridge', 'node-floor'] as const;
type FrontName = (typeof FRONT_NAMES)[number];
const OURS: FrontName = 'fpm-bridge';
const PEERS: readonly FrontName[] = ['nginx', 'haproxy'];
const TOOLS = ['nginx', 'haproxy', 'wrk'] as const;

/** wrk's per-request timeout: a request slower than this is a socket error, not a latency sample. */
const WRK_TIMEOUT = '10s';

// ---- the three fronts ----

interface FrontSetup extends PeerSetup {
  /** fpm-bridge only: write a V8 CPU profile into this directory under this name. */
  cpuProf?: { dir: string; name: string };
}

interface RunningFront {
  url: string;
  pid: number;
  daemon: Daemon;
}

async function startFront(name: FrontName, s: FrontSetup): Promise<RunningFront> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  if (name === 'nginx' || name === 'haproxy') {
    const daemon = await startPeer(name, s, port);
    return { url, pid: daemon.child.pid!, daemon };
  }
  let daemon: Daemon;
  if (name === 'node-floor') {
    daemon = spawnDaemon(
      process.execPath,
      [
        '--import',
        import.meta.resolve('tsx'),
        join(ROOT, 'bench/node-floor.ts'),
        String(port),
        s.socket,
        s.docroot,
        String(s.workers),
      ],
      s.dir,
    );
  } else {
    // Only the settings named here, whatever FPM_BRIDGE_* the caller's shell has; the working directory has
    // no fpm-bridge.yml either.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FPM_BRIDGE_')));
    Object.assign(env, {
      // One kept connection per php-fpm worker, the rest in fpm-bridge's FIFO.
      FPM_BRIDGE_MAX_CONNS: String(s.workers),
      // As with nginx and HAProxy; metrics stay at their default (on), like HAProxy's counters.
      FPM_BRIDGE_ACCESS_LOG: 'false',
    });
    const prof =
      s.cpuProf === undefined
        ? []
        : ['--cpu-prof', `--cpu-prof-dir=${s.cpuProf.dir}`, `--cpu-prof-name=${s.cpuProf.name}`];
    daemon = spawnDaemon(
      process.execPath,
      [...prof, CLI, 'serve', s.docroot, '--listen', `127.0.0.1:${port}`, '--fpm', `unix:${s.socket}`],
      s.dir,
      env,
    );
  }
  try {
    await waitForPort(port, daemon, name);
  } catch (err) {
    await stopDaemon(daemon);
    throw err;
  }
  return { url, pid: daemon.child.pid!, daemon };
}

/** One request through the front: null if it answers 200 with exactly the expected body, else what is wrong. */
async function checkFront(front: RunningFront, w: Workload): Promise<string | null> {
  try {
    const res = await fetch(`${front.url}/${w.script}`, {
      method: w.upload > 0 ? 'POST' : 'GET',
      body: w.upload > 0 ? Buffer.alloc(w.upload, 'x') : null,
      headers: { connection: 'close' },
    });
    const body = await res.text();
    if (res.status !== 200) return `status ${res.status}: ${JSON.stringify(body.slice(0, 200))}`;
    if (body.length !== w.expect.length) return `body of ${body.length} bytes, expected ${w.expect.length}`;
    if (body !== w.expect) return `body ${JSON.stringify(body.slice(0, 40))} differs from the expected one`;
    return null;
  } catch (err) {
    return `request failed: ${(err as Error).message}`;
  }
}

// ---- wrk ----

interface WrkResult {
  /** 2xx/3xx responses per second. */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Non-2xx/3xx responses plus socket errors (connect, read, write, timeout). */
  errors: number;
  /** 2xx/3xx responses. */
  ok: number;
  /** What wrk printed, when it could not be parsed. */
  problem: string | null;
}

/** wrk's time units (format_time in its units.c) in ms. */
const UNIT_MS: Record<string, number> = { us: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };

function wrkTime(out: string, re: RegExp): number {
  const m = re.exec(out);
  return m === null ? Number.NaN : Number(m[1]) * UNIT_MS[m[2]!]!;
}

function parseWrk(out: string): WrkResult {
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m|h),/.exec(out);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  // wrk's request count includes every status.
  const ok = Number(total?.[1] ?? Number.NaN) - non2xx;
  const seconds = total === null ? Number.NaN : (Number(total[2]) * UNIT_MS[total[3]!]!) / 1000;
  const socketErrors = socket === null ? 0 : socket.slice(1).reduce((n, x) => n + Number(x), 0);
  const result = {
    rps: ok / seconds,
    p50Ms: wrkTime(out, /^\s+50%\s+([\d.]+)(us|ms|s|m|h)\s*$/m),
    p99Ms: wrkTime(out, /^\s+99%\s+([\d.]+)(us|ms|s|m|h)\s*$/m),
    errors: non2xx + socketErrors,
    ok,
    problem: null,
  };
  // With no response at all wrk still prints percentiles, all 0.
  if (ok === 0) Object.assign(result, { p50Ms: Number.NaN, p99Ms: Number.NaN });
  return Number.isFinite(result.rps) ? result : { ...result, problem: out.trim() };
}

/**
 * Closed-loop load: `connections` kept connections, each sending its next request as soon as the last
 * response is in. Latency percentiles come from `--latency` (wrk does not correct for coordinated
 * omission; with a closed loop and no target rate, that is the same for every front).
 */
function runWrk(url: string, connections: number, threads: number, seconds: number, lua: string | null) {
  const args = [
    '-t',
    String(Math.min(threads, connections)),
    '-c',
    String(connections),
    '-d',
    `${seconds}s`,
    '--timeout',
    WRK_TIMEOUT,
    '--latency',
    ...(lua === null ? [] : ['-s', lua]),
    url,
  ];
  return new Promise<WrkResult>((resolve) => {
    // A group of its own like the fronts, so the cleanup that stops them stops wrk alike.
    const child = spawn(tool('wrk'), args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.once('error', (err) => (out += err.message));
    child.once('close', () => {
      live.delete(child);
      resolve(parseWrk(out));
    });
  });
}

/**
 * CPU time in µs of this process's children that have exited and been reaped (cutime + cstime in
 * /proc/self/stat, see proc(5)): sampled around a wrk run, the difference is wrk's own CPU time.
 */
function reapedChildrenCpuMicros(): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // Fields after "(comm) " start at field 3; cutime is field 16 and cstime field 17.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[13]) + Number(fields[14])) / 100) * 1e6;
  } catch {
    return Number.NaN;
  }
}

// ---- one measurement ----

interface Run {
  front: FrontName;
  workload: string;
  concurrency: number;
  round: number;
  wrk: WrkResult;
  /** Why the front was not measured (did not start, or answered wrongly), else null. */
  failure: string | null;
  /** CPU time per 2xx response of the front's processes, and of php-fpm's master and workers, in µs. */
  frontUsPerReq: number;
  fpmUsPerReq: number;
  /** Share of all CPUs busy with anything but the front, php-fpm, wrk and this script during the window. */
  othersPct: number;
}

interface Settings {
  threads: number;
  warmup: number;
  warmupRequests: number;
  duration: number;
  fpmPid: number | null;
  cpuProf: string | undefined;
}

const NOT_RUN: WrkResult = {
  rps: Number.NaN,
  p50Ms: Number.NaN,
  p99Ms: Number.NaN,
  errors: 0,
  ok: 0,
  problem: null,
};

async function measure(
  front: FrontName,
  w: Workload,
  concurrency: number,
  round: number,
  setup: FrontSetup,
  o: Settings,
): Promise<Run> {
  const run: Run = {
    front,
    workload: w.name,
    concurrency,
    round,
    wrk: NOT_RUN,
    failure: null,
    frontUsPerReq: Number.NaN,
    fpmUsPerReq: Number.NaN,
    othersPct: Number.NaN,
  };
  const cpuProf =
    o.cpuProf === undefined
      ? undefined
      : { dir: o.cpuProf, name: `${w.name}-c${concurrency}-r${round}.cpuprofile` };
  let running: RunningFront;
  try {
    running = await startFront(front, { ...setup, cpuProf });
  } catch (err) {
    run.failure = `did not start: ${(err as Error).message}`;
    return run;
  }
  try {
    run.failure = await checkFront(running, w);
    if (run.failure !== null) return run;
    const lua = w.upload > 0 ? join(setup.dir, `${w.name}.lua`) : null;
    const url = `${running.url}/${w.script}`;
    // fpm-bridge runs on a JIT: until its hot functions are optimized it spends several times the CPU per
    // request it does later, and a slow front gets few requests per second of warm-up. So warm-up lasts until
    // a number of responses too (bounded: a front that stays slow is measured slow).
    let warmed = 0;
    for (let i = 0; i < 5 && warmed < o.warmupRequests; i++) {
      warmed += (await runWrk(url, concurrency, o.threads, o.warmup, lua)).ok || 0;
    }
    // fpmCpuMicros sums a process and its children: for a front that is nginx's master and worker too.
    const before = {
      front: fpmCpuMicros(running.pid),
      fpm: fpmCpuMicros(o.fpmPid),
      busy: machineBusyMicros(),
      wrk: reapedChildrenCpuMicros(),
      self: process.cpuUsage(),
      at: performance.now(),
    };
    run.wrk = await runWrk(url, concurrency, o.threads, o.duration, lua);
    const windowUs = (performance.now() - before.at) * 1000;
    const frontUs = fpmCpuMicros(running.pid) - before.front;
    const fpmUs = fpmCpuMicros(o.fpmPid) - before.fpm;
    const wrkUs = reapedChildrenCpuMicros() - before.wrk;
    const self = process.cpuUsage(before.self);
    run.frontUsPerReq = frontUs / run.wrk.ok;
    run.fpmUsPerReq = fpmUs / run.wrk.ok;
    const othersUs = machineBusyMicros() - before.busy - frontUs - fpmUs - wrkUs - self.user - self.system;
    run.othersPct = Math.max(0, (100 * othersUs) / (windowUs * cpus().length));
    if (run.wrk.problem !== null) run.failure = `wrk output not understood: ${run.wrk.problem}`;
  } finally {
    await stopDaemon(running.daemon);
  }
  return run;
}

// ---- report ----

function fmt(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '–';
}

/** Each configuration's median run by req/s (a whole run, so that a row's numbers belong together). */
function medians(runs: readonly Run[]): Map<string, { median: Run; all: Run[] }> {
  const groups = new Map<string, Run[]>();
  for (const r of runs) {
    const key = `${r.workload} ${r.concurrency} ${r.front}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const out = new Map<string, { median: Run; all: Run[] }>();
  for (const [key, all] of groups) {
    const sorted = [...all].sort((a, b) => (a.wrk.rps || 0) - (b.wrk.rps || 0));
    out.set(key, { median: sorted[(sorted.length - 1) >> 1]!, all });
  }
  return out;
}

function table(
  w: Workload,
  rows: ReturnType<typeof medians>,
  fronts: readonly FrontName[],
  levels: number[],
) {
  const multi = [...rows.values()].some((r) => r.all.length > 1);
  const lines = [
    `| front | conc. | req/s${multi ? ' (median) | req/s all rounds' : ''} | p50 ms | p99 ms | errors | front CPU µs/req | php-fpm CPU µs/req | other load % |`,
    `|---|---:|---:${multi ? '|---' : ''}|---:|---:|---:|---:|---:|---:|`,
  ];
  for (const c of levels) {
    for (const f of fronts) {
      const row = rows.get(`${w.name} ${c} ${f}`);
      if (row === undefined) continue;
      const r = row.median;
      const all = row.all
        .map((x) => x.wrk.rps)
        .sort((a, b) => a - b)
        .map((x) => fmt(x, 0))
        .join(' / ');
      const errors = row.all.reduce((n, x) => n + x.wrk.errors + (x.failure === null ? 0 : 1), 0);
      const failures = row.all.filter((x) => x.failure !== null).map((x) => x.failure);
      lines.push(
        `| ${f} | ${c} | ${fmt(r.wrk.rps, 0)}${multi ? ` | ${all}` : ''} | ${fmt(r.wrk.p50Ms, 2)} | ${fmt(r.wrk.p99Ms, 2)} | ${errors}${failures.length > 0 ? ` (${failures[0]!.split('\n')[0]})` : ''} | ${fmt(r.frontUsPerReq, 0)} | ${fmt(r.fpmUsPerReq, 0)} | ${fmt(r.othersPct, 0)} |`,
      );
    }
  }
  return lines.join('\n');
}

/**
 * The issue's goal per concurrency: fpm-bridge's req/s at least each peer's, and at concurrency 32 and 256
 * also a p99 below each peer's.
 */
const pct = (x: number) => (Number.isFinite(x) ? `${Math.round(x * 100)} %` : 'n/a');

function goalLine(w: Workload, c: number, rows: ReturnType<typeof medians>): string {
  const ours = rows.get(`${w.name} ${c} ${OURS}`)?.median;
  const peers = PEERS.map((p) => rows.get(`${w.name} ${c} ${p}`)?.median).filter((r) => r !== undefined);
  if (ours === undefined || peers.length === 0) return `- c=${c}: not enough fronts measured.`;
  const rpsMet = peers.every((p) => !(ours.wrk.rps < p.wrk.rps)) && Number.isFinite(ours.wrk.rps);
  const p99Counts = c >= 32;
  const p99Met = peers.every((p) => !(ours.wrk.p99Ms >= p.wrk.p99Ms)) && Number.isFinite(ours.wrk.p99Ms);
  const vs = (pick: (r: Run) => number, digits: number) =>
    peers.map((p) => `${p.front} ${fmt(pick(p), digits)}`).join(', ');
  const met = rpsMet && (!p99Counts || p99Met);
  const best = Math.max(...peers.map((p) => p.wrk.rps));
  const floor = rows.get(`${w.name} ${c} node-floor`)?.median;
  return (
    `- c=${c}: req/s ${OURS} ${fmt(ours.wrk.rps, 0)} vs ${vs((r) => r.wrk.rps, 0)} — ≥ both ${rpsMet ? 'yes' : '**no**'}; ` +
    `p99 ${fmt(ours.wrk.p99Ms, 2)} ms vs ${vs((r) => r.wrk.p99Ms, 2)} — lower than both ${p99Met ? 'yes' : 'no'}` +
    `${p99Counts ? '' : ' (not part of the goal at c=1)'}. Goal **${met ? 'met' : 'not met'}**.` +
    (floor === undefined
      ? ''
      : ` ${OURS} ${pct(ours.wrk.rps / best)} of the best peer's req/s; node-floor ${pct(floor.wrk.rps / best)}.`)
  );
}

/**
 * What the numbers mean, from profiling done when this bench was written (2-CPU VM shared with other work,
 * Node 20: /proc CPU times, \`--cpu-prof\`, perf, strace). Kept in the report so it travels with the tables;
 * rerun the profiles when the server or the FastCGI core changes.
 */
const READING = `- **On 2 CPUs shared by the front, php-fpm and wrk, req/s follows the CPU time per request** (the two CPU
  columns): each front's req/s is close to the machine's free CPU divided by front + php-fpm CPU per request.
  The machine's own speed drifts: php-fpm's CPU per identical request moves by ±20 % between runs minutes
  apart, so single differences under about 15 % are not findings; the fronts run interleaved for that reason.
- **The Node floor.** \`node-floor\` does nothing a real front must (no validation, routing, limits,
  timeouts or metrics), and still stays behind nginx or HAProxy in most rows: a process running Node spends
  about 35 µs of user time per hello request on the event loop, V8 and its socket wrappers before any work
  of its own, where nginx spends about 10 and HAProxy about 15 (alternating runs on one php-fpm, medians of
  3: user µs per request nginx 9–11, HAProxy 13–18, node-floor 34–49, \`serve\` 32–60; system time is the same
  25–33 µs for all). On this machine the goal (≥ both peers in req/s, with a lower p99) is therefore out of
  reach for any front written in Node, not only for this one: \`serve\` reaches the floor on hello world at
  32 connections (and there passes both peers in req/s), 97 % of it at 1 connection and 80 % at 256, and
  65–80 % of it with 100 KiB responses and 1 MiB uploads (in the 100 KiB row at 256 connections the floor
  itself falls behind: it collects bodies without backpressure).
- **What was cut (2026-12-01)**: \`serve\` runs on its own HTTP/1.1 server (\`server/http1/\`) instead of
  \`node:http\` (request and response streams, header objects and per-request timers): measured by
  alternating the two builds on one php-fpm, front CPU per hello request −21 % at 32 connections and −35 % at
  256 (req/s +18 % and +37 %), −32 % per 100 KiB response, −15 % per 1 MiB upload. With requests waiting for
  php-fpm, a new request is handled after the events already in (php-fpm's answers first, each handing a
  worker its next request at once): +7–12 % req/s at 32 and 256 connections. A streamed response not
  finished when its headers are in waits until the end of the event-loop turn, so a body whose last reads
  are already in (a 100 KiB body comes in two) still leaves in one write: −27 % front CPU per 100 KiB
  response, +29 % req/s.
- **Earlier cuts (2026-11-30)**: a response PHP finished before its headers were handed out leaves in one
  write with a Content-Length; larger bodies go through a small pump instead of \`stream.pipeline()\`;
  request bodies go to php-fpm as one corked writev per chunk; the router remembers what a docroot path is for
  \`fileCacheTtl\` (as nginx's \`open_file_cache\`); the bundles are built without esbuild's \`keepNames\`;
  php-fpm's answers are read through \`onread\` into the connection's own buffer. Hello c=32 went from about
  4,000 to about 7,200 req/s over those, before the HTTP server.
- **nginx's p99 of seconds at concurrency 32 and 256** is php-fpm's listen backlog, not nginx's CPU: nginx
  has no upstream queue, so with more requests in flight than workers it opens one connection per request, and
  those beyond the kept ones (one per worker) wait in php-fpm's backlog while every worker stays with a kept
  connection, until one of those closes (every 1000 requests, \`keepalive_requests\`). HAProxy (\`maxconn\` on the
  server) and fpm-bridge (\`maxConns\` + FIFO) queue in the front instead, so a request waits its turn rather
  than a kept connection's lifetime: their p99 stays in tens of milliseconds where nginx's is seconds.
- **What is left**: a response that spans event-loop turns still streams in pieces (a write per read and
  a chunked terminator), and on this VM each write that wakes the client is costly; larger read buffers, a
  larger body stream high-water mark and uncorking on setImmediate instead of nextTick were each tried
  without a clear gain.
- **The 1 MiB POST reads the body whole first (2026-12-07)**, as nginx does and HAProxy does not: a worker is
  taken only once the body is in (\`requestBuffering\`, so slow uploads cannot pin every worker). Alternating
  the two builds, 5 runs each on a machine loaded 8–11 by other work (medians, min–max): req/s 313 [277–498]
  streamed against 308 [216–457] read whole at c=1, 293 [201–317] against 269 [205–402] at c=32, 263
  [126–460] against 286 [134–388] at c=256; front CPU per upload 1488 against 1487 µs at c=32 — level within
  the noise. That holds because the body is kept as the socket's reads came and written to php-fpm from them:
  joined into one Buffer first, the copy and a second megabyte per request doubled the garbage collections
  and cost 50 % more front CPU at c=32.`;

// ---- setup ----

const toolPaths = new Map<string, string>();
function tool(name: (typeof TOOLS)[number]): string {
  return toolPaths.get(name)!;
}

/** First line a tool prints for its version flag (nginx and wrk print it on stderr; wrk exits 1). */
function version(command: string, flag: string): string {
  const r = spawnSync(command, [flag], { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`.trim().split('\n')[0]!.trim();
}

function durationSeconds(name: string, value: string): number {
  const m = /^(\d+)s?$/.exec(value);
  if (m === null || Number(m[1]) < 1) {
    throw new Error(`invalid --${name} "${value}" — expected whole seconds, e.g. 10s (wrk's resolution)`);
  }
  return Number(m[1]);
}

async function main(): Promise<void> {
  const started = Date.now();
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10s' },
      warmup: { type: 'string', default: '2s' },
      /** Warm-up goes on (in --warmup steps, 5 at most) until the front has answered this many requests. */
      'warmup-requests': { type: 'string', default: '5000' },
      workers: { type: 'string', default: '8' },
      threads: { type: 'string', default: '1' },
      rounds: { type: 'string', default: '1' },
      concurrency: { type: 'string', default: '1,32,256' },
      workloads: { type: 'string', default: WORKLOADS.map((w) => w.name).join(',') },
      fronts: { type: 'string', default: FRONT_NAMES.join(',') },
      /** Write a V8 CPU profile of fpm-bridge per measurement into this directory (node --cpu-prof). */
      'cpu-prof': { type: 'string' },
      'no-write': { type: 'boolean', default: false },
    },
  });
  const missing = TOOLS.filter((t) => {
    const path = findTool(t);
    if (path !== null) toolPaths.set(t, path);
    return path === null;
  });
  if (missing.length > 0) {
    console.error(`missing ${missing.join(', ')} — install with:\n  apt-get install -y nginx haproxy wrk`);
    process.exit(1);
  }
  try {
    accessSync(CLI);
  } catch {
    console.error(`missing ${CLI} — run \`npm run build\` first (\`npm run bench:fronts\` does)`);
    process.exit(1);
  }
  const duration = durationSeconds('duration', values.duration);
  const warmup = durationSeconds('warmup', values.warmup);
  const workers = Number(values.workers);
  const threads = Number(values.threads);
  const rounds = Number(values.rounds);
  const levels = list(values.concurrency).map(Number);
  const fronts = list(values.fronts).map((name) => {
    if (!(FRONT_NAMES as readonly string[]).includes(name))
      throw new Error(`unknown front "${name}" — expected ${FRONT_NAMES.join(', ')}`);
    return name as FrontName;
  });
  const workloads = list(values.workloads).map((name) => {
    const w = WORKLOADS.find((x) => x.name === name);
    if (w === undefined)
      throw new Error(`unknown workload "${name}" — expected ${WORKLOADS.map((x) => x.name).join(', ')}`);
    return w;
  });

  const dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-bench-fronts-'));
  const docroot = join(dir, 'public');
  mkdirSync(docroot);
  for (const w of WORKLOADS) {
    writeFileSync(join(docroot, w.script), w.php);
    if (w.upload > 0) {
      // wrk adds Content-Length itself for a body set in its script.
      writeFileSync(
        join(dir, `${w.name}.lua`),
        `wrk.method = "POST"\nwrk.body = string.rep("x", ${w.upload})\nwrk.headers["Content-Type"] = "application/octet-stream"\n`,
      );
    }
  }
  const { fpm, log: fpmLog } = benchFpm(workers);
  // Ctrl-C or kill: stop every process started here, php-fpm too (its supervisor kills it on exit).
  const onSignal = (signal: NodeJS.Signals) => {
    for (const child of live) killGroup(child, 'SIGTERM');
    rmSync(dir, { recursive: true, force: true });
    console.error(`\n${signal}: stopped`);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const settings: Settings = {
    threads,
    warmup,
    warmupRequests: Number(values['warmup-requests']),
    duration,
    fpmPid: null,
    cpuProf: values['cpu-prof'],
  };
  const runs: Run[] = [];
  const loadBefore = loadavg().map((x) => x.toFixed(2));
  try {
    await fpm.start();
    settings.fpmPid = fpm.pid;
    const setup: FrontSetup = { dir, docroot, socket: fpm.socket, workers };
    let step = 0;
    for (let round = 1; round <= rounds; round++) {
      for (const w of workloads) {
        for (const c of levels) {
          const order = fronts.map((_, i) => fronts[(i + step) % fronts.length]!);
          step++;
          for (const f of order) {
            const r = await measure(f, w, c, round, setup, settings);
            runs.push(r);
            console.log(
              `round ${round}  ${w.name.padEnd(8)} c=${String(c).padEnd(3)} ${f.padEnd(10)} ` +
                `${fmt(r.wrk.rps, 0).padStart(6)} req/s  p50 ${fmt(r.wrk.p50Ms, 2)} ms  p99 ${fmt(r.wrk.p99Ms, 2)} ms  ` +
                `errors ${r.wrk.errors}  other load ${fmt(r.othersPct, 0)}%` +
                (r.failure === null ? '' : `\n  FAILED: ${r.failure}`),
            );
          }
        }
      }
    }
  } finally {
    for (const child of live) killGroup(child, 'SIGTERM');
    await fpm.stop();
    rmSync(dir, { recursive: true, force: true });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const loadAfter = loadavg().map((x) => x.toFixed(2));

  const rows = medians(runs);
  const sections = workloads.map(
    (w) =>
      `#### ${w.title}\n\n${table(w, rows, fronts, levels)}\n\n${levels.map((c) => goalLine(w, c, rows)).join('\n')}`,
  );
  const args = process.argv.slice(2);
  const command = `npm run bench:fronts${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`;
  const php = phpFpmVersion();
  const nproc = cpus().length;
  const warnings = fpmLog.filter((l) => /WARNING|ERROR/.test(l));
  const others = runs
    .map((r) => r.othersPct)
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
  const medianOthers = others[(others.length - 1) >> 1] ?? Number.NaN;
  const busyNote =
    medianOthers > 20
      ? `**Provisional: other processes kept ${fmt(others[0]!, 0)}–${fmt(others.at(-1)!, 0)} % of the CPUs busy during ` +
        `these runs (median ${fmt(medianOthers, 0)} %), so every front got an unknown, varying share of the machine. ` +
        'Rerun on a quiet machine before drawing conclusions.**\n\n'
      : '';
  const report = `## HTTP fronts: \`fpm-bridge serve\` vs nginx and HAProxy

Generated by \`bench/fronts.ts\` on ${new Date().toISOString()} (took ${((Date.now() - started) / 60_000).toFixed(1)} min).

- Command: \`${command}\` (the npm script builds \`dist/\`, then runs \`node --import tsx bench/fronts.ts\`)
- Machine: ${nproc} CPUs (${cpus()[0]?.model ?? 'unknown'}) **shared by the front, php-fpm and wrk**; load average
  (1/5/15 min) ${loadBefore.join(' / ')} before, ${loadAfter.join(' / ')} after. Node ${process.version}, ${php},
  ${version(tool('nginx'), '-v')}, ${version(tool('haproxy'), '-v')}, ${version(tool('wrk'), '-v')}.
- php-fpm: one pool for every front, \`pm = static\` with ${workers} workers, Unix socket, Debian's php.ini, started by
  \`PhpFpmSupervisor\`. Scripts: \`echo '${HELLO}'\`; \`echo str_repeat('x', 102400)\`;
  \`echo strlen(file_get_contents('php://input'))\` for the POST.
- Fronts, each with the same CPU budget of one event loop (no CPU pinning): **nginx** \`worker_processes 1\`,
  \`upstream { keepalive ${workers}; }\` + \`fastcgi_keep_conn on\`, \`fastcgi_buffers 16 16k\`, request bodies buffered in
  memory (\`client_body_buffer_size 2m\`); **HAProxy** \`nbthread 1\`, \`fcgi-app\` (docroot, index, path-info,
  \`option keep-conn\`), \`http-reuse always\`, \`server unix@… proto fcgi maxconn ${workers}\`; **fpm-bridge**
  \`node dist/cli.js serve DOCROOT --fpm unix:…\` (one process) with \`maxConns ${workers}\`, other settings at their
  defaults (metrics on, file checks on). No access log on any front. The generated configs are in
  \`bench/fronts.ts\` (\`nginxConf\`, \`haproxyConf\`). **node-floor** is a yardstick, not a contender
  ([\`bench/node-floor.ts\`](node-floor.ts)): the least an HTTP front in Node can do — \`node:net\`, the head found
  with string searches and not validated, the script path taken from the URL, 15 params, bodies collected and
  responses sent whole, over fpm-bridge's FastCGI pool; no routing, limits, timeouts, logs or metrics. No
  front written in Node can cost less per request.
- Load: wrk, ${threads} thread(s), *conc.* kept connections, closed loop (each connection sends its next
  request when the last response is in), \`--timeout ${WRK_TIMEOUT}\`; the POST body is set in a wrk Lua script.
  Per measurement: the front is started, answers one request of the workload correctly (status 200, the exact
  body) or is not measured; warm-up load in steps of ${warmup} s until it has answered
  ${settings.warmupRequests} requests (5 steps at most; fpm-bridge's JIT needs that many to settle), then ${duration} s measured, then the front is stopped.
  ${rounds} round(s); fronts interleaved per workload and concurrency, their order rotating.${rounds > 1 ? ' Each row is the median run by req/s.' : ''}
- Columns: req/s counts 2xx/3xx responses; p50/p99 are wrk's (\`--latency\`); errors are non-2xx/3xx responses
  plus socket errors (connect, read, write, timeout). "front CPU" and "php-fpm CPU" are user+system time
  per response from /proc (10 ms ticks); "other load" is the share of the ${nproc} CPUs busy with anything but the
  front, php-fpm and wrk during the window — **with other load high, the numbers say little**.

${busyNote}### Results

${sections.join('\n\n')}

### Reading

${READING}
${warnings.length > 0 ? `\nphp-fpm logged ${warnings.length} warnings/errors during the runs; the first: \`${warnings[0]}\`\n` : ''}`;

  console.log(`\n${sections.join('\n\n')}`);
  if (!values['no-write']) {
    writeSection('fronts', report);
    console.log(`\nwrote its section of ${RESULTS_FILE}`);
  }
}

main().catch((err: Error) => {
  console.error(err);
  process.exitCode = 1;
});
