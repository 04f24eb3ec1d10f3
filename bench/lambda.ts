/**
 * Benchmark of the Lambda front, against the same php-fpm without it:
 *
 * 1. Handler overhead: an HTTP API (v2) event through `handler` (adapter, routing, params, response
 *    encoding) vs the same request as a raw FastCGI call on the same pool — p50/p99, interleaved in batches so
 *    drift hits both sides alike. Goal: under 50 µs added at p50.
 * 2. Cold start: importing the built `dist/handler.js` (which starts php-fpm during init) and answering one
 *    event, vs starting bare php-fpm, waiting for its socket and sending one FastCGI request. Each sample in a
 *    fresh Node process, Node's own start excluded on both sides. Goal: within 1.2×.
 *
 *   npm run build && node --import tsx bench/lambda.ts [--requests 20000] [--cold 15] [--no-write]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { createLambdaApp } from '../handler/runtime.ts';
import { encodeRequestHead } from '../proxy/fastcgi/records.ts';
import { locatePhpFpm } from '../proxy/fpm/locate.ts';
import { silentLogger } from '../proxy/log.ts';
import { bufferCgi } from '../proxy/upstream.ts';
import { phpFpmVersion, writeSection } from './results.ts';

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '20000' },
    cold: { type: 'string', default: '15' },
    'no-write': { type: 'boolean', default: false },
  },
});
const REQUESTS = Number(args.requests);
const COLD = Number(args.cold);
const ROOT = fileURLToPath(new URL('..', import.meta.url));

const docroot = mkdtempSync(join(tmpdir(), 'fpm-bridge-bench-lambda-'));
writeFileSync(join(docroot, 'hello.php'), "<?php\necho 'Hello, World!';\n");

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

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

// ---- 1. handler overhead ----

const app = await createLambdaApp({ taskRoot: docroot, env: {}, overrides: { docroot }, log: silentLogger });
const pool = app.bridge.backend.pools[0]!;
const params = [
  'GATEWAY_INTERFACE',
  'CGI/1.1',
  'REQUEST_METHOD',
  'GET',
  'SCRIPT_FILENAME',
  join(docroot, 'hello.php'),
  'SCRIPT_NAME',
  '/hello.php',
  'REQUEST_URI',
  '/hello.php?a=1&b=2',
  'QUERY_STRING',
  'a=1&b=2',
  'DOCUMENT_ROOT',
  docroot,
  'SERVER_PROTOCOL',
  'HTTP/1.1',
  'REMOTE_ADDR',
  '203.0.113.42',
  'SERVER_PORT',
  '443',
];
const viaHandler: number[] = [];
const viaFastcgi: number[] = [];
const BATCH = 500;
for (let warm = 0; warm < 2000; warm++) {
  await app.handler(event, context);
  await bufferCgi(pool, { params, body: null }).response;
}
for (let done = 0; done < REQUESTS; done += BATCH) {
  for (let i = 0; i < BATCH; i++) {
    const t = process.hrtime.bigint();
    const r = (await app.handler(event, context)) as { statusCode: number; body: string };
    viaHandler.push(Number(process.hrtime.bigint() - t) / 1e3);
    if (r.statusCode !== 200 || r.body !== 'Hello, World!')
      throw new Error(`bad handler response ${JSON.stringify(r)}`);
  }
  for (let i = 0; i < BATCH; i++) {
    const t = process.hrtime.bigint();
    const r = await bufferCgi(pool, { params, body: null }).response;
    viaFastcgi.push(Number(process.hrtime.bigint() - t) / 1e3);
    if (r.body.toString() !== 'Hello, World!') throw new Error('bad FastCGI response');
  }
}
await app.close();
viaHandler.sort((a, b) => a - b);
viaFastcgi.sort((a, b) => a - b);
const overhead = {
  handlerP50: percentile(viaHandler, 50),
  handlerP99: percentile(viaHandler, 99),
  rawP50: percentile(viaFastcgi, 50),
  rawP99: percentile(viaFastcgi, 99),
};

// ---- 2. cold start ----

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
cold.handler.sort((a, b) => a - b);
cold.bare.sort((a, b) => a - b);
const coldHandler = percentile(cold.handler, 50);
const coldBare = percentile(cold.bare, 50);

// ---- report ----

const added = overhead.handlerP50 - overhead.rawP50;
const php = phpFpmVersion();
const md = `## Lambda handler

Generated by \`bench/lambda.ts\` on ${new Date().toISOString()}: \`npm run build && node --import tsx bench/lambda.ts --requests ${REQUESTS} --cold ${COLD}\`.
Machine: ${cpus().length} CPUs, Node ${process.version}, ${php}. One php-fpm worker (\`workers: 1\`, as on Lambda).

**Handler overhead** — an HTTP API v2 event for \`/hello.php?a=1&b=2\` through \`handler\` vs the same request as a raw
FastCGI call (\`bufferCgi\`, hand-built params) on the same pool; ${REQUESTS} requests each, sequential, interleaved in
batches of ${BATCH} after 2000 warm-up rounds. Latency from the call to the result in hand.

| path | p50 µs | p99 µs |
|---|---:|---:|
| \`handler(event)\` | ${overhead.handlerP50.toFixed(1)} | ${overhead.handlerP99.toFixed(1)} |
| raw FastCGI | ${overhead.rawP50.toFixed(1)} | ${overhead.rawP99.toFixed(1)} |
| **added by the handler** | **${added.toFixed(1)}** | ${(overhead.handlerP99 - overhead.rawP99).toFixed(1)} |

Goal under 50 µs at p50: **${added < 50 ? 'met' : 'not met'}**.

**Cold start** — median of ${COLD} samples, each in a fresh plain \`node\` process, as Lambda runs it (Node's own
start not counted): \`import('dist/handler.js')\` (php-fpm starts during init) + one event answered, vs spawning bare
php-fpm, polling its socket and one FastCGI request answered.

| path | median ms | min ms | max ms |
|---|---:|---:|---:|
| handler import + first response | ${coldHandler.toFixed(1)} | ${cold.handler[0]!.toFixed(1)} | ${cold.handler.at(-1)!.toFixed(1)} |
| bare php-fpm + first response | ${coldBare.toFixed(1)} | ${cold.bare[0]!.toFixed(1)} | ${cold.bare.at(-1)!.toFixed(1)} |
| **ratio** | **${(coldHandler / coldBare).toFixed(2)}×** | | |

Goal within 1.2×: **${coldHandler / coldBare <= 1.2 ? 'met' : 'not met'}**.

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
