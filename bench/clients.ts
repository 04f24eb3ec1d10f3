/**
 * The three FastCGI clients under test, each behind one small interface so the load loop treats them alike.
 * Every adapter sends the same 18 CGI params (the set node-phpfpm builds itself) and returns the response
 * body with the CGI head removed; the caller checks the body.
 */
import { createRequire } from 'node:module';
import type { Readable, Writable } from 'node:stream';
import { Pool } from '../proxy/fastcgi/pool.ts';
import { bufferCgi, streamCgi } from '../proxy/upstream.ts';

export const CLIENT_NAMES = ['fpm-bridge', 'fastcgi-client', 'node-phpfpm', 'fpm-bridge-stream'] as const;
export type ClientName = (typeof CLIENT_NAMES)[number];
/** The client the goal is about, and the peers it is measured against. */
export const OURS: ClientName = 'fpm-bridge';
export const PEERS: readonly ClientName[] = ['fastcgi-client', 'node-phpfpm'];

/**
 * Per-request deadline for fpm-bridge (FcgiRequest.timeout), as any deployment sets one: a stalled response
 * becomes a counted error instead of hanging the run. The peers have no such option.
 */
const TIMEOUT_MS = 10_000;

/** A response body, or only its length when the client streamed a large body through without keeping it. */
export type BenchBody = Buffer | string | { readonly length: number };

export interface BenchClient {
  /** Runs one GET of the script and resolves with the response body (the CGI head stripped). */
  request(): Promise<BenchBody>;
  close(): Promise<void>;
}

export interface ClientSetup {
  /** php-fpm's Unix socket. */
  socket: string;
  /** php-fpm's worker count (pm.max_children). */
  workers: number;
  docroot: string;
  /** Script file name inside docroot, e.g. `hello.php`. */
  script: string;
}

/** One line per client for RESULTS.md: how it was configured and what it does with connections. */
export const CLIENT_NOTES: Record<ClientName, string> = {
  'fpm-bridge':
    'this repository: `new Pool({kind: "unix"}, {maxConns: workers, keepConn: true})` + `bufferCgi()` with a ' +
    '10 s `timeout`. ' +
    'Keeps one connection per php-fpm worker open (FCGI_KEEP_CONN) and queues excess requests in its own FIFO; ' +
    'parses the CGI head (status, headers) and collects the body as Buffers.',
  'fastcgi-client':
    '`fastcgi-client` 0.2.0: `createClient({sockFile})`, waiting for `ready` (it asks php-fpm with ' +
    'FCGI_GET_VALUES; php-fpm answers FCGI_MPXS_CONNS=0, so the package uses its "one connection per request" ' +
    'mode, without FCGI_KEEP_CONN — it has no connection reuse for a non-multiplexing server). `maxConns` is ' +
    'left at its default (65535): the package has no queue, a request over `maxConns` fails at once, so waiting ' +
    "happens in php-fpm's listen backlog. It writes every record as 2–3 separate socket writes (about 9 per " +
    'request, not corked). Body collected as Buffers; the bench strips the CGI head by ' +
    'searching `\\r\\n\\r\\n` (no header parsing), and checks `getExitStatus() === 0`.',
  'fpm-bridge-stream':
    'this repository, streaming: the same Pool + `streamCgi()`, the body Readable drained and its bytes counted ' +
    '(what the standalone server does when it pipes a response): no concatenation into one Buffer. Not part of ' +
    "the goal comparison, which uses `bufferCgi()` like the peers' whole-body APIs.",
  'node-phpfpm':
    '`node-phpfpm` 1.0.1 (bundles `fastcgi-client` 0.0.1): `new PHPFPM({sockFile, documentRoot})`, ' +
    '`run({uri, method: "GET"}, cb)`. It sets `skipCheckServer`, so it always opens one connection per request ' +
    'without FCGI_KEEP_CONN and has no limit or queue (its records are written as above). It decodes stdout into a UTF-8 string and strips the ' +
    'head with a regex; errors are its `err === 99`.',
};

/** The CGI params every client sends, in node-phpfpm's order (it builds exactly these itself). */
function cgiParams(setup: ClientSetup): Record<string, string> {
  const file = `${setup.docroot}/${setup.script}`;
  return {
    QUERY_STRING: '',
    REQUEST_METHOD: 'GET',
    CONTENT_TYPE: '',
    CONTENT_LENGTH: '',
    SCRIPT_FILENAME: file,
    SCRIPT_NAME: setup.script,
    REQUEST_URI: `/${setup.script}`,
    DOCUMENT_URI: file,
    DOCUMENT_ROOT: setup.docroot,
    SERVER_PROTOCOL: 'HTTP/1.1',
    GATEWAY_INTERFACE: 'CGI/1.1',
    REMOTE_ADDR: '127.0.0.1',
    REMOTE_PORT: '1234',
    SERVER_ADDR: '127.0.0.1',
    SERVER_PORT: '80',
    SERVER_NAME: '127.0.0.1',
    SERVER_SOFTWARE: 'bench',
    REDIRECT_STATUS: '200',
  };
}

