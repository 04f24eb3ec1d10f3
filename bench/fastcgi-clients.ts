/**
 * Benchmark: fpm-bridge's FastCGI client against the npm packages `fastcgi-client` and `node-phpfpm`, all
 * talking to one php-fpm pool over a Unix socket. Scenarios: a hello-world script and a 1 MiB response, each
 * at concurrency 1 and 32 (closed loop: every virtual user sends its next request when the last one ended).
 *
 *   npm run bench                                   # everything, writes its section of bench/RESULTS.md (~5 min)
 *   npm run bench -- --rounds 1 --duration 2 --clients fpm-bridge,fastcgi-client --scenarios hello --no-write
 *   npm run bench -- --scenarios 1mb --clients fpm-bridge --concurrency 32 --cpu-prof /tmp/prof --no-write
 *
 * Each run (client × scenario × concurrency) happens in a fresh Node process, so one client's heap, GC debt
 * and JIT state never disturb another's; the php-fpm pool is the same for all of them. Every configuration
 * runs `--rounds` times, interleaved (round 1 of everything, then round 2, ...; the client order rotates
 * each round), and the table shows each configuration's median run: a machine shared with other work drifts,
 * and this spreads the drift over every client instead of charging it to whichever ran last.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  type BenchBody,
  type BenchClient,
  CLIENT_NAMES,
  CLIENT_NOTES,
  type ClientName,
  createBenchClient,
  OURS,
  PEERS,
} from './clients.ts';
import { machineBusyMicros, treeCpuMicros } from './cpu-time.ts';
import { benchFpm, list, phpFpmVersion, RESULTS_FILE, writeSection } from './results.ts';

// ---- scenarios ----

interface Scenario {
  name: string;
  title: string;
  script: string;
  php: string;
  /** Expected body length in bytes (every body is ASCII, so it is also its length as a JS string). */
  length: number;
  /** Exact body, when short enough to compare whole. */
  exact?: string;
}

const HELLO = 'Hello, World!';
const MIB = 1024 * 1024;

const SCENARIOS: readonly Scenario[] = [
  {
    name: 'hello',
    title: 'hello world (13-byte body)',
    script: 'hello.php',
    php: `<?php\necho '${HELLO}';\n`,
    length: HELLO.length,
    exact: HELLO,
  },
  {
    name: '1mb',
    title: '1 MiB response body',
    script: '1mb.php',
    // One echo of a 1 MiB string: php-fpm writes it as 16 records of 65528 bytes and a short one.
    php: `<?php\necho str_repeat('x', ${MIB});\n`,
    length: MIB,
  },
];

// ---- one run, in a child process ----

interface RunSpec {
  client: ClientName;
  scenario: string;
  concurrency: number;
  round: number;
  socket: string;
  workers: number;
  docroot: string;
  warmupMs: number;
  durationMs: number;
}

interface RunResult {
  client: ClientName;
  scenario: string;
  concurrency: number;
  round: number;
  /** Correct responses in the measured window. */
  ok: number;
  /** Failed requests plus responses with a wrong body. */
  errors: number;
  firstError: string | null;
  elapsedMs: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** CPU time (user + system) of the client process per correct response, in µs. */
  cpuUsPerReq: number;
  /** CPU time of php-fpm (master and workers) per correct response, in µs (10 ms tick resolution). */
  fpmCpuUsPerReq: number;
  /** Share of the machine's CPUs busy with neither this client nor php-fpm during the window, in %. */
  othersPct: number;
}

/** What a child tells its parent: the measured window starts or ends (to sample /proc), or the result. */
type ChildMessage =
  | { phase: 'start' }
  | { phase: 'end'; clientCpuUs: number }
  | { phase: 'result'; result: RunResult };

interface LoadStats {
  latencies: number[];
  errors: number;
  firstError: string | null;
}

