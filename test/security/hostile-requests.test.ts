// One table of hostile requests, each with what must happen to it, driven through both fronts: the
// standalone server (the request as raw bytes over TCP, so a malformed request reaches it unchanged) and
// the Lambda handler (the same request as an HTTP API v2 event and as a multi-value ALB event, and the v2
// event through the streaming handler of Function URLs).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { multiValueHeaders } from '../../handler/adapter.ts';
import { createLambdaApp, type LambdaApp } from '../../handler/runtime.ts';
import type { Config } from '../../proxy/config.ts';
import type { HttpServer } from '../../server/http1/server.ts';
import { createFrontServer } from '../../server/server.ts';
import {
  type DumpBody,
  FIXTURES_DOCROOT,
  recordingLogger,
  startBridge,
  type TestBridge,
  withoutCgiEnv,
} from '../support/bridge.ts';
import { loadEvent } from '../support/events.ts';
import { fakeContext } from '../support/lambda-context.ts';
import { phpFpmUnderTest } from '../support/php-fpm.ts';
import { rawRequest } from '../support/raw-http.ts';

/** A request as a client writes it. Nothing is normalised: the target and header values go out as they are. */
interface HostileRequest {
  /** Default GET. */
  method?: string;
  /** Request target, raw. */
  target: string;
  /** In order, repeats allowed. `Host: app.example` is added first unless a Host is given. */
  headers?: [string, string][];
  /** Sent after the head as is; give the framing headers (Content-Length, Transfer-Encoding) yourself. */
  body?: string;
}

/** What must happen to a request. */
type Outcome =
  /** Answered with this status; no script runs. */
  | { refused: number }
  /** 200 from this script (relative to the test root); `server`: `$_SERVER` entries PHP saw, null = absent. */
  | { ran: string; server?: Record<string, string | null> }
  /** Served as a static file (relative to the test root), byte for byte; no script runs. */
  | { file: string };

/** The config a row runs under (besides the docroot). */
const VARIANTS = {
  default: {},
  frontControllerOnly: { frontControllerOnly: true },
  symlinksWithinDocroot: { symlinks: 'within-docroot' },
} satisfies Record<string, Partial<Record<keyof Config, unknown>>>;
type Variant = keyof typeof VARIANTS;

type FrontName = 'serve' | 'v2' | 'alb' | 'stream';

interface Row {
  name: string;
  request: HostileRequest;
  /** Default `default`. */
  config?: Variant;
  /**
   * One outcome through every front, or per front: `lambda` covers the Lambda ones unless `v2` (HTTP API
   * events, buffered and streamed) or `alb` differ.
   */
  expect: Outcome | { serve: Outcome; lambda: Outcome; v2?: Outcome; alb?: Outcome };
}

const INDEX = 'public/index.php';
const DUMP = 'public/dump.php';
const BIG = 'x'.repeat(70_000);
const CL_TE_BODY = '0\r\n\r\nGET /uploads/evil.php HTTP/1.1\r\nHost: app.example\r\n\r\n';
const BARE_LF_CHUNK_BODY = '3;x\nGET /x HTTP/1.1\r\nabc\r\n0\r\n\r\n';

