/**
 * Benchmark of the Lambda front, against the same php-fpm without it:
 *
 * 1. Warm path: an HTTP API (v2) event through `handler` (adapter, routing, params, FastCGI client, response
 *    encoding) against a minimal FastCGI client — one kept connection, the request's records built once from
 *    the very params the handler sends, no fpm-bridge code — and against fpm-bridge's own FastCGI client with
 *    those params, to tell the client's share from the rest. Sequential calls, alternating in batches; per
 *    round the p50 and p99 of each, and the handler's CPU time per invocation (this process's, from
 *    getrusage). Goal: under 25 µs over the minimal client at p50. `--profile` adds a CPU profile of the
 *    handler alone, its time summed by what the code does.
 * 2. Cold start: importing the built `dist/handler.js` (which starts php-fpm during init) and answering one
 *    event, vs starting bare php-fpm, waiting for its socket and sending one FastCGI request. Each sample in a
 *    fresh Node process, Node's own start excluded on both sides. Goal: within 1.2×.
 *
 *   npm run build && node --import tsx bench/lambda.ts [--rounds 10] [--batch 1000] [--cold 15] [--profile] [--no-write]
 *   node --import tsx bench/lambda.ts --base /tmp/old-checkout --no-write     # A/B: another checkout's handler too
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { SourceMap, type SourceMapPayload } from 'node:module';
import { connect, type Socket } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import type { BuildOptions } from 'esbuild';
import type { createLambdaApp as CreateLambdaApp, LambdaApp } from '../handler/runtime.ts';
import { encodeRequestHead } from '../proxy/fastcgi/records.ts';
import { locatePhpFpm } from '../proxy/fpm/locate.ts';
import { silentLogger } from '../proxy/log.ts';
import { bufferCgi } from '../proxy/upstream.ts';
import { LoadWindow } from './cpu-time.ts';
import { phpFpmVersion, writeSection } from './results.ts';
import { fmt, fmtSpread, percentile, type Spread, spread } from './stats.ts';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '10' },
    batch: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '3000' },
    cold: { type: 'string', default: '15' },
    /** A checkout of another version (with node_modules): its handler is measured beside this one's. */
    base: { type: 'string' },
    profile: { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(args.rounds);
const BATCH = Number(args.batch);
const WARMUP = Number(args.warmup);
const COLD = Number(args.cold);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HELLO = 'Hello, World!';
/** The goal: what the handler may add to the minimal client's p50, in µs. */
const GOAL_US = 25;

const docroot = mkdtempSync(join(tmpdir(), 'fpm-bridge-bench-lambda-'));
writeFileSync(join(docroot, 'hello.php'), `<?php\necho '${HELLO}';\n`);

const event: APIGatewayProxyEventV2 = {
  version: '2.0',
  routeKey: '$default',
  rawPath: '/hello.php',
  rawQueryString: 'a=1&b=2',
  headers: {
    accept: 'text/html',
    'accept-encoding': 'gzip, br',
    host: 'abc123.execute-api.us-east-1.amazonaws.com',
    'user-agent': 'bench/1.0',
    'x-amzn-trace-id': 'Root=1-00000000-000000000000000000000000',
    'x-forwarded-for': '203.0.113.42',
    'x-forwarded-port': '443',
    'x-forwarded-proto': 'https',
  },
  requestContext: {
    accountId: '123456789012',
    apiId: 'abc123',
    domainName: 'abc123.execute-api.us-east-1.amazonaws.com',
    domainPrefix: 'abc123',
    http: {
      method: 'GET',
      path: '/hello.php',
      protocol: 'HTTP/1.1',
      sourceIp: '203.0.113.42',
      userAgent: 'bench/1.0',
    },
    requestId: 'bench',
    routeKey: '$default',
    stage: '$default',
    time: '25/Nov/2026:10:00:00 +0000',
    timeEpoch: 1795600000000,
  },
  isBase64Encoded: false,
};

const context = {
  awsRequestId: 'bench',
  functionName: 'bench',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:bench',
  memoryLimitInMB: '1024',
  logGroupName: '/aws/lambda/bench',
  logStreamName: 'bench',
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => 30_000,
} as unknown as Context;

// ---- the baseline: a minimal FastCGI client ----

/** FastCGI records (spec §3.3, §5.1): version 1, type, request id 1, content length, padding, reserved. */
function record(type: number, content: Buffer): Buffer {
  const pad = -content.length & 7;
  const out = Buffer.alloc(8 + content.length + pad);
  out[0] = 1;
  out[1] = type;
  out.writeUInt16BE(1, 2);
  out.writeUInt16BE(content.length, 4);
  out[6] = pad;
  content.copy(out, 8);
  return out;
}

function pairLength(n: number): Buffer {
  if (n < 128) return Buffer.from([n]);
  const b = Buffer.alloc(4);
  b.writeUInt32BE((n | 0x80000000) >>> 0);
  return b;
}

/**
 * The least a Node program can do to get an answer from php-fpm: one kept connection, the request's bytes
 * built once (BEGIN_REQUEST with FCGI_KEEP_CONN, the params, empty PARAMS and STDIN), one write per call, and
 * the reply's records walked until END_REQUEST. Written here from the spec, no fpm-bridge code.
 */
class MinimalClient {
  private readonly request: Buffer;
  private resolve: ((body: Buffer) => void) | null = null;
  private buffered: Buffer = Buffer.alloc(0);
  private stdout: Buffer[] = [];

  private constructor(
    private readonly socket: Socket,
    params: readonly string[],
  ) {
    const pairs: Buffer[] = [];
    for (let i = 0; i < params.length; i += 2) {
      const name = Buffer.from(params[i]!, 'latin1');
      const value = Buffer.from(params[i + 1]!, 'latin1');
      pairs.push(pairLength(name.length), pairLength(value.length), name, value);
    }
    const content = Buffer.concat(pairs);
    if (content.length > 65535) throw new Error('the params do not fit one PARAMS record');
    this.request = Buffer.concat([
      record(1, Buffer.from([0, 1, 1, 0, 0, 0, 0, 0])),
      record(4, content),
      record(4, Buffer.alloc(0)),
      record(5, Buffer.alloc(0)),
    ]);
    socket.on('data', (d: Buffer) => this.data(d));
  }

  static open(path: string, params: readonly string[]): Promise<MinimalClient> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      s.once('connect', () => resolve(new MinimalClient(s, params)));
      s.once('error', reject);
    });
  }

  /** One request; resolves with its STDOUT bytes (CGI head and body). */
  call(): Promise<Buffer> {
    return new Promise((resolve) => {
      this.resolve = resolve;
      this.socket.write(this.request);
    });
  }

  private data(d: Buffer): void {
    let b = this.buffered.length === 0 ? d : Buffer.concat([this.buffered, d]);
    while (b.length >= 8) {
      const type = b[1]!;
      const length = b.readUInt16BE(4);
      const end = 8 + length + b[6]!;
      if (b.length < end) break;
      if (type === 6 && length > 0) this.stdout.push(b.subarray(8, 8 + length));
      b = b.subarray(end);
      if (type === 3) {
        const resolve = this.resolve!;
        this.resolve = null;
        resolve(Buffer.concat(this.stdout));
        this.stdout = [];
      }
    }
    this.buffered = b;
  }

  close(): void {
    this.socket.destroy();
  }
}

