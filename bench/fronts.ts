/**
 * Benchmark: `fpm-bridge serve` against nginx and HAProxy as HTTP fronts of one php-fpm pool. The same
 * php-fpm (`pm = static`), the same PHP and the same h2load load for all of them; workloads: hello world, a
 * 100 KiB response and a 1 MiB POST at concurrency 1, 32 and 256, and real applications (bench/apps.ts:
 * WordPress's front page, the Laravel example's) at 8 and 32.
 *
 *   npm run bench:fronts                                  # everything (~45 min), writes its section of RESULTS.md
 *   npm run bench:fronts -- --workloads hello --concurrency 32 --rounds 5 --no-write
 *   npm run bench:fronts -- --workloads hello --concurrency 32 --fronts fpm-bridge --cpu-prof /tmp/prof
 *   npm run bench:fronts -- --fronts fpm-bridge,fpm-bridge-base --base /tmp/old/dist --no-write   # A/B of builds
 *
 * Needs Debian's nginx, haproxy and nghttp2-client (h2load) (the script installs nothing: it names the
 * missing ones and exits) and a built `dist/cli.js` (the npm script builds it first); the apps need what
 * scripts/apps/setup.sh installs, and are skipped, saying why, without it.
 *
 * Each measurement starts its front afresh and stops it afterwards. That is not for the front's sake but for
 * php-fpm's: a worker that answered on a kept connection (FCGI_KEEP_CONN) stays with that connection until
 * the front closes it, so a front left idle with its kept connections would hold the workers the next front
 * needs. The fronts alternate (round → workload → concurrency → every front, the order rotating each step),
 * so a burst of other load on this shared machine is spread over all of them, and each ratio is taken between
 * runs of one round, minutes apart at most.
 */

import { spawnSync } from 'node:child_process';
import { accessSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { APPS, type AppSite } from './apps.ts';
import { LoadWindow } from './cpu-time.ts';
import { type LoadResult, NO_LOAD, runLoad } from './h2load.ts';
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
import { fmt, fmtSpread, type Spread, spread } from './stats.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist/cli.js');

// ---- workloads ----

interface Workload {
  name: string;
  title: string;
  /** Concurrency levels measured unless --concurrency names others. */
  levels: readonly number[];
  /** Request body size in bytes (POST), or 0 for a GET. */
  upload: number;
  /** Seconds measured per run at least (the command line's --duration when longer). */
  minSeconds: number;
  /** Responses a front answers before it is measured at least (its JIT settles, the app's caches fill). */
  warmupRequests: number;
  /** node-floor can run it: a script named by the URL, nothing routed. */
  synthetic: boolean;
  /** The app's docroot, params, page and check; for the synthetic workloads, made in the bench's own docroot. */
  site: (docroot: string) => AppSite | string;
}

const HELLO = 'Hello, World!';
const KIB = 1024;
const MIB = 1024 * KIB;

/** A script of the bench's own docroot, answered with exactly `expect`. */
function script(name: string, php: string, expect: string): (docroot: string) => AppSite {
  return (docroot) => {
    writeFileSync(join(docroot, name), php);
    return {
      docroot,
      params: {},
      host: '127.0.0.1',
      path: `/${name}`,
      pids: [],
      check: (body) =>
        body === expect
          ? null
          : body.length !== expect.length
            ? `body of ${body.length} bytes, expected ${expect.length}`
            : `body ${JSON.stringify(body.slice(0, 40))} differs from the expected one`,
      stop: () => {},
    };
  };
}

const WORKLOADS: readonly Workload[] = [
  {
    name: 'hello',
    title: 'hello world (13-byte response)',
    levels: [1, 32, 256],
    upload: 0,
    minSeconds: 0,
    warmupRequests: 5000,
    synthetic: true,
    site: script('hello.php', `<?php\necho '${HELLO}';\n`, HELLO),
  },
  {
    name: '100kb',
    title: '100 KiB response',
    levels: [1, 32, 256],
    upload: 0,
    minSeconds: 0,
    warmupRequests: 5000,
    synthetic: true,
    site: script('100kb.php', `<?php\necho str_repeat('x', ${100 * KIB});\n`, 'x'.repeat(100 * KIB)),
  },
  {
    name: 'post-1mb',
    title: '1 MiB POST (PHP reads the body and answers its length)',
    levels: [1, 32, 256],
    upload: MIB,
    minSeconds: 0,
    warmupRequests: 2000,
    synthetic: true,
    site: script('post.php', `<?php\necho strlen(file_get_contents('php://input'));\n`, String(MIB)),
  },
  ...APPS.map(
    (app): Workload => ({
      name: app.name,
      title: app.title,
      levels: app.levels,
      upload: 0,
      minSeconds: app.minSeconds,
      warmupRequests: 100,
      synthetic: false,
      site: () => app.prepare(),
    }),
  ),
];