// biome-ignore format: one row a few lines, aligned by hand for reading
const TABLE: Row[] = [
  // CVE-2019-11043: a line feed in the path broke php-fpm's PATH_INFO arithmetic behind nginx.
  { name: 'CVE-2019-11043: %0a after the script name', request: { target: '/index.php/PHP_VALUE%0Aauto_prepend_file=/etc/passwd' }, expect: { refused: 400 } },
  { name: '%0d in the path', request: { target: '/dump.php%0d' }, expect: { refused: 400 } },
  { name: '%0A.php path-info split bait', request: { target: '/dump.php/%0A.php?a=1' }, expect: { refused: 400 } },
  { name: 'raw LF in the request target', request: { target: '/dump.php\n.php' }, expect: { refused: 400 } },
  // NUL once made PHP run a file whose name only appeared to end in .php.
  { name: '%00 in the path', request: { target: '/uploads/evil.php.jpg%00.php' }, expect: { refused: 400 } },
  { name: 'raw NUL in the request target', request: { target: '/dump.php\0.txt' }, expect: { refused: 400 } },
  { name: 'overlong UTF-8 dots (%c0%ae)', request: { target: '/%c0%ae%c0%ae/etc/passwd' }, expect: { refused: 400 } },

  // Traversal: nothing above the docroot is ever reached.
  { name: '../ above the docroot', request: { target: '/../outside/secret.php' }, expect: { refused: 404 } },
  { name: '%2e%2e above the docroot', request: { target: '/%2e%2e/outside/secret.php' }, expect: { refused: 404 } },
  { name: 'encoded slashes: ..%2f..%2f', request: { target: '/uploads/..%2f..%2foutside/secret.php' }, expect: { refused: 404 } },
  { name: 'raw backslashes', request: { target: '/uploads\\..\\..\\outside\\secret.php' }, expect: { refused: 404 } },
  { name: 'encoded backslashes (%5c)', request: { target: '/uploads/..%5c..%5coutside/secret.php' }, expect: { refused: 404 } },
  { name: '.. inside the docroot is resolved, the raw target kept for PHP', request: { target: '/uploads/%2e%2e/dump.php?x=1' },
    expect: { ran: DUMP, server: { SCRIPT_NAME: '/dump.php', REQUEST_URI: '/uploads/%2e%2e/dump.php?x=1', PATH_INFO: null } } },
  { name: 'double encoding is decoded once, never twice (%252e%252e)', request: { target: '/%252e%252e/outside/secret.php' },
    expect: { ran: INDEX, server: { SCRIPT_NAME: '/index.php', REQUEST_URI: '/%252e%252e/outside/secret.php' } } },

  // Dot-names: nothing under them runs or is served; a symlink is judged by its target too.
  { name: 'a script in a dot-directory', request: { target: '/.git/hook.php' }, expect: { refused: 404 } },
  { name: 'a script in a dot-directory, with path info', request: { target: '/.git/hook.php/x' }, expect: { refused: 404 } },
  { name: 'a .txt symlink to a script (its source)', request: { target: '/source.txt' },
    expect: { serve: { refused: 404 }, lambda: { ran: INDEX } } },
  // Symlinks: followed as nginx does (the admin placed them), refused with symlinks: within-docroot.
  { name: 'a script behind a symlink out of the docroot, followed by default', request: { target: '/linked/secret.php' },
    expect: { ran: 'outside/secret.php', server: { SCRIPT_NAME: '/linked/secret.php' } } },
  { name: 'a script behind a symlink out of the docroot, within-docroot', config: 'symlinksWithinDocroot', request: { target: '/linked/secret.php' },
    expect: { ran: INDEX, server: { SCRIPT_NAME: '/index.php' } } },
  { name: 'a file symlinked from outside, followed by default (Lambda serves no static files)', request: { target: '/linked.txt' },
    expect: { serve: { file: 'outside/secret.txt' }, lambda: { ran: INDEX } } },
  { name: 'a file symlinked from outside, within-docroot', config: 'symlinksWithinDocroot', request: { target: '/linked.txt' }, expect: { ran: INDEX } },

  // Upload directories: what users upload must not run where it should not.
  { name: 'a .php in the upload dir runs in direct-script mode', request: { target: '/uploads/evil.php' }, expect: { ran: 'public/uploads/evil.php' } },
  { name: 'a .php in the upload dir, front-controller mode', config: 'frontControllerOnly', request: { target: '/uploads/evil.php' },
    expect: { ran: INDEX, server: { SCRIPT_NAME: '/index.php', REQUEST_URI: '/uploads/evil.php' } } },
  { name: 'a .php in the upload dir with path info, front-controller mode', config: 'frontControllerOnly', request: { target: '/uploads/evil.php/x.jpg' },
    expect: { ran: INDEX, server: { SCRIPT_NAME: '/index.php', PATH_INFO: null } } },
  { name: 'an image with PHP inside, asked for as /img.jpg/x.php (cgi.fix_pathinfo)', request: { target: '/uploads/evil.php.jpg/x.php' },
    expect: { ran: INDEX, server: { SCRIPT_NAME: '/index.php' } } },
  { name: 'an uploaded evil.php.jpg is never run', request: { target: '/uploads/evil.php.jpg' },
    expect: { serve: { file: 'public/uploads/evil.php.jpg' }, lambda: { ran: INDEX } } },
  { name: 'an uploaded shell.PHP is neither run nor shown', request: { target: '/uploads/shell.PHP' }, expect: { refused: 404 } },

  // httpoxy: PHP code reads HTTP_PROXY as the outgoing proxy.
  { name: 'Proxy header (httpoxy)', request: { target: '/dump.php', headers: [['Host', 'app.example'], ['Proxy', 'http://evil.example:8080']] },
    expect: { ran: DUMP, server: { HTTP_PROXY: null } } },
  { name: 'header names with "_" cannot shadow "-" ones', request: { target: '/dump.php', headers: [['Host', 'app.example'], ['X-Real-IP', '192.0.2.1'], ['X_Real_IP', '10.0.0.1']] },
    expect: { ran: DUMP, server: { HTTP_X_REAL_IP: '192.0.2.1' } } },

  // CR, LF and NUL in header values would split one header into two on the way to PHP.
  { name: 'bare CR in a header value', request: { target: '/dump.php', headers: [['Host', 'app.example'], ['X-A', 'b\rX-Injected: 1']] }, expect: { refused: 400 } },
  { name: 'bare LF in a header value', request: { target: '/dump.php', headers: [['Host', 'app.example'], ['X-A', 'b\nX-Injected: 1']] }, expect: { refused: 400 } },
  { name: 'NUL in a header value', request: { target: '/dump.php', headers: [['Host', 'app.example'], ['X-A', 'b\0c']] }, expect: { refused: 400 } },
  { name: 'obs-fold continuation line', request: { target: '/dump.php', headers: [['Host', 'app.example'], ['X-A', 'b\r\n c']] }, expect: { refused: 400 } },

  // Sizes: a request head over maxHeaderSize (serve), a pair over one FastCGI record (both).
  { name: 'a 20 KB header: over maxHeaderSize standalone, fine in Lambda', request: { target: '/dump.php', headers: [['Host', 'app.example'], ['X-Big', 'y'.repeat(20_000)]] },
    expect: { serve: { refused: 431 }, lambda: { ran: DUMP, server: { HTTP_X_BIG: 'y'.repeat(20_000) } } } },
  { name: 'a 70 KB header, more than a FastCGI record carries', request: { target: '/dump.php', headers: [['Host', 'app.example'], ['X-Big', BIG]] }, expect: { refused: 431 } },
  { name: 'a 70 KB query string', request: { target: `/dump.php?q=${BIG}` }, expect: { refused: 431 } },

  // Framing: ambiguous lengths are refused standalone; in Lambda the body is already framed by AWS and
  // only its real length reaches PHP, never the client's headers about it.
  { name: 'duplicate Content-Length', request: { method: 'POST', target: '/dump.php', headers: [['Host', 'app.example'], ['Content-Length', '3'], ['Content-Length', '3']], body: 'abc' },
    expect: { serve: { refused: 400 }, lambda: { ran: DUMP, server: { CONTENT_LENGTH: '3', HTTP_CONTENT_LENGTH: null } } } },
  { name: 'conflicting Content-Length', request: { method: 'POST', target: '/dump.php', headers: [['Host', 'app.example'], ['Content-Length', '3'], ['Content-Length', '40']], body: 'abc' },
    expect: { serve: { refused: 400 }, lambda: { ran: DUMP, server: { CONTENT_LENGTH: '3', HTTP_CONTENT_LENGTH: null } } } },
  { name: 'negative Content-Length', request: { method: 'POST', target: '/dump.php', headers: [['Host', 'app.example'], ['Content-Length', '-1']], body: 'abc' },
    expect: { serve: { refused: 400 }, lambda: { ran: DUMP, server: { CONTENT_LENGTH: '3' } } } },
  { name: 'smuggling: Content-Length with Transfer-Encoding (CL.TE)', request: {
      method: 'POST', target: '/dump.php', headers: [['Host', 'app.example'], ['Content-Length', '4'], ['Transfer-Encoding', 'chunked']],
      body: CL_TE_BODY },
    expect: { serve: { refused: 400 }, lambda: { ran: DUMP, server: { CONTENT_LENGTH: String(CL_TE_BODY.length), HTTP_TRANSFER_ENCODING: null } } } },
  { name: 'smuggling: obfuscated Transfer-Encoding (TE.TE)', request: {
      method: 'POST', target: '/dump.php', headers: [['Host', 'app.example'], ['Transfer-Encoding', 'chunked'], ['Transfer-Encoding', 'identity']], body: '0\r\n\r\n' },
    expect: { serve: { refused: 400 }, lambda: { ran: DUMP, server: { CONTENT_LENGTH: '5', HTTP_TRANSFER_ENCODING: null } } } },
  { name: 'smuggling: a bare LF inside a chunk header', request: {
      method: 'POST', target: '/dump.php', headers: [['Host', 'app.example'], ['Transfer-Encoding', 'chunked']], body: BARE_LF_CHUNK_BODY },
    expect: { serve: { refused: 400 }, lambda: { ran: DUMP, server: { CONTENT_LENGTH: String(BARE_LF_CHUNK_BODY.length) } } } },

  // Host: SERVER_NAME is the Host without its port; nothing else the client sends moves it.
  { name: 'a spoofed Host becomes SERVER_NAME (apps check it against their own list)', request: { target: '/dump.php', headers: [['Host', 'evil.example']] },
    expect: { ran: DUMP, server: { SERVER_NAME: 'evil.example', HTTP_HOST: 'evil.example' } } },
  { name: 'a port in Host is not part of SERVER_NAME', request: { target: '/dump.php', headers: [['Host', 'app.example:1234']] },
    expect: { ran: DUMP, server: { SERVER_NAME: 'app.example', HTTP_HOST: 'app.example:1234' } } },
  { name: 'X-Forwarded-Host is not believed by default', request: { target: '/dump.php', headers: [['Host', 'app.example'], ['X-Forwarded-Host', 'admin.internal']] },
    expect: { ran: DUMP, server: { SERVER_NAME: 'app.example', HTTP_HOST: 'app.example', HTTP_X_FORWARDED_HOST: 'admin.internal' } } },
  { name: 'two Host headers (RFC 9112 §3.2)', request: { target: '/dump.php', headers: [['Host', 'app.example'], ['Host', 'evil.example']] },
    // HTTP API joins repeated headers with "," before the event is built: the handler sees one Host.
    expect: { serve: { refused: 400 }, lambda: { refused: 400 }, v2: { ran: DUMP, server: { SERVER_NAME: 'app.example,evil.example' } } } },
  { name: 'a Host with a path in it', request: { target: '/dump.php', headers: [['Host', 'evil.example/../admin']] }, expect: { refused: 400 } },
];