// ---- the warm path ----

type Create = typeof CreateLambdaApp;

/** A Lambda app of this checkout or another, on a php-fpm of 2 workers: one for it, one for the baseline. */
async function startApp(create: Create): Promise<LambdaApp> {
  return create({ taskRoot: docroot, env: {}, overrides: { docroot, workers: 2 }, log: silentLogger });
}

async function viaHandler(app: LambdaApp): Promise<void> {
  const r = (await app.handler(event, context)) as { statusCode: number; body: string };
  if (r.statusCode !== 200 || r.body !== HELLO) throw new Error(`bad handler response ${JSON.stringify(r)}`);
}

/** The params the handler sends php-fpm for the event, taken from its first request. */
async function paramsOf(app: LambdaApp): Promise<readonly string[]> {
  const pool = app.bridge.backend.pools[0]!;
  let params: readonly string[] = [];
  const dispatch = pool.dispatch;
  pool.dispatch = (request, handler) => {
    params = request.params;
    return dispatch.call(pool, request, handler);
  };
  await viaHandler(app);
  pool.dispatch = dispatch;
  return params;
}

interface Side {
  name: string;
  call(): Promise<void>;
}

interface SideRound {
  p50: number;
  p99: number;
  /** This process's CPU time (user + system) per call, µs. */
  cpu: number;
}