/**
 * `node-floor` is no contender but a yardstick: the least a front written in Node can cost (node-floor.ts).
 * `nginx-keepalive` is nginx with kept connections to php-fpm, which starve clients (see nginxConf).
 * `fpm-bridge-base` is another build of fpm-bridge (--base DIR), for A/B comparisons of a change.
 */
const FRONT_NAMES = [
  'nginx',
  'haproxy',
  'fpm-bridge',
  'node-floor',
  'nginx-keepalive',
  'fpm-bridge-base',
] as const;
type FrontName = (typeof FRONT_NAMES)[number];
const DEFAULT_FRONTS: readonly FrontName[] = ['nginx', 'haproxy', 'fpm-bridge', 'node-floor'];
const OURS: FrontName = 'fpm-bridge';
const TOOLS = ['nginx', 'haproxy', 'h2load'] as const;

/** The issue's goal for real pages: serve's req/s at least this share of nginx's. */
const APP_RPS_GOAL = 0.98;
/**
 * A front is fair when its slowest client got at least this share of its fastest client's rate. With a
 * closed loop and a FIFO queue every client gets the same turn, give or take a request in a short run; a
 * front that starves clients (nginx with kept connections) leaves some near zero.
 */
const FAIR = 0.5;

// ---- the fronts ----

interface FrontSetup extends PeerSetup {
  /** fpm-bridge only: write a V8 CPU profile into this directory under this name. */
  cpuProf?: { dir: string; name: string };
  /** fpm-bridge-base: the other build's directory (its cli.js). */
  base?: string;
  /** fpm-bridge and fpm-bridge-base: extra Node flags. */
  nodeFlags: readonly string[];
}

interface RunningFront {
  url: string;
  pid: number;
  daemon: Daemon;
}

async function startFront(name: FrontName, s: FrontSetup): Promise<RunningFront> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  if (name === 'nginx' || name === 'haproxy' || name === 'nginx-keepalive') {
    const daemon =
      name === 'nginx-keepalive'
        ? await startPeer('nginx', { ...s, nginxKeepalive: s.workers }, port)
        : await startPeer(name, s, port);
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
      ...(s.params === undefined ? {} : { FPM_BRIDGE_SET_PARAMS: JSON.stringify(s.params) }),
    });
    const prof =
      s.cpuProf === undefined
        ? []
        : ['--cpu-prof', `--cpu-prof-dir=${s.cpuProf.dir}`, `--cpu-prof-name=${s.cpuProf.name}`];
    const cli = name === 'fpm-bridge-base' ? join(s.base!, 'cli.js') : CLI;
    daemon = spawnDaemon(
      process.execPath,
      [
        ...s.nodeFlags,
        ...prof,
        cli,
        'serve',
        s.docroot,
        '--listen',
        `127.0.0.1:${port}`,
        '--fpm',
        `unix:${s.socket}`,
      ],
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

/** One request through the front: null if it answers 200 with the page, else what is wrong. */
function checkFront(front: RunningFront, site: AppSite, upload: number): Promise<string | null> {
  return new Promise((resolve) => {
    const req = request(
      `${front.url}${site.path}`,
      { method: upload > 0 ? 'POST' : 'GET', headers: { host: site.host, connection: 'close' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('latin1');
          if (res.statusCode !== 200)
            resolve(`status ${res.statusCode}: ${JSON.stringify(body.slice(0, 200))}`);
          else resolve(site.check(body));
        });
      },
    );
    req.on('error', (err) => resolve(`request failed: ${err.message}`));
    req.end(upload > 0 ? Buffer.alloc(upload, 'x') : undefined);
  });
}