/** The request as bytes on the wire; `Connection: close` last, so the reply ends with the connection. */
function toRaw(r: HostileRequest): string {
  let head = `${r.method ?? 'GET'} ${r.target} HTTP/1.1\r\n`;
  for (const [name, value] of headersOf(r)) head += `${name}: ${value}\r\n`;
  return `${head}Connection: close\r\n\r\n${r.body ?? ''}`;
}

function headersOf(r: HostileRequest): [string, string][] {
  const given = r.headers ?? [];
  return given.some(([n]) => n.toLowerCase() === 'host') ? given : [['Host', 'app.example'], ...given];
}

function split(target: string): { path: string; query: string } {
  const q = target.indexOf('?');
  return q < 0 ? { path: target, query: '' } : { path: target.slice(0, q), query: target.slice(q + 1) };
}

/** The request as HTTP API delivers it: names lowercased, repeated headers joined with ",". */
function v2Event(r: HostileRequest): unknown {
  const event = loadEvent('apigw-http', 'get-root');
  const { path, query } = split(r.target);
  const headers: Record<string, string> = {};
  for (const [name, value] of headersOf(r)) {
    const key = name.toLowerCase();
    headers[key] = headers[key] === undefined ? value : `${headers[key]},${value}`;
  }
  event.rawPath = path;
  event.rawQueryString = query;
  event.requestContext.http.method = r.method ?? 'GET';
  event.requestContext.http.path = path;
  event.headers = headers;
  if (r.body !== undefined) event.body = r.body;
  return event;
}