export async function createBenchClient(name: ClientName, setup: ClientSetup): Promise<BenchClient> {
  switch (name) {
    case 'fpm-bridge':
      return fpmBridge(setup);
    case 'fastcgi-client':
      return fastcgiClient(setup);
    case 'node-phpfpm':
      return nodePhpfpm(setup);
    case 'fpm-bridge-stream':
      return fpmBridgeStream(setup);
  }
}

function fpmBridge(setup: ClientSetup): BenchClient {
  const pool = new Pool({ kind: 'unix', path: setup.socket }, { maxConns: setup.workers, keepConn: true });
  const params = Object.entries(cgiParams(setup)).flat();
  const request = { params, body: null, timeout: TIMEOUT_MS };
  return {
    async request() {
      const res = await bufferCgi(pool, request).response;
      if (res.status !== 200) throw new Error(`status ${res.status}`);
      return res.body;
    },
    close: () => pool.close(),
  };
}

/** streamCgi, body drained and counted: what a front that streams to its client pays (no concatenation). */
function fpmBridgeStream(setup: ClientSetup): BenchClient {
  const pool = new Pool({ kind: 'unix', path: setup.socket }, { maxConns: setup.workers, keepConn: true });
  const params = Object.entries(cgiParams(setup)).flat();
  const request = { params, body: null, timeout: TIMEOUT_MS };
  return {
    async request() {
      const res = await streamCgi(pool, request).response;
      if (res.status !== 200) throw new Error(`status ${res.status}`);
      // Keep a small body whole, so that its content can be checked too; count a large one.
      const kept: Buffer[] = [];
      let length = 0;
      for await (const chunk of res.body) {
        length += (chunk as Buffer).length;
        if (length <= 1024) kept.push(chunk as Buffer);
      }
      return length <= 1024 ? Buffer.concat(kept) : { length };
    },
    close: () => pool.close(),
  };
}

// ---- fastcgi-client (CommonJS, its bundled types/main.d.ts declares an ES default export it does not have) ----

interface FastcgiRequest {
  abort(): void;
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
  /** Exit code, or an Error if the request did not end normally; null until END_REQUEST. */
  getExitStatus(): Error | number | null;
}

interface FastcgiClient {
  on(event: 'ready', listener: () => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  request(
    params: Record<string, string>,
    cb: (err: Error | null, request: FastcgiRequest | undefined) => void,
  ): void;
}

interface FastcgiClientOptions {
  sockFile?: string;
  host?: string;
  port?: number;
  maxConns?: number;
  maxReqs?: number;
  mpxsConns?: boolean;
  skipCheckServer?: boolean;
}

// ---- node-phpfpm (CommonJS, untyped) ----

interface PhpFpmRunOptions {
  uri: string;
  method?: string;
}

interface PhpFpm {
  /** err is `false`, or `99` when php-fpm could not be reached. */
  run(options: PhpFpmRunOptions, cb: (err: false | number, output: string, phpErrors: string) => void): void;
}

type PhpFpmConstructor = new (options: { sockFile: string; documentRoot: string }) => PhpFpm;

const require = createRequire(import.meta.url);

const CRLF2 = Buffer.from('\r\n\r\n');

function fastcgiClient(setup: ClientSetup): Promise<BenchClient> {
  const createClient = require('fastcgi-client') as (options: FastcgiClientOptions) => FastcgiClient;
  const client = createClient({ sockFile: setup.socket });
  const params = cgiParams(setup);
  const bench: BenchClient = {
    request() {
      return new Promise((resolve, reject) => {
        client.request(params, (err, req) => {
          if (err !== null || req === undefined) {
            reject(err ?? new Error('no request'));
            return;
          }
          const chunks: Buffer[] = [];
          req.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
          req.stderr.resume();
          req.stdout.on('end', () => {
            const status = req.getExitStatus();
            if (status !== 0) {
              reject(status instanceof Error ? status : new Error(`exit status ${status}`));
              return;
            }
            const out = Buffer.concat(chunks);
            const end = out.indexOf(CRLF2);
            if (end < 0) reject(new Error('no CGI head'));
            else resolve(out.subarray(end + 4));
          });
          req.stdin.end();
        });
      });
    },
    close: () => Promise.resolve(),
  };
  return new Promise((resolve, reject) => {
    client.on('ready', () => resolve(bench));
    client.on('error', reject);
  });
}

function nodePhpfpm(setup: ClientSetup): BenchClient {
  const PHPFPM = require('node-phpfpm') as PhpFpmConstructor;
  const php = new PHPFPM({ sockFile: setup.socket, documentRoot: `${setup.docroot}/` });
  const options = { uri: setup.script, method: 'GET' };
  return {
    request() {
      return new Promise((resolve, reject) => {
        // run() mutates its options object (uri, method): give it a fresh one each time.
        php.run({ ...options }, (err, output) => {
          if (err !== false) reject(new Error(`node-phpfpm error ${err}: ${output}`));
          else resolve(output);
        });
      });
    },
    close: () => Promise.resolve(),
  };
}