// ---- one measurement ----

interface Run {
  front: FrontName;
  workload: string;
  concurrency: number;
  round: number;
  load: LoadResult;
  /** Why the front was not measured (did not start, or answered wrongly), else null. */
  failure: string | null;
  /** CPU time per 2xx/3xx response of the front's processes, and of php-fpm's master and workers, in µs. */
  frontUsPerReq: number;
  fpmUsPerReq: number;
  /** Share of all CPUs busy with anything but the front, php-fpm, the app's database, h2load and this script. */
  othersPct: number;
  /** The 1-minute load average at the end of the run. */
  loadavg: number;
}

interface Settings {
  h2load: string;
  warmup: number;
  duration: number;
  fpmPid: number | null;
  cpuProf: string | undefined;
}

async function measure(
  front: FrontName,
  w: Workload,
  site: AppSite,
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
    load: NO_LOAD,
    failure: null,
    frontUsPerReq: Number.NaN,
    fpmUsPerReq: Number.NaN,
    othersPct: Number.NaN,
    loadavg: Number.NaN,
  };
  const cpuProf =
    o.cpuProf === undefined
      ? undefined
      : { dir: o.cpuProf, name: `${w.name}-c${concurrency}-r${round}-${front}.cpuprofile` };
  let running: RunningFront;
  try {
    running = await startFront(front, { ...setup, docroot: site.docroot, params: site.params, cpuProf });
  } catch (err) {
    run.failure = `did not start: ${(err as Error).message}`;
    return run;
  }
  try {
    run.failure = await checkFront(running, site, w.upload);
    if (run.failure !== null) return run;
    const load = (seconds: number) =>
      runLoad({
        h2load: o.h2load,
        url: `${running.url}${site.path}`,
        connections: concurrency,
        seconds,
        body: w.upload > 0 ? join(setup.dir, `${w.name}.body`) : null,
        headers: [
          `:authority: ${site.host}`,
          ...(w.upload > 0 ? ['content-type: application/octet-stream'] : []),
        ],
        logFile: join(setup.dir, 'h2load.log'),
      });
    // fpm-bridge runs on a JIT: until its hot functions are optimized it spends several times the CPU per
    // request it does later, and a slow front gets few requests per second of warm-up. So warm-up lasts until
    // a number of responses too (bounded: a front that stays slow is measured slow).
    let warmed = 0;
    for (let i = 0; i < 5 && warmed < w.warmupRequests; i++) warmed += (await load(o.warmup)).ok;
    const window = new LoadWindow([running.pid, o.fpmPid!, ...site.pids], cpus().length);
    run.load = await load(Math.max(o.duration, w.minSeconds));
    const used = window.end();
    run.frontUsPerReq = used.treesUs[0]! / run.load.ok;
    run.fpmUsPerReq = used.treesUs[1]! / run.load.ok;
    run.othersPct = used.othersPct;
    run.loadavg = used.loadavg;
    if (run.load.problem !== null) run.failure = `h2load output not understood: ${run.load.problem}`;
  } finally {
    await stopDaemon(running.daemon);
  }
  return run;
}

// ---- report ----

type Groups = Map<string, Run[]>;

const key = (workload: string, c: number, front: string) => `${workload} ${c} ${front}`;

function group(runs: readonly Run[]): Groups {
  const out: Groups = new Map();
  for (const r of runs) {
    const k = key(r.workload, r.concurrency, r.front);
    out.set(k, [...(out.get(k) ?? []), r]);
  }
  return out;
}

const of = (runs: readonly Run[], pick: (r: Run) => number): Spread =>
  spread(runs.filter((r) => r.failure === null).map(pick));

/** The slowest client's rate over the fastest's. */
const fairness = (r: Run) => r.load.clientMin / r.load.clientMax;