/** The request as an ALB target group with multi-value headers delivers it: query still encoded. */
function albEvent(r: HostileRequest): unknown {
  const event = loadEvent('alb', 'get-multi-value');
  const { path, query } = split(r.target);
  const pairs = query === '' ? [] : query.split('&');
  event.httpMethod = r.method ?? 'GET';
  event.path = path;
  // Grouped by name into arrays, as the multi-value headers are.
  event.multiValueQueryStringParameters = multiValueHeaders(
    pairs.flatMap((p) =>
      p.includes('=') ? [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)] : [p, ''],
    ),
  );
  event.multiValueHeaders = multiValueHeaders(headersOf(r).flatMap(([n, v]) => [n.toLowerCase(), v]));
  event.body = r.body ?? '';
  return event;
}

interface Seen {
  status: number;
  body: Buffer;
}

interface Front {
  send(r: HostileRequest): Promise<Seen>;
}

/** The fronts of one config variant, and how to stop them. */
interface FrontSet {
  fronts: Record<FrontName, Front>;
  close(): Promise<void>;
}

/**
 * The test root: `public/` is the docroot, `outside/` is what must stay out of reach. Every script that
 * can run notes its name in `ran.log` first, so a refused request provably ran nothing.
 */
function makeRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'fpm-bridge-hostile-'));
  const dump = `<?php
file_put_contents(${JSON.stringify(join(root, 'ran.log'))}, __FILE__ . "\\n", FILE_APPEND);
require ${JSON.stringify(join(FIXTURES_DOCROOT, 'dump.php'))};
`;
  writeFileSync(join(root, 'ran.log'), '');
  mkdirSync(join(root, 'public', 'uploads'), { recursive: true });
  mkdirSync(join(root, 'outside'));
  writeFileSync(join(root, 'public', 'index.php'), dump);
  writeFileSync(join(root, 'public', 'dump.php'), dump);
  writeFileSync(join(root, 'public', 'uploads', 'evil.php'), dump);
  // An "image" with PHP inside, as an attacker uploads it.
  writeFileSync(join(root, 'public', 'uploads', 'evil.php.jpg'), "<?php echo 'evil.php.jpg ran';\n");
  writeFileSync(join(root, 'public', 'uploads', 'shell.PHP'), "<?php echo 'shell.PHP ran';\n");
  writeFileSync(join(root, 'outside', 'secret.php'), dump);
  writeFileSync(join(root, 'outside', 'secret.txt'), 'secret\n');
  symlinkSync(join(root, 'outside'), join(root, 'public', 'linked'));
  symlinkSync(join(root, 'outside', 'secret.txt'), join(root, 'public', 'linked.txt'));
  // A script in a dot-directory, and a harmless-looking name for a script's source.
  mkdirSync(join(root, 'public', '.git'));
  writeFileSync(join(root, 'public', '.git', 'hook.php'), dump);
  symlinkSync('dump.php', join(root, 'public', 'source.txt'));
  return root;
}