function checkBody(body: BenchBody, scenario: Scenario): string | null {
  if (body.length !== scenario.length) return `body of ${body.length} bytes, expected ${scenario.length}`;
  if (scenario.exact === undefined) return null;
  if (typeof body !== 'string' && !Buffer.isBuffer(body)) return 'body not kept, cannot compare its content';
  if (body.toString() !== scenario.exact) {
    return `body ${JSON.stringify(body.toString().slice(0, 40))}, expected ${JSON.stringify(scenario.exact)}`;
  }
  return null;
}

/** One virtual user: requests back to back until the deadline; latency from the call to the whole body. */
async function user(client: BenchClient, scenario: Scenario, deadline: bigint, stats: LoadStats) {
  const now = process.hrtime.bigint;
  while (now() < deadline) {
    const start = now();
    let problem: string | null;
    try {
      problem = checkBody(await client.request(), scenario);
    } catch (err) {
      problem = (err as Error).message;
    }
    const end = now();
    if (problem === null) {
      stats.latencies.push(Number(end - start));
    } else {
      stats.errors++;
      stats.firstError ??= problem;
    }
  }
}

async function load(client: BenchClient, scenario: Scenario, concurrency: number, ms: number) {
  const stats: LoadStats = { latencies: [], errors: 0, firstError: null };
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(ms) * 1_000_000n;
  const users: Promise<void>[] = [];
  for (let i = 0; i < concurrency; i++) users.push(user(client, scenario, deadline, stats));
  await Promise.all(users);
  // Up to the end of the last request started before the deadline: every counted request lies in the window.
  const elapsedNs = Number(process.hrtime.bigint() - start);
  return { stats, elapsedNs };
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

function failedRun(spec: RunSpec, why: string): RunResult {
  return {
    client: spec.client,
    scenario: spec.scenario,
    concurrency: spec.concurrency,
    round: spec.round,
    ok: 0,
    errors: 1,
    firstError: why,
    elapsedMs: Number.NaN,
    rps: 0,
    p50Ms: Number.NaN,
    p99Ms: Number.NaN,
    maxMs: Number.NaN,
    cpuUsPerReq: Number.NaN,
    fpmCpuUsPerReq: Number.NaN,
    othersPct: Number.NaN,
  };
}

function tell(message: ChildMessage): Promise<void> {
  return new Promise((resolve, reject) =>
    process.send!(message, (err: Error | null) => (err === null ? resolve() : reject(err))),
  );
}

async function runChild(spec: RunSpec): Promise<RunResult> {
  // A response that stalls with its socket paused leaves nothing for the event loop to wait on: the process
  // would just exit. Say so instead.
  const onDrained = () => {
    const why =
      'the event loop drained with requests in flight: a response stalled (paused socket never resumed?)';
    void tell({ phase: 'result', result: failedRun(spec, why) }).then(() => process.exit(0));
  };
  process.once('beforeExit', onDrained);
  const scenario = SCENARIOS.find((s) => s.name === spec.scenario)!;
  const client = await createBenchClient(spec.client, {
    socket: spec.socket,
    workers: spec.workers,
    docroot: spec.docroot,
    script: scenario.script,
  });
  await load(client, scenario, spec.concurrency, spec.warmupMs);
  // Start the measured window with a clean heap (the child runs with --expose-gc).
  (globalThis as { gc?: () => void }).gc?.();
  await tell({ phase: 'start' });
  const cpu = process.cpuUsage();
  const { stats, elapsedNs } = await load(client, scenario, spec.concurrency, spec.durationMs);
  const used = process.cpuUsage(cpu);
  await tell({ phase: 'end', clientCpuUs: used.user + used.system });
  process.off('beforeExit', onDrained);
  await client.close();
  const sorted = Float64Array.from(stats.latencies).sort();
  const ok = sorted.length;
  return {
    client: spec.client,
    scenario: spec.scenario,
    concurrency: spec.concurrency,
    round: spec.round,
    ok,
    errors: stats.errors,
    firstError: stats.firstError,
    elapsedMs: elapsedNs / 1e6,
    rps: ok / (elapsedNs / 1e9),
    p50Ms: percentile(sorted, 0.5) / 1e6,
    p99Ms: percentile(sorted, 0.99) / 1e6,
    maxMs: (sorted[ok - 1] ?? Number.NaN) / 1e6,
    cpuUsPerReq: ok > 0 ? (used.user + used.system) / ok : Number.NaN,
    fpmCpuUsPerReq: Number.NaN, // the parent fills in what it sampled from /proc
    othersPct: Number.NaN,
  };
}

// ---- orchestration, in the parent ----

const SELF = fileURLToPath(import.meta.url);

function runInChild(spec: RunSpec, fpmPid: number | null, childFlags: readonly string[]): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = fork(SELF, ['--child'], {
      // --no-deprecation: both peer packages call `new Buffer()`, whose one-time warning would clutter output.
      execArgv: ['--import', 'tsx', '--expose-gc', '--no-deprecation', ...childFlags],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    // A client whose request never ends (the peers have no timeout option) must not hang the whole bench.
    const limit = spec.warmupMs + spec.durationMs + 30_000;
    const watchdog = setTimeout(() => {
      outcome = failedRun(spec, `run did not finish within ${limit} ms — killed`);
      child.kill('SIGKILL');
    }, limit);
    let outcome: RunResult | null = null;
    let fpmStart = Number.NaN;
    let busyStart = Number.NaN;
    let fpmUsed = Number.NaN;
    let othersUs = Number.NaN;
    let windowStart = 0;
    let windowUs = Number.NaN;
    child.on('message', (msg: ChildMessage) => {
      if (msg.phase === 'start') {
        windowStart = performance.now();
        fpmStart = treeCpuMicros(fpmPid);
        busyStart = machineBusyMicros();
      } else if (msg.phase === 'end') {
        windowUs = (performance.now() - windowStart) * 1000;
        fpmUsed = treeCpuMicros(fpmPid) - fpmStart;
        othersUs = machineBusyMicros() - busyStart - fpmUsed - msg.clientCpuUs;
      } else {
        const r = msg.result;
        outcome = {
          ...r,
          fpmCpuUsPerReq: r.ok > 0 ? fpmUsed / r.ok : Number.NaN,
          othersPct: Math.max(0, (100 * othersUs) / (windowUs * cpus().length)),
        };
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(watchdog);
      resolve(outcome ?? failedRun(spec, `child exited (${signal ?? `code ${code}`}) without a result`));
    });
    child.send(spec);
  });
}

function fmt(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '–';
}

interface Row {
  median: RunResult;
  runs: RunResult[];
}

/** Groups runs by configuration and picks each one's median run by req/s (a whole run, so a row is coherent). */
function medianRows(results: readonly RunResult[]): Row[] {
  const groups = new Map<string, RunResult[]>();
  for (const r of results) {
    const key = `${r.scenario}\0${r.concurrency}\0${r.client}`;
    const list = groups.get(key);
    if (list === undefined) groups.set(key, [r]);
    else list.push(r);
  }
  return [...groups.values()].map((runs) => {
    const sorted = [...runs].sort((a, b) => a.rps - b.rps);
    return { median: sorted[(sorted.length - 1) >> 1]!, runs };
  });
}

function table(rows: readonly Row[]): string {
  const lines = [
    '| client | conc. | req/s (median) | req/s all rounds | p50 ms | p99 ms | max ms | errors (all rounds) | client CPU µs/req | php-fpm CPU µs/req | other load % |',
    '|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const { median: r, runs } of rows) {
    const all = runs
      .map((x) => x.rps)
      .sort((a, b) => a - b)
      .map((x) => fmt(x, 0))
      .join(' / ');
    const errors = runs.reduce((n, x) => n + x.errors, 0);
    lines.push(
      `| ${r.client} | ${r.concurrency} | ${fmt(r.rps, 0)} | ${all} | ${fmt(r.p50Ms, 3)} | ${fmt(r.p99Ms, 3)} | ${fmt(r.maxMs, 2)} | ${errors} | ${fmt(r.cpuUsPerReq, 0)} | ${fmt(r.fpmCpuUsPerReq, 0)} | ${fmt(r.othersPct, 0)} |`,
    );
  }
  return lines.join('\n');
}

/** The issue's goal, checked per scenario at the highest concurrency measured, on medians and round by round. */
function verdict(rows: readonly Row[], scenario: Scenario): string {
  const top = Math.max(...rows.map((r) => r.median.concurrency));
  const at = rows.filter((r) => r.median.concurrency === top);
  const ours = at.find((r) => r.median.client === OURS);
  const peers = at.filter((r) => (PEERS as readonly string[]).includes(r.median.client));
  if (ours === undefined || peers.length === 0) return `- ${scenario.title}: not enough clients measured.`;
  const best = peers.reduce((a, b) => (b.median.rps > a.median.rps ? b : a)).median;
  const o = ours.median;
  const ratio = o.rps / best.rps;
  const bestP99 = Math.min(...peers.map((p) => p.median.p99Ms));
  // Round by round: our run against the best peer run of the same round.
  let met = 0;
  let rounds = 0;
  for (const mine of ours.runs) {
    const theirs = peers.flatMap((p) => p.runs.filter((x) => x.round === mine.round));
    if (theirs.length === 0) continue;
    rounds++;
    const bestRps = Math.max(...theirs.map((x) => x.rps));
    const lowestP99 = Math.min(...theirs.map((x) => x.p99Ms));
    if (mine.rps >= 2 * bestRps && mine.p99Ms < lowestP99) met++;
  }
  return (
    `- **${scenario.title}, concurrency ${top}**: ${OURS} ${fmt(o.rps, 0)} req/s vs the best peer ` +
    `(${best.client}) ${fmt(best.rps, 0)} req/s = **${ratio.toFixed(2)}×** — 2× ${ratio >= 2 ? 'met' : '**not met**'}; ` +
    `p99 ${fmt(o.p99Ms, 1)} ms vs the peers' best ${fmt(bestP99, 1)} ms — ` +
    `${o.p99Ms < bestP99 ? 'lower' : '**not lower**'}. Both held in ${met} of ${rounds} rounds.`
  );
}

/**
 * Waits (at most `maxWaitMs`) until the machine is quiet: less than `threshold` % of all CPUs busy over half a
 * second, php-fpm and this process being idle meanwhile, so what is busy is someone else. This machine may be
 * shared (test suites, builds); starting a run in the middle of someone else's burst only adds noise.
 * Returns the last busy share measured.
 */
async function waitForQuiet(threshold: number, maxWaitMs: number): Promise<number> {
  const deadline = Date.now() + maxWaitMs;
  for (;;) {
    const busy = machineBusyMicros();
    const t0 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const pct = (100 * (machineBusyMicros() - busy)) / ((performance.now() - t0) * 1000 * cpus().length);
    if (!(pct >= threshold) || Date.now() >= deadline) return pct;
  }
}

/**
 * What the numbers mean, from profiling done when this bench was written (2-CPU VM, Node 20, php-fpm 8.2:
 * `--cpu-prof`, `--node-flags=--trace-gc`, perf). Kept in the generated report so it travels with the tables;
 * rerun the profiles if the code changes much.
 */
const READING = `- **Client and php-fpm share the CPUs, so req/s follows the CPU time per request** (the two CPU
  columns). With hello world, fpm-bridge keeps its connections, so php-fpm accepts and closes nothing and spends
  less per request too, and its own per-request work is small: about 60 µs of client CPU for one \`write\` and
  one \`read\` system call per request (strace), the rest being Node's event loop, streams and promises; the
  functions in \`proxy/*\` are a few % of the CPU profile. The peers spend 3–5× more client CPU: a new
  connection per request and about 20 system calls (socket, connect, 9 writes — every record header, body and
  padding written separately —, 2 reads, 4 epoll_ctl, shutdown, close), plus three streams. On 2 CPUs both sides
  are CPU-bound at concurrency 32, so the ratio of req/s tracks the ratio of (client + php-fpm) CPU per request,
  which sits close to 2 here; how well each peer does also moves with the machine's state from run to run.
- **With 1 MiB bodies, every client is bound by moving bytes**, work that does not depend on the FastCGI
  client: the kernel copy out of the socket (17 reads of 64 KiB, each a new Buffer), the copy of those chunks
  into one 1 MiB Buffer, page faults on that fresh 1 MiB allocation (glibc gives it back to the kernel when
  it is freed), and V8 mark-compacts triggered every 50–80 ms by "external memory pressure" from those
  Buffers. In a CPU profile of fpm-bridge at concurrency 32, \`proxy/*\` is about 2 % of the samples, the
  concatenation about 19 % and GC about 13 %. The same byte-moving costs dominate \`fastcgi-client\`, so
  the ratio to it has stayed between about 1× and 1.5× from run to run; \`node-phpfpm\` also decodes the body
  into a string and is 4–5× slower. These runs are noisy: the client CPU per 1 MiB response can differ 2–3×
  between identical runs (probably glibc's dynamic mmap/trim thresholds settling differently in each process:
  with them fixed, see below, runs are faster and steadier), hence the medians and the "all rounds" column. \`fpm-bridge-stream\` (no concatenation) shows what a streaming front
  saves.
- Running the whole bench with \`MALLOC_MMAP_THRESHOLD_=8388608 MALLOC_TRIM_THRESHOLD_=268435456\` (glibc
  keeps freed memory instead of returning it to the kernel) roughly doubled the 1 MiB throughput of both
  Buffer-collecting clients at concurrency 1 and cut fpm-bridge's system time per 1 MiB response from about
  900 to about 330 µs; the ratio between the clients barely moved. It is an environment setting, not part of
  this comparison.
- The 1 MiB case is no faster at concurrency 32 than at concurrency 1: 8 workers writing 1 MiB each at once
  plus the client on 2 CPUs means more context switches, partial socket reads and cache misses than one
  response streaming through at a time.`;

async function main(): Promise<void> {
  const started = Date.now();
  const { values } = parseArgs({
    options: {
      workers: { type: 'string', default: '8' },
      rounds: { type: 'string', default: '3' },
      warmup: { type: 'string', default: '1' },
      duration: { type: 'string', default: '3' },
      clients: { type: 'string', default: CLIENT_NAMES.join(',') },
      scenarios: { type: 'string', default: SCENARIOS.map((s) => s.name).join(',') },
      concurrency: { type: 'string', default: '1,32' },
      'no-write': { type: 'boolean', default: false },
      /** Write a V8 CPU profile per child run into this directory (node --cpu-prof). */
      'cpu-prof': { type: 'string' },
      /** Extra Node flags for every child run, space-separated, e.g. "--trace-gc". */
      'node-flags': { type: 'string', default: '' },
      /** Before each run, wait until other processes use less than this % of the CPUs (0 = never wait)... */
      quiet: { type: 'string', default: '10' },
      /** ...but at most this many seconds in all (the bench must stay bounded on a busy machine). */
      'quiet-wait': { type: 'string', default: '60' },
      /** A run during which other processes used more than this % of the CPUs is repeated (twice at most)... */
      'max-other': { type: 'string', default: '20' },
      /** ...up to this many repeats in all. */
      retries: { type: 'string', default: '12' },
    },
  });
  const workers = Number(values.workers);
  const rounds = Number(values.rounds);
  const clients = list(values.clients) as ClientName[];
  for (const c of clients) {
    if (!CLIENT_NAMES.includes(c))
      throw new Error(`unknown client "${c}" — expected ${CLIENT_NAMES.join(', ')}`);
  }
  const scenarios = list(values.scenarios).map((name) => {
    const s = SCENARIOS.find((x) => x.name === name);
    if (s === undefined)
      throw new Error(`unknown scenario "${name}" — expected ${SCENARIOS.map((x) => x.name)}`);
    return s;
  });
  const levels = list(values.concurrency).map(Number);
  const warmupMs = Number(values.warmup) * 1000;
  const durationMs = Number(values.duration) * 1000;
  const quiet = Number(values.quiet);
  let quietBudgetMs = Number(values['quiet-wait']) * 1000;
  let waitedMs = 0;
  const maxOther = Number(values['max-other']);
  let retriesLeft = Number(values.retries);
  let retried = 0;
  const childFlags = values['node-flags'].split(' ').filter((f) => f !== '');
  if (values['cpu-prof'] !== undefined) childFlags.push('--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`);

  const docroot = mkdtempSync(join(tmpdir(), 'fpm-bridge-bench-'));
  for (const s of SCENARIOS) writeFileSync(join(docroot, s.script), s.php);
  const { fpm, log: fpmLog } = benchFpm(workers);
  await fpm.start();
  const php = phpFpmVersion();
  const nproc = cpus().length;
  const loadBefore = loadavg().map((x) => x.toFixed(2));
  console.log(
    `${php}, pm=static ${workers} workers; node ${process.version}; ${nproc} CPUs; load ${loadBefore}`,
  );

  const results: RunResult[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      const order = clients.map((_, i) => clients[(i + round - 1) % clients.length]!);
      for (const scenario of scenarios) {
        for (const concurrency of levels) {
          for (const client of order) {
            const spec: RunSpec = {
              client,
              scenario: scenario.name,
              concurrency,
              round,
              socket: fpm.socket,
              workers,
              docroot,
              warmupMs,
              durationMs,
            };
            let r: RunResult;
            for (let attempt = 1; ; attempt++) {
              if (quiet > 0 && quietBudgetMs > 0) {
                const waitStart = Date.now();
                const busy = await waitForQuiet(quiet, quietBudgetMs);
                const waited = Date.now() - waitStart;
                quietBudgetMs -= waited;
                waitedMs += waited;
                if (waited > 1000) {
                  console.log(
                    `  (waited ${(waited / 1000).toFixed(0)} s for other load to drop: ${fmt(busy, 0)}%)`,
                  );
                }
              }
              r = await runInChild(spec, fpm.pid, childFlags);
              // Someone else's burst during the window: run it again, a bounded number of times.
              if (!(r.othersPct > maxOther) || attempt > 2 || retriesLeft === 0) break;
              retriesLeft--;
              retried++;
              console.log(
                `  (round ${round} ${scenario.name} c=${concurrency} ${client}: other load ${fmt(r.othersPct, 0)}% — running it again)`,
              );
            }
            results.push(r);
            console.log(
              `round ${round}  ${scenario.name.padEnd(5)} c=${String(concurrency).padEnd(3)} ${client.padEnd(17)} ` +
                `${fmt(r.rps, 0).padStart(6)} req/s  p50 ${fmt(r.p50Ms, 3)} ms  p99 ${fmt(r.p99Ms, 3)} ms  ` +
                `other load ${fmt(r.othersPct, 0)}%  errors ${r.errors}` +
                (r.firstError !== null ? ` (first: ${r.firstError})` : ''),
            );
          }
        }
      }
    }
  } finally {
    await fpm.stop();
    rmSync(docroot, { recursive: true, force: true });
  }
  const loadAfter = loadavg().map((x) => x.toFixed(2));

  const rows = medianRows(results);
  const sections = scenarios.map(
    (s) => `#### ${s.title}\n\n${table(rows.filter((r) => r.median.scenario === s.name))}`,
  );
  const verdicts = scenarios.map((s) =>
    verdict(
      rows.filter((r) => r.median.scenario === s.name),
      s,
    ),
  );
  const args = process.argv.slice(2);
  const command = `npm run bench${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`;
  const warnings = fpmLog.filter((l) => /WARNING|ERROR/.test(l));
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  const report = `## FastCGI clients: fpm-bridge vs \`fastcgi-client\` and \`node-phpfpm\`

Generated by \`bench/fastcgi-clients.ts\` on ${new Date().toISOString()} (took ${minutes} min).

- Command: \`${command}\` (the npm script runs \`node --import tsx bench/fastcgi-clients.ts\`)
- Machine: ${nproc} CPUs (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}, ${php};
  load average (1/5/15 min) ${loadBefore.join(' / ')} before, ${loadAfter.join(' / ')} after.
- php-fpm: one pool for every client, \`pm = static\` with ${workers} workers, Unix socket, Debian's php.ini
  (opcache on, output_buffering=4096), started by \`PhpFpmSupervisor\`.
- Method: closed loop; each of *conc.* virtual users sends its next request as soon as its last one ended.
  Every run is a fresh Node process (\`--expose-gc\`): ${warmupMs / 1000} s warm-up, GC, ${durationMs / 1000} s measured.
  ${rounds} rounds, interleaved. Before each run the bench waited until other processes used less than ${quiet} %
  of the CPUs (${(waitedMs / 1000).toFixed(0)} s of waiting in all, at most ${values['quiet-wait']} s); a run during which they used more
  than ${maxOther} % was run again (${retried} repeats; at most two per run, ${values.retries} in all). Each row is the
  configuration's median run by req/s; "all rounds" lists every run's req/s. Latency is
  \`process.hrtime.bigint()\` from the client call to the whole body in hand, queueing included wherever the
  client queues. Only correct responses count; a failed request or a wrong body (length; for hello also the
  content) is an error.
- CPU columns: "client CPU" is the benchmark process's user+system time per response (the client library,
  the kernel's socket work for it, and GC); "php-fpm CPU" is the same for php-fpm's master and workers (/proc,
  10 ms ticks); "other load" is the share of all ${nproc} CPUs busy with anything else during the window (other
  processes on this machine, hypervisor steal). Client and php-fpm share the ${nproc} CPUs, so whatever a
  client burns is taken from PHP; rows with a high "other load" are less trustworthy.

### Goal: ≥ 2× the best peer's req/s at concurrency 32, with a lower p99

${verdicts.join('\n')}

### Results

${sections.join('\n\n')}

### How each client was configured

${clients.map((c) => `- **${c}** — ${CLIENT_NOTES[c]}`).join('\n')}

All of them send the same 18 CGI params (the set node-phpfpm builds) for a GET without a body.

Why ${workers} workers: the scripts are CPU-bound and the machine has ${nproc} CPUs, so more workers do not make
PHP faster; but a worker also sits idle while its output crosses the socket and the client reads it, so a few
workers per CPU keep the CPUs busy, and ${workers} is still few enough for cheap context switches. It is also the
connection count fpm-bridge keeps open (one kept connection pins one worker). The peers open a new connection
per request, so their extra concurrency waits in php-fpm's listen backlog instead. (A one-round sweep over 2, 4,
8 and 16 workers on a 2-CPU machine when this bench was written gave fpm-bridge its best hello-world and
near-best 1 MiB throughput at 8; change it with \`--workers\`.)

### Reading

${READING}
${warnings.length > 0 ? `\nphp-fpm logged ${warnings.length} warnings/errors during the runs; the first: \`${warnings[0]}\`\n` : ''}`;

  console.log(`\n${sections.join('\n\n')}\n\n${verdicts.join('\n')}`);
  if (!values['no-write']) {
    // bench/RESULTS.md holds every bench script's results; this one rewrites only its own section.
    writeSection('fastcgi-clients', report);
    console.log(`\nwrote its section of ${RESULTS_FILE}`);
  }
}

if (process.argv.includes('--child')) {
  process.once('message', (spec: RunSpec) => {
    runChild(spec).then(
      (result) => tell({ phase: 'result', result }).then(() => process.exit(0)),
      (err: Error) => {
        console.error(err);
        process.exit(1);
      },
    );
  });
} else {
  main().catch((err: Error) => {
    console.error(err);
    process.exitCode = 1;
  });
}