function table(w: Workload, groups: Groups, fronts: readonly FrontName[], levels: readonly number[]): string {
  const lines = [
    '| front | conc. | req/s | p50 ms | p99 ms | slowest ÷ fastest client | errors | front CPU µs/req | php-fpm CPU µs/req | other load % | load avg |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const c of levels) {
    for (const f of fronts) {
      const runs = groups.get(key(w.name, c, f));
      if (runs === undefined) continue;
      const errors = runs.reduce((n, x) => n + x.load.errors + (x.failure === null ? 0 : 1), 0);
      const failure = runs.map((x) => x.failure).find((x) => x !== null);
      lines.push(
        `| ${f} | ${c} | ${fmtSpread(
          of(runs, (r) => r.load.rps),
          0,
        )} | ${fmt(of(runs, (r) => r.load.p50Ms).median, 2)} | ` +
          `${fmtSpread(
            of(runs, (r) => r.load.p99Ms),
            2,
          )} | ${fmt(of(runs, fairness).median, 2)} | ` +
          `${errors}${failure === undefined || failure === null ? '' : ` (${failure.split('\n')[0]})`} | ` +
          `${fmtSpread(
            of(runs, (r) => r.frontUsPerReq),
            0,
          )} | ${fmt(of(runs, (r) => r.fpmUsPerReq).median, 0)} | ` +
          `${fmtSpread(
            of(runs, (r) => r.othersPct),
            0,
          )} | ${fmtSpread(
            of(runs, (r) => r.loadavg),
            1,
          )} |`,
      );
    }
  }
  return lines.join('\n');
}

/** `pick(ours) ÷ pick(theirs)` per round, over the rounds where both were measured. */
function ratios(groups: Groups, w: string, c: number, theirs: FrontName, pick: (r: Run) => number): Spread {
  const a = groups.get(key(w, c, OURS)) ?? [];
  const b = groups.get(key(w, c, theirs)) ?? [];
  const values = a.flatMap((x) => {
    const y = b.find((r) => r.round === x.round && r.failure === null);
    return x.failure === null && y !== undefined ? [pick(x) / pick(y)] : [];
  });
  return spread(values);
}

/**
 * fpm-bridge against each other front at one concurrency, as per-round ratios, and the issue's goals where
 * they apply: on a real page req/s ≥ 0.98× nginx's with a p99 no worse and every client served fairly; on
 * hello world at 32 connections a p99 no worse than nginx's.
 */
function ratioLines(w: Workload, c: number, groups: Groups, fronts: readonly FrontName[]): string[] {
  const ours = groups.get(key(w.name, c, OURS));
  if (ours === undefined) return [];
  const out: string[] = [];
  for (const f of fronts) {
    if (f === OURS || !groups.has(key(w.name, c, f))) continue;
    const rps = ratios(groups, w.name, c, f, (r) => r.load.rps);
    const p99 = ratios(groups, w.name, c, f, (r) => r.load.p99Ms);
    const cpu = ratios(groups, w.name, c, f, (r) => r.frontUsPerReq);
    let goal = '';
    if (f === 'nginx' && !w.synthetic) {
      const fair = of(ours, fairness).min >= FAIR;
      const met = rps.median >= APP_RPS_GOAL && p99.median <= 1 && fair;
      goal =
        ` Goal (req/s ≥ ${APP_RPS_GOAL}× nginx's, p99 no worse, slowest client ≥ ${FAIR} of the fastest in every run):` +
        ` **${met ? 'met' : 'not met'}**.`;
    } else if (f === 'nginx' && w.name === 'hello' && c === 32) {
      goal = ` Goal (p99 ≤ nginx's): **${p99.median <= 1 ? 'met' : 'not met'}**.`;
    }
    out.push(
      `- c=${c}, ${OURS} ÷ ${f}: req/s ${fmtSpread(rps, 2, '×')}, p99 ${fmtSpread(p99, 2, '×')}, ` +
        `front CPU per request ${fmtSpread(cpu, 2, '×')}.${goal}`,
    );
  }
  return out;
}

/** Every run, for the record: what each measured and how loaded the machine was meanwhile. */
function runLog(runs: readonly Run[]): string {
  const lines = [
    '| round | workload | conc. | front | req/s | p99 ms | slowest ÷ fastest client | front CPU µs/req | other load % | load avg |',
    '|---:|---|---:|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of runs) {
    lines.push(
      `| ${r.round} | ${r.workload} | ${r.concurrency} | ${r.front} | ${fmt(r.load.rps, 0)} | ${fmt(r.load.p99Ms, 2)} | ` +
        `${fmt(fairness(r), 2)} | ${fmt(r.frontUsPerReq, 0)} | ${fmt(r.othersPct, 0)} | ${fmt(r.loadavg, 1)} |` +
        (r.failure === null ? '' : ` ${r.failure.split('\n')[0]}`),
    );
  }
  return lines.join('\n');
}