async function startFronts(root: string, variant: Variant): Promise<FrontSet> {
  const t: TestBridge = await startBridge({ docroot: join(root, 'public'), overrides: VARIANTS[variant] });
  const server: HttpServer = createFrontServer(t.bridge, { accessLog: null });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const app: LambdaApp = await withoutCgiEnv(() =>
    createLambdaApp({
      taskRoot: root,
      env: {},
      overrides: { phpFpmBinary: phpFpmUnderTest(), docroot: join(root, 'public'), ...VARIANTS[variant] },
      log: recordingLogger([]),
    }),
  );
  const front = (toEvent: (r: HostileRequest) => unknown): Front => ({
    async send(r) {
      const result = (await app.handler(toEvent(r), fakeContext())) as {
        statusCode: number;
        body: string;
        isBase64Encoded: boolean;
      };
      return {
        status: result.statusCode,
        body: Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8'),
      };
    },
  });
  return {
    fronts: {
      serve: { send: (r) => rawRequest(port, toRaw(r)) },
      v2: front(v2Event),
      alb: front(albEvent),
      stream: {
        async send(r) {
          let status = 0;
          const chunks: Buffer[] = [];
          const sink = new Writable({
            write(chunk: Buffer, _encoding, done) {
              chunks.push(Buffer.from(chunk));
              done();
            },
          });
          // Stands in for awslambda.HttpResponseStream.from: the prelude carries the status.
          await app.streamingHandler(v2Event(r), sink, fakeContext(), (stream, metadata) => {
            status = metadata.statusCode;
            return stream;
          });
          return { status, body: Buffer.concat(chunks) };
        },
      },
    },
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await t.close();
      await app.close();
    },
  };
}