/**
 * `createLambdaApp` from a checkout's handler/runtime.ts bundled as dist/ is (scripts/bundle-options.mjs) —
 * the code Lambda runs, not tsx's transpilation of the sources, which wraps named closures in keepNames
 * calls — with its identifiers left unminified so that a profile names the functions.
 */
async function bundled(checkout: string, name: string): Promise<Create> {
  const { build } = await import('esbuild');
  const options = (await import(pathToFileURL(join(ROOT, 'scripts/bundle-options.mjs')).href as string)) as {
    bundleOptions: BuildOptions;
  };
  const outfile = join(scratch, `${name}.mjs`);
  await build({
    ...options.bundleOptions,
    entryPoints: [join(checkout, 'handler/runtime.ts')],
    outfile,
    sourcemap: 'external',
    minify: false,
    minifyWhitespace: true,
    minifySyntax: true,
  });
  sourceMaps.set(
    pathToFileURL(outfile).href,
    new SourceMap(JSON.parse(readFileSync(`${outfile}.map`, 'utf8')) as SourceMapPayload),
  );
  return ((await import(pathToFileURL(outfile).href)) as { createLambdaApp: Create }).createLambdaApp;
}

/** Each bundle's source map by its URL: a profile's frames are placed in the sources through them. */
const sourceMaps = new Map<string, SourceMap>();

const scratch = mkdtempSync(join(tmpdir(), 'fpm-bridge-bench-lambda-bundle-'));
const app = await startApp(await bundled(ROOT, 'runtime'));
const base = args.base === undefined ? null : await startApp(await bundled(args.base, 'runtime-base'));
const params = await paramsOf(app);
const pool = app.bridge.backend.pools[0]!;
const minimal = await MinimalClient.open(app.bridge.backend.supervisor!.socket, params);
const sides: Side[] = [
  { name: 'handler', call: () => viaHandler(app) },
  ...(base === null ? [] : [{ name: 'handler (base)', call: () => viaHandler(base) }]),
  {
    name: "fpm-bridge's FastCGI client",
    call: async () => {
      const r = await bufferCgi(pool, { params, body: null }).response;
      if (r.body.toString() !== HELLO) throw new Error('bad response through the FastCGI client');
    },
  },
  {
    name: 'minimal FastCGI client',
    call: async () => {
      const out = await minimal.call();
      if (!out.toString('latin1').endsWith(`\r\n\r\n${HELLO}`)) throw new Error('bad minimal response');
    },
  },
];

for (let i = 0; i < WARMUP; i++) for (const side of sides) await side.call();
const rounds = new Map<string, SideRound[]>(sides.map((s) => [s.name, []]));
const loads: { loadavg: number; othersPct: number }[] = [];
const fpmPids = [app, base].flatMap((a) =>
  a?.bridge.backend.supervisor?.pid ? [a.bridge.backend.supervisor.pid] : [],
);
// Each round calls every path in turn, call by call (the order rotating), so that a burst of other work on
// this shared machine hits all of them alike; each call's latency and this process's CPU time during it.
const times = sides.map(() => new Float64Array(BATCH));
const cpuUs = sides.map(() => 0);
for (let round = 0; round < ROUNDS; round++) {
  const window = new LoadWindow(fpmPids, cpus().length);
  cpuUs.fill(0);
  for (let i = 0; i < BATCH; i++) {
    for (let k = 0; k < sides.length; k++) {
      const s = (i + k) % sides.length;
      const cpu = process.cpuUsage();
      const t = process.hrtime.bigint();
      await sides[s]!.call();
      times[s]![i] = Number(process.hrtime.bigint() - t) / 1e3;
      const used = process.cpuUsage(cpu);
      cpuUs[s]! += used.user + used.system;
    }
  }
  sides.forEach((side, s) => {
    const sorted = times[s]!.sort();
    rounds.get(side.name)!.push({
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      cpu: cpuUs[s]! / BATCH,
    });
  });
  loads.push(window.end());
}

/** Native writes to a socket: the syscall that hands php-fpm its request (and wakes it). */
const SOCKET_WRITES = new Set([
  'writeBuffer',
  'writev',
  'writeLatin1String',
  'writeUtf8String',
  'writeAsciiString',
]);

interface Profiled {
  /** µs per call by what the code does, largest first. */
  categories: [string, number][];
  /** µs per call of the fpm-bridge functions that ran most (self time), largest first. */
  functions: [string, number][];
  busyPerCall: number;
}