/**
 * What the numbers mean, from profiling done when this bench was written (2-CPU VM shared with other work,
 * Node 20: /proc CPU times, `--cpu-prof`, perf, strace). Kept in the report so it travels with the tables;
 * rerun the profiles when the server or the FastCGI core changes.
 */
const READING = `- **On 2 CPUs shared by the front, php-fpm and the load generator, req/s follows the CPU time per
  request** (the two CPU columns): each front's req/s is close to the machine's free CPU divided by front +
  php-fpm CPU per request. The machine's own speed drifts and other work comes and goes, hence the
  alternating rounds, the ratios taken within a round and the load recorded with every run.
- **The Node floor.** \`node-floor\` does nothing a real front must and still stays behind nginx or HAProxy
  on hello world: a process running Node spends about 35 µs of user time per request on the event loop, V8
  and its socket wrappers before any work of its own, where nginx spends about 10 and HAProxy about 15
  (alternating runs on one php-fpm, 2026-12-01, medians of 3: user µs per request nginx 9–11, HAProxy 13–18,
  node-floor 34–49, \`serve\` 32–60; system time the same 25–33 µs for all). Where the workload is tiny, a
  front in Node can at best tie with nginx's req/s; on a real page PHP's own CPU per request dwarfs that
  difference, which is why the goal on req/s is set there.
- **Why nginx opens a connection to php-fpm per request**: with \`keepalive\` to php-fpm, each kept connection
  holds a worker, and the requests beyond them wait in php-fpm's listen backlog until a kept connection closes
  (every \`keepalive_requests\`): some clients are served, others starve for seconds (\`--fronts nginx-keepalive\`
  shows it in the "slowest ÷ fastest client" column). HAProxy (\`maxconn\` on the server) and \`serve\`
  (\`maxConns\` + a FIFO) queue in the front instead.
- **Why \`serve\` fell behind nginx on WordPress's front page on a loaded machine** (2026-12-07, 3 alternating rounds at 8 connections on
  a machine loaded 8–13 by other work: req/s 0.63× [0.63–0.91], p99 1.96× [1.53–2.61], front CPU per page 3.97×
  [3.70–4.56], 1.8–2.2 ms against nginx's 0.5): WordPress renders for tens of milliseconds and its 51 KB page
  reaches \`serve\` in PHP's output-buffer pieces as it goes, and \`serve\` passes each piece on when it comes
  (strace, per page, the client's request and the FastCGI request included: 5.5 reads, 4.5 writev and 2.5
  write calls); on this VM a write that wakes the client is costly: writev was 17 % of \`serve\`'s CPU in a
  V8 profile. At 11–26 pages a second the JavaScript also runs mostly in V8's baseline tiers (perf: inline
  caches and baseline builtins on top); a 60 s warm-up instead of 3 s took the CPU per page from 2.5 to 1.9 ms.
  nginx, with \`fastcgi_buffering\` on (its default), reads the response into its buffers rather than passing
  each piece on as received. What would close the gap: fewer, larger writes for a response PHP is still
  producing, weighed against holding bytes back from the client; not done yet. On a quiet machine (2026-12-08,
  5 alternating rounds, other load 1 %) the same pages came level with nginx: the extra CPU per page only costs pages
  when PHP has no CPU to spare.
- **What makes \`serve\`'s p99 longer than nginx's at equal req/s: young-generation garbage collection**
  (2026-12-07; \`serve\` alone, hello world, 32 connections, 8 workers, h2load's per-request log set against
  the collector's events from \`perf_hooks\`, 6 runs of 8 s on a machine loaded 6–9 by other work). A scavenge
  came every ~1,000 requests and stopped the event loop for 5–13 ms (median per run) on this busy machine;
  in 5 of the 6 runs 32–62 % of the requests in the slowest 1 % overlapped one, against 3–6 % of all
  requests (in the sixth, at 2,300 req/s, the machine's own stalls made the tail); the event loop's delay
  p99 was 6–23 ms. A sampling heap profile counts about 11.6 KB allocated per hello request: the
  request handler's async frames and promises 1.6 KB, parsing the head 1.2 KB, the FastCGI params 0.8 KB,
  the CGI response 0.7 KB, the response head 0.5 KB, socket timeouts set twice per request 0.4 KB. nginx has
  no collector: its tail is php-fpm's scheduling alone. Tried (alternating runs, 3 of each): V8's
  \`--single-threaded-gc\` (longer pauses, fewer req/s), \`--max-semi-space-size=32\` (half the scavenges, each
  twice as long: p99 no better), \`--max-semi-space-size=4\` (pauses of 0.6–0.7 ms median, three times as many,
  no full collections; p99 20.2 against 23.1 ms and 46.6 against 109.2 ms in two pairs, req/s lower in one):
  a lead for a quiet machine, not a result. Allocating less per request is the cut that would help; not
  done yet.`;

