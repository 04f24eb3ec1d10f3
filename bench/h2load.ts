/**
 * HTTP/1.1 load from nghttp2's h2load (`--h1`): closed loop, each client a kept connection that sends its
 * next request when the last response is in. Chosen over wrk because it reports each client's own rate
 * (the slowest and fastest client), so a front that serves some clients and starves others shows it, and
 * because its per-request log gives exact latency percentiles.
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { live } from './peers.ts';
import { percentile } from './stats.ts';

export interface LoadOptions {
  h2load: string;
  url: string;
  connections: number;
  seconds: number;
  /** A file whose bytes each request POSTs, or null for GETs. */
  body: string | null;
  /** Request headers as `name: value`; `:authority: HOST` sets the Host header. */
  headers: readonly string[];
  /** Where h2load writes its per-request log (removed once read). */
  logFile: string;
}

export interface LoadResult {
  /** 2xx/3xx responses per second. */
  rps: number;
  /** 2xx/3xx responses. */
  ok: number;
  /** Other statuses, and requests that failed, errored or timed out. */
  errors: number;
  p50Ms: number;
  p99Ms: number;
  /** The slowest and the fastest client's requests per second (h2load's per-client figures). */
  clientMin: number;
  clientMax: number;
  /** What h2load printed, when it could not be understood. */
  problem: string | null;
}

export const NO_LOAD: LoadResult = {
  rps: Number.NaN,
  ok: 0,
  errors: 0,
  p50Ms: Number.NaN,
  p99Ms: Number.NaN,
  clientMin: Number.NaN,
  clientMax: Number.NaN,
  problem: null,
};

export function runLoad(o: LoadOptions): Promise<LoadResult> {
  const args = [
    '--h1',
    '-t',
    '1',
    '-m',
    '1',
    '-c',
    String(o.connections),
    '-D',
    String(o.seconds),
    '--log-file',
    o.logFile,
    ...o.headers.flatMap((h) => ['-H', h]),
    ...(o.body === null ? [] : ['-d', o.body]),
    o.url,
  ];
  return new Promise((resolve) => {
    // A group of its own like the fronts, so the cleanup that stops them stops h2load alike.
    const child = spawn(o.h2load, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.once('error', (err) => (out += err.message));
    child.once('close', () => {
      live.delete(child);
      resolve(parseLoad(out, o.logFile));
    });
  });
}

/** The summary h2load prints, and latency percentiles from its log (start µs, status, duration µs per line). */
function parseLoad(out: string, logFile: string): LoadResult {
  const finished = /finished in ([\d.]+)(ms|s),/.exec(out);
  const requests =
    /requests: \d+ total, \d+ started, \d+ done, \d+ succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
      out,
    );
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  const perClient = /^req\/s\s*:\s*([\d.]+)\s+([\d.]+)/m.exec(out);
  if (finished === null || requests === null || codes === null) {
    rmSync(logFile, { force: true });
    return { ...NO_LOAD, problem: out.trim() };
  }
  const seconds = Number(finished[1]) / (finished[2] === 'ms' ? 1000 : 1);
  const ok = Number(codes[1]) + Number(codes[2]);
  const errors =
    Number(codes[3]) + Number(codes[4]) + Number(requests[1]) + Number(requests[2]) + Number(requests[3]);
  const durations: number[] = [];
  try {
    for (const line of readFileSync(logFile, 'utf8').split('\n')) {
      const tab = line.lastIndexOf('\t');
      if (tab > 0) durations.push(Number(line.slice(tab + 1)) / 1000);
    }
  } catch {
    // No log: no request completed.
  }
  rmSync(logFile, { force: true });
  const sorted = Float64Array.from(durations).sort();
  return {
    rps: ok / seconds,
    ok,
    errors,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    clientMin: Number(perClient?.[1] ?? Number.NaN),
    clientMax: Number(perClient?.[2] ?? Number.NaN),
    problem: null,
  };
}