function outcomeFor(row: Row, front: FrontName): Outcome {
  const e = row.expect;
  if (!('serve' in e)) return e;
  if (front === 'serve') return e.serve;
  return e[front === 'stream' ? 'v2' : front] ?? e.lambda;
}

async function check(front: Front, root: string, request: HostileRequest, expected: Outcome): Promise<void> {
  const ranLog = join(root, 'ran.log');
  writeFileSync(ranLog, '');
  const seen = await front.send(request);
  const text = seen.body.toString('utf8').slice(0, 200);
  if ('refused' in expected) {
    assert.equal(seen.status, expected.refused, text);
    assert.equal(readFileSync(ranLog, 'utf8'), '', 'a script ran');
  } else if ('file' in expected) {
    assert.equal(seen.status, 200, text);
    assert.deepEqual(seen.body, readFileSync(join(root, expected.file)));
    assert.equal(readFileSync(ranLog, 'utf8'), '', 'a script ran');
  } else {
    assert.equal(seen.status, 200, text);
    const dump = JSON.parse(seen.body.toString('utf8')) as DumpBody;
    assert.equal(dump.ran, join(root, expected.ran));
    for (const [name, value] of Object.entries(expected.server ?? {})) {
      if (value === null) assert.equal(name in dump.server, false, `${name} is in $_SERVER`);
      else assert.equal(String(dump.server[name]), value, name);
    }
  }
}

describe('hostile requests through both fronts', () => {
  const root = makeRoot();
  const sets = new Map<Variant, FrontSet>();
  before(async () => {
    for (const variant of new Set(TABLE.map((row) => row.config ?? 'default'))) {
      sets.set(variant, await startFronts(root, variant));
    }
  });
  after(async () => {
    for (const set of sets.values()) await set.close();
    rmSync(root, { recursive: true, force: true });
  });

  for (const row of TABLE) {
    describe(row.name, () => {
      for (const front of ['serve', 'v2', 'alb', 'stream'] as const) {
        const expected = outcomeFor(row, front);
        const what =
          'refused' in expected
            ? `refused with ${expected.refused}`
            : 'file' in expected
              ? `serves ${expected.file}`
              : `runs ${expected.ran}`;
        it(`${front}: ${what}`, () =>
          check(sets.get(row.config ?? 'default')!.fronts[front], root, row.request, expected));
      }
    });
  }
});