// ---- setup ----

const toolPaths = new Map<string, string>();
function tool(name: (typeof TOOLS)[number]): string {
  return toolPaths.get(name)!;
}

/** First line a tool prints for its version flag (nginx prints it on stderr). */
function version(command: string, flag: string): string {
  const r = spawnSync(command, [flag], { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`.trim().split('\n')[0]!.trim();
}

function durationSeconds(name: string, value: string): number {
  const m = /^(\d+)s?$/.exec(value);
  if (m === null || Number(m[1]) < 1) {
    throw new Error(`invalid --${name} "${value}" — expected whole seconds, e.g. 10s`);
  }
  return Number(m[1]);
}

async function main(): Promise<void> {
  const started = Date.now();
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '6s' },
      warmup: { type: 'string', default: '2s' },
      workers: { type: 'string', default: '8' },
      rounds: { type: 'string', default: '5' },
      /** Concurrency levels for every workload, instead of each workload's own. */
      concurrency: { type: 'string' },
      workloads: { type: 'string', default: WORKLOADS.map((w) => w.name).join(',') },
      fronts: { type: 'string', default: DEFAULT_FRONTS.join(',') },
      /** The directory of another build (its cli.js) measured as front fpm-bridge-base. */
      base: { type: 'string' },
      /** Extra Node flags for fpm-bridge and fpm-bridge-base, space-separated. */
      'node-flags': { type: 'string', default: '' },
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
    const packages = missing.map((t) => (t === 'h2load' ? 'nghttp2-client' : t));
    console.error(
      `missing ${missing.join(', ')} — install with:\n  apt-get install -y ${packages.join(' ')}`,
    );
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
  const rounds = Number(values.rounds);
  const fronts = list(values.fronts).map((name) => {
    if (!(FRONT_NAMES as readonly string[]).includes(name))
      throw new Error(`unknown front "${name}" — expected ${FRONT_NAMES.join(', ')}`);
    return name as FrontName;
  });
  if (fronts.includes('fpm-bridge-base') && values.base === undefined)
    throw new Error('front fpm-bridge-base needs --base DIR: the directory of the other build (its cli.js)');
  const workloads = list(values.workloads).map((name) => {
    const w = WORKLOADS.find((x) => x.name === name);
    if (w === undefined)
      throw new Error(`unknown workload "${name}" — expected ${WORKLOADS.map((x) => x.name).join(', ')}`);
    return w;
  });
  const levelsOf = (w: Workload) =>
    values.concurrency === undefined ? w.levels : list(values.concurrency).map(Number);
  const frontsOf = (w: Workload) => fronts.filter((f) => w.synthetic || f !== 'node-floor');

  const dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-bench-fronts-'));
  const docroot = join(dir, 'public');
  mkdirSync(docroot);
  for (const w of workloads) {
    // h2load sends a file's bytes as each request's body, with its Content-Length.
    if (w.upload > 0) writeFileSync(join(dir, `${w.name}.body`), Buffer.alloc(w.upload, 'x'));
  }
  const { fpm, log: fpmLog } = benchFpm(workers);
  const sites = new Map<string, AppSite>();
  const skipped: string[] = [];
  // Ctrl-C or kill: stop every process started here, php-fpm too (its supervisor kills it on exit).
  const onSignal = (signal: NodeJS.Signals) => {
    for (const child of live) killGroup(child, 'SIGTERM');
    for (const site of sites.values()) site.stop();
    rmSync(dir, { recursive: true, force: true });
    console.error(`\n${signal}: stopped`);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const settings: Settings = {
    h2load: tool('h2load'),
    warmup,
    duration,
    fpmPid: null,
    cpuProf: values['cpu-prof'],
  };
  const runs: Run[] = [];
  const loadBefore = loadavg().map((x) => x.toFixed(2));
  try {
    for (const w of workloads) {
      const site = w.site(docroot);
      if (typeof site === 'string') {
        skipped.push(`- ${w.title}: not measured — ${site}.`);
        console.log(`skipping ${w.name}: ${site}`);
      } else {
        sites.set(w.name, site);
      }
    }
    await fpm.start();
    settings.fpmPid = fpm.pid;
    const setup: FrontSetup = {
      dir,
      docroot,
      socket: fpm.socket,
      workers,
      base: values.base,
      nodeFlags: values['node-flags'].split(' ').filter(Boolean),
    };
    let step = 0;
    for (let round = 1; round <= rounds; round++) {
      for (const w of workloads) {
        const site = sites.get(w.name);
        if (site === undefined) continue;
        const these = frontsOf(w);
        for (const c of levelsOf(w)) {
          const order = these.map((_, i) => these[(i + step) % these.length]!);
          step++;
          for (const f of order) {
            const r = await measure(f, w, site, c, round, setup, settings);
            runs.push(r);
            console.log(
              `round ${round}  ${w.name.padEnd(9)} c=${String(c).padEnd(3)} ${f.padEnd(15)} ` +
                `${fmt(r.load.rps, 0).padStart(6)} req/s  p50 ${fmt(r.load.p50Ms, 2)} ms  p99 ${fmt(r.load.p99Ms, 2)} ms  ` +
                `clients ${fmt(fairness(r), 2)}  front ${fmt(r.frontUsPerReq, 0)} µs/req  errors ${r.load.errors}  ` +
                `other load ${fmt(r.othersPct, 0)}%  loadavg ${fmt(r.loadavg, 1)}` +
                (r.failure === null ? '' : `\n  FAILED: ${r.failure}`),
            );
          }
        }
      }
    }
  } finally {
    for (const child of live) killGroup(child, 'SIGTERM');
    await fpm.stop();
    for (const site of sites.values()) site.stop();
    rmSync(dir, { recursive: true, force: true });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const loadAfter = loadavg().map((x) => x.toFixed(2));

  const groups = group(runs);
  const sections = workloads
    .filter((w) => sites.has(w.name))
    .map((w) => {
      const ratioText = levelsOf(w)
        .flatMap((c) => ratioLines(w, c, groups, frontsOf(w)))
        .join('\n');
      return `#### ${w.title}\n\n${table(w, groups, frontsOf(w), levelsOf(w))}\n\n${ratioText}`;
    });
  const args = process.argv.slice(2);
  const command = `npm run bench:fronts${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`;
  const php = phpFpmVersion();
  const nproc = cpus().length;
  const warnings = fpmLog.filter((l) => /WARNING|ERROR/.test(l));
  const others = spread(runs.map((r) => r.othersPct));
  const busyNote =
    others.median > 20
      ? `**Provisional: other processes kept ${fmt(others.min, 0)}–${fmt(others.max, 0)} % of the CPUs busy during ` +
        `these runs (median ${fmt(others.median, 0)} %), so every front got an unknown, varying share of the machine. ` +
        'Rerun on a quiet machine before drawing conclusions.**\n\n'
      : '';
  const report = `## HTTP fronts: \`fpm-bridge serve\` vs nginx and HAProxy

Generated by \`bench/fronts.ts\` on ${new Date().toISOString()} (took ${((Date.now() - started) / 60_000).toFixed(1)} min).

- Command: \`${command}\` (the npm script builds \`dist/\`, then runs \`node --import tsx bench/fronts.ts\`)
- Machine: ${nproc} CPUs (${cpus()[0]?.model ?? 'unknown'}) **shared by the front, php-fpm and h2load**; load average
  (1/5/15 min) ${loadBefore.join(' / ')} before, ${loadAfter.join(' / ')} after. Node ${process.version}, ${php},
  ${version(tool('nginx'), '-v')}, ${version(tool('haproxy'), '-v')}, ${version(tool('h2load'), '--version')}.
- php-fpm: one pool for every front and workload, \`pm = static\` with ${workers} workers, Unix socket, Debian's
  php.ini (opcache on), started by \`PhpFpmSupervisor\`. Scripts: \`echo '${HELLO}'\`; \`echo str_repeat('x', 102400)\`;
  \`echo strlen(file_get_contents('php://input'))\` for the POST; the apps as \`bench/apps.ts\` prepares them
  (WordPress: \`scripts/apps/setup.sh\` with an instance of its own — MariaDB on a Unix socket, a fresh database,
  installed with the address http://wp.bench, WP-Cron off — and every request sent with \`Host: wp.bench\`).
- Fronts, each with the same CPU budget of one event loop (no CPU pinning), and each in its best configuration
  that serves every client: **nginx** \`worker_processes 1\`, \`try_files $uri $uri/ /index.php\`, a connection to
  php-fpm per request (php-fpm's workers take them from its listen backlog in turn: kept connections would starve
  clients, see \`nginxConf\`), \`fastcgi_buffers 16 16k\`, request bodies buffered in memory
  (\`client_body_buffer_size 2m\`); **HAProxy** \`nbthread 1\`, \`fcgi-app\` (docroot, index, path-info,
  \`option keep-conn\`), \`http-reuse always\`, \`server unix@… proto fcgi maxconn ${workers}\` (the rest queue in
  HAProxy); **fpm-bridge** \`node dist/cli.js serve DOCROOT --fpm unix:…\` (one process) with \`maxConns ${workers}\`
  (the rest queue in fpm-bridge), other settings at their defaults (metrics on, file checks on). An app's
  settings go to php-fpm as FastCGI params from every front (\`fastcgi_param\`, \`set-param\`, \`setParams\`). No
  access log on any front. The generated configs are in \`bench/peers.ts\`. **node-floor** is a yardstick, not a
  contender ([\`bench/node-floor.ts\`](node-floor.ts)): the least an HTTP front in Node can do — \`node:net\`, the
  head found with string searches and not validated, the script path taken from the URL, 15 params, bodies
  collected and responses sent whole, over fpm-bridge's FastCGI pool; no routing (so no apps), limits, timeouts,
  logs or metrics. No front written in Node can cost less per request.
- Load: h2load \`--h1\`, one thread, *conc.* kept connections, closed loop (each connection sends its next request
  when the last response is in); the POST body from a file. Per run: the front is started, answers one request
  of the workload correctly (status 200, the exact body; for an app, its page) or is not measured; warm-up load
  in steps of ${warmup} s until it has answered a number of requests (5000 for hello and 100 KiB, 2000 for the POST,
  100 for an app; 5 steps at most; fpm-bridge's JIT needs that many to settle), then ${duration} s measured (20 s for
  an app), then the front is stopped.
- **${rounds} rounds**, alternating: round 1 of every workload, concurrency and front, then round 2…, the fronts'
  order rotating each step. Each cell is the **median [min–max] over the rounds**; each ratio is taken between
  the runs of one round and summarised the same way.
- Columns: req/s counts 2xx/3xx responses; p50/p99 from h2load's per-request log; "slowest ÷ fastest client" is
  h2load's lowest per-client rate over its highest (1 = every client served alike, near 0 = some starved);
  errors are other statuses and failed requests, summed over the rounds. "front CPU" and "php-fpm CPU" are
  user+system time per response from /proc (10 ms ticks); "other load" is the share of the ${nproc} CPUs busy with
  anything but the front, php-fpm, the app's database server, h2load and the bench script during the run (/proc/stat less the measured
  processes' own /proc/PID/stat), "load avg" the 1-minute load average at the run's end — **with other load
  high, the numbers say little**. Every run is listed at the end.

${busyNote}### Results

${sections.join('\n\n')}
${skipped.length > 0 ? `\n${skipped.join('\n')}\n` : ''}
### Reading

${READING}
${warnings.length > 0 ? `\nphp-fpm logged ${warnings.length} warnings/errors during the runs; the first: \`${warnings[0]}\`\n` : ''}
<details><summary>Every run (${runs.length})</summary>

${runLog(runs)}

</details>`;

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