/**
 * What the handler spends its time on: a V8 CPU profile of it alone, each sample counted for the nearest
 * fpm-bridge function on its stack (found through the bundle's source map). V8 samples wall-clock time, so
 * a socket write also counts whatever ran on this CPU before it returned — php-fpm, woken by it, often does:
 * those are shown apart.
 */
async function profileHandler(calls: number): Promise<Profiled> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 25 });
  await session.post('Profiler.start');
  for (let i = 0; i < calls; i++) await viaHandler(app);
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  const parent = new Map<number, number>();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  /** An fpm-bridge frame's source file, or null for Node's own, the bench's or a dependency's. */
  const ownFile = (frame: { url: string; lineNumber: number; columnNumber: number }): string | null => {
    const map = sourceMaps.get(frame.url);
    if (map === undefined) return null;
    const entry = map.findEntry(frame.lineNumber, frame.columnNumber) as { originalSource?: string };
    if (entry.originalSource === undefined) return null;
    const file = relative(ROOT, fileURLToPath(new URL(entry.originalSource, frame.url)));
    return file.startsWith('node_modules/') || file.startsWith('..') ? null : file;
  };
  const category = (id: number): string | null => {
    const leaf = byId.get(id)!.callFrame.functionName;
    if (leaf === '(idle)') return null;
    if (leaf === '(garbage collector)') return 'garbage collection';
    if (leaf === '(program)') return 'V8 and native code outside JavaScript';
    if (SOCKET_WRITES.has(leaf)) return 'the write syscall to php-fpm (and php-fpm running meanwhile)';
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      const file = ownFile(frame);
      if (file === null) continue;
      const fn = frame.functionName;
      if (file.startsWith('handler/adapter') || file.startsWith('handler/api-gateway') || fn === 'toRequest')
        return 'event → request (adapter, Lambda context params)';
      if (file === 'handler/encode.ts' || fn === 'fit' || fn === 'toResult') return 'result encoding';
      if (file === 'proxy/cgi/route.ts' || file === 'proxy/cgi/path.ts' || file === 'proxy/cgi/file-cache.ts')
        return 'routing';
      if (file === 'proxy/cgi/params.ts' || file === 'proxy/byte-strings.ts') return 'CGI params';
      if (file === 'proxy/log.ts') return 'logging';
      if (file.startsWith('proxy/')) return 'FastCGI client (records, pool, exchange, CGI head)';
      return 'handler glue (handle, http, deadline)';
    }
    return 'Node outside fpm-bridge code (event loop, sockets, promises)';
  };
  const categories = new Map<string, number>();
  const functions = new Map<string, number>();
  let busy = 0;
  profile.samples!.forEach((id, i) => {
    const c = category(id);
    if (c === null) return;
    const dt = profile.timeDeltas![i]!;
    busy += dt;
    categories.set(c, (categories.get(c) ?? 0) + dt);
    const frame = byId.get(id)!.callFrame;
    const file = ownFile(frame);
    if (file !== null) {
      const fn = `\`${frame.functionName || '(anonymous)'}\` (${file})`;
      functions.set(fn, (functions.get(fn) ?? 0) + dt);
    }
  });
  const perCall = (m: Map<string, number>) =>
    [...m].sort((a, b) => b[1] - a[1]).map(([c, t]): [string, number] => [c, t / calls]);
  return {
    categories: perCall(categories),
    functions: perCall(functions).slice(0, 12),
    busyPerCall: busy / calls,
  };
}

const profiled = args.profile ? await profileHandler(ROUNDS * BATCH) : null;
minimal.close();
await app.close();
await base?.close();
rmSync(scratch, { recursive: true, force: true });

// ---- cold start ----

/** Runs one cold-start sample in a fresh Node process and returns its ms (Node's own start excluded). */
function sample(kind: 'handler' | 'bare'): Promise<number> {
  const fpm = locatePhpFpm();
  const code =
    kind === 'handler'
      ? `const t0 = performance.now();
         const m = await import(${JSON.stringify(join(ROOT, 'dist/handler.js'))});
         const r = await m.handler(${JSON.stringify(event)}, { awsRequestId: 'cold', getRemainingTimeInMillis: () => 30000 });
         if (r.statusCode !== 200) throw new Error('status ' + r.statusCode);
         process.stdout.write(String(performance.now() - t0));
         process.exit(0);`
      : `import { spawn } from 'node:child_process';
         import { connect } from 'node:net';
         import { mkdtempSync, writeFileSync } from 'node:fs';
         import { join } from 'node:path';
         import { tmpdir } from 'node:os';
         const t0 = performance.now();
         const dir = mkdtempSync(join(tmpdir(), 'bare-fpm-'));
         const sock = join(dir, 'fpm.sock');
         writeFileSync(join(dir, 'fpm.conf'), '[global]\\nerror_log = /dev/null\\ndaemonize = no\\n[app]\\nlisten = ' + sock + '\\npm = static\\npm.max_children = 1\\nclear_env = no\\n');
         const child = spawn(${JSON.stringify(fpm)}, ['--nodaemonize', '--fpm-config', join(dir, 'fpm.conf'), ...(process.getuid() === 0 ? ['-R'] : [])], { stdio: 'ignore', detached: true });
         const head = Buffer.from(${JSON.stringify(encodeRequestHead(1, 0, params, Buffer.alloc(0)).toString('base64'))}, 'base64');
         for (;;) {
           const ok = await new Promise((resolve) => {
             const s = connect(sock);
             s.once('connect', () => { s.write(head); let got = 0; s.on('data', (d) => { got += d.length; }); s.once('close', () => resolve(got > 0)); });
             s.once('error', () => { s.destroy(); setTimeout(() => resolve(false), 2); });
           });
           if (ok) break;
         }
         process.stdout.write(String(performance.now() - t0));
         // The whole group: killing only the master would leave its worker running.
         process.kill(-child.pid, 'SIGKILL');
         process.exit(0);`;
  return new Promise((resolve, reject) => {
    // Plain node, as Lambda runs it: a loader such as tsx would also hook (and slow) the handler's import.
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
      cwd: ROOT,
      env: { ...process.env, LAMBDA_TASK_ROOT: docroot, FPM_BRIDGE_DOCROOT: docroot },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (c) =>
      c === 0 ? resolve(Number(out)) : reject(new Error(`${kind} cold sample exited ${c}`)),
    );
  });
}

const cold = { handler: [] as number[], bare: [] as number[] };
for (let i = 0; i < COLD; i++) {
  cold.handler.push(await sample('handler'));
  cold.bare.push(await sample('bare'));
}
rmSync(docroot, { recursive: true, force: true });
const coldHandler = spread(cold.handler);
const coldBare = spread(cold.bare);
const coldRatio = spread(cold.handler.map((h, i) => h / cold.bare[i]!));

// ---- report ----

const of = (name: string, pick: (r: SideRound) => number): Spread => spread(rounds.get(name)!.map(pick));
/** Per round, `a`'s figure less `b`'s. */
const over = (a: string, b: string, pick: (r: SideRound) => number): Spread => {
  const bs = rounds.get(b)!;
  return spread(rounds.get(a)!.map((r, i) => pick(r) - pick(bs[i]!)));
};
const MIN = 'minimal FastCGI client';
const CLIENT = "fpm-bridge's FastCGI client";
const row = (label: string, s: (pick: (r: SideRound) => number) => Spread) =>
  `| ${label} | ${fmtSpread(
    s((r) => r.p50),
    1,
  )} | ${fmtSpread(
    s((r) => r.p99),
    1,
  )} | ${fmtSpread(
    s((r) => r.cpu),
    1,
  )} |`;
const added = over('handler', MIN, (r) => r.p50);
const load = { avg: spread(loads.map((l) => l.loadavg)), others: spread(loads.map((l) => l.othersPct)) };
const php = phpFpmVersion();
const command = `npm run build && node --import tsx bench/lambda.ts${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}`;
const md = `## Lambda handler

Generated by \`bench/lambda.ts\` on ${new Date().toISOString()}: \`${command}\`.
Machine: ${cpus().length} CPUs, Node ${process.version}, ${php}; load average (1/5/15 min) ${loadavg()
  .map((x) => x.toFixed(2))
  .join(
    ' / ',
  )} at the end; during the warm-path rounds the 1-minute load average was ${fmtSpread(load.avg, 1)} and
other processes kept ${fmtSpread(load.others, 0)} % of the CPUs busy (median [min–max] over the rounds).

**Warm path** — an HTTP API v2 event for \`/hello.php?a=1&b=2\` (8 headers) through \`handler\`, against the same
request from a **minimal FastCGI client** (one kept connection, the request's records built once from the very params
the handler sends — ${params.length / 2} of them, the Lambda context JSON included —, one write per call, the reply's records walked
to END_REQUEST; no fpm-bridge code) and from fpm-bridge's own FastCGI client (\`bufferCgi\`, the same params).
php-fpm has 2 workers here, one for the handler's kept connection and one for the minimal client's (on Lambda
it has one). ${ROUNDS} rounds of ${BATCH} sequential calls per path after ${WARMUP} warm-up calls of each, the paths
taking turns call by call (the order rotating); latency from the call to the result in hand; CPU is this process's
own time during the call (getrusage), so php-fpm's share is left out. Each cell is the median [min–max] over the
rounds of that round's figure (p50, p99, mean CPU), each difference taken within a round.

| path | p50 µs | p99 µs | CPU µs per call |
|---|---:|---:|---:|
${sides.map((s) => row(`\`${s.name}\``, (pick) => of(s.name, pick))).join('\n')}
${row('**added by the handler** (over the minimal client)', (pick) => over('handler', MIN, pick))}
${row("of which fpm-bridge's FastCGI client", (pick) => over(CLIENT, MIN, pick))}
${base === null ? '' : `${row('handler ÷ base: difference', (pick) => over('handler', 'handler (base)', pick))}\n`}
Goal under ${GOAL_US} µs added at p50: **${added.median < GOAL_US ? 'met' : 'not met'}** (${fmtSpread(added, 1)} µs).
${
  profiled === null
    ? ''
    : `
Where the handler's CPU goes (V8 CPU profile of ${ROUNDS * BATCH} handler calls alone, sampled every 25 µs; each sample
counted for the nearest fpm-bridge function on its stack; idle time waiting for php-fpm left out): ${fmt(profiled.busyPerCall, 1)} µs per call in all.

| what | µs per call |
|---|---:|
${profiled.categories.map(([c, us]) => `| ${c} | ${fmt(us, 1)} |`).join('\n')}

The fpm-bridge functions with the most time of their own (µs per call): ${profiled.functions
        .map(([f, us]) => `${f} ${fmt(us, 1)}`)
        .join(', ')}.
`
}
**Cold start** — ${COLD} samples of each, alternating, each in a fresh plain \`node\` process, as Lambda runs it (Node's
own start not counted): \`import('dist/handler.js')\` (php-fpm starts during init) + one event answered, vs spawning bare
php-fpm, polling its socket and one FastCGI request answered.

| path | median ms | min ms | max ms |
|---|---:|---:|---:|
| handler import + first response | ${fmt(coldHandler.median, 1)} | ${fmt(coldHandler.min, 1)} | ${fmt(coldHandler.max, 1)} |
| bare php-fpm + first response | ${fmt(coldBare.median, 1)} | ${fmt(coldBare.min, 1)} | ${fmt(coldBare.max, 1)} |
| **ratio** (per pair of samples) | **${fmt(coldRatio.median, 2)}×** | ${fmt(coldRatio.min, 2)}× | ${fmt(coldRatio.max, 2)}× |

Goal within 1.2×: **${coldRatio.median <= 1.2 ? 'met' : 'not met'}**.

Where the difference goes (measured by hand with timestamps in the bundle, 2026-11-30): php-fpm needs about
100 ms to be ready either way (\`php -n -v\` alone takes ~44 ms here: loading the binary and its libraries;
the extensions take most of the rest). Before php-fpm is spawned the handler pays the dynamic import and the
built-ins it needs (~7 ms; the bare script imports its built-ins before its clock starts), parsing the 130 KB
bundle (~5 ms; \`yaml\` instead of \`js-yaml\` made it 203 KB and ~5 ms slower), evaluating the modules,
reading the config and writing php-fpm's (~6 ms) and, as it happens, one young-generation GC (~3 ms). Node's
\`spawn()\` then takes 8–10 ms on this Firecracker VM (a fork of a larger process than the bare script's ~6 ms),
\`setpriv --pdeathsig\` adds one exec (~2–4 ms), and the first request runs ~2 ms of cold JIT code. What would
close the gap is starting php-fpm before the handler's import — from a Lambda extension or an
\`AWS_LAMBDA_EXEC_WRAPPER\` script in the layer, while the runtime itself boots — which this comparison,
starting its clock at the import, could not count fairly; not done.
`;
process.stdout.write(md);
if (!args['no-write']) writeSection('lambda', md);
