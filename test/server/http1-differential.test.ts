// Differential framing: the same raw bytes to `fpm-bridge serve`, node:http (llhttp), nginx and HAProxy, and
// where each reads the request's end. A front before fpm-bridge that read a request's end elsewhere would
// forward the rest as a request of its own (request smuggling), so fpm-bridge may read an end only where every
// peer that reads one reads the same, and must refuse what no peer reads. nginx and HAProxy each front a
// php-fpm of their own (a kept connection holds its worker: fronts sharing a pool would starve each other).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Daemon, findTool, type PeerName, startPeer, stopDaemon } from '../../bench/peers.ts';
import { FIXTURES_DOCROOT } from '../support/bridge.ts';
import { startFront, type TestFront } from '../support/front.ts';
import { startFpm, type TestFpm } from '../support/php-fpm.ts';
import { freePort } from '../support/ports.ts';
import { rawRequest } from '../support/raw-http.ts';

const PEERS: readonly PeerName[] = ['nginx', 'haproxy'];
const missing = PEERS.filter((name) => findTool(name) === null);

/** What hex.php answers: every $_SERVER string and the body, as hex. */
interface HexBody {
  server: Record<string, string>;
  input: string;
}

const unhex = (hex: string | undefined) => Buffer.from(hex ?? '', 'hex').toString('latin1');

/** A front's silence this long after the last byte means it waits for more: it reads a longer request. */
const QUIET = 2000;

/**
 * Writes `bytes` on a new connection and reads until the front closes it, or goes quiet. Returns what the
 * front read, one entry a request: `METHOD TARGET BODY-HEX` for a request the application got, `refused` for
 * an error status, then `open` if the front still waited for more.
 */
function reading(port: number, bytes: string): Promise<string[]> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect({ port, host: '127.0.0.1' });
    let closed = false;
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      const out = requestsIn(Buffer.concat(chunks));
      resolve(closed ? out : [...out, 'open']);
    };
    const quiet = () => {
      clearTimeout(timer);
      timer = setTimeout(done, QUIET);
    };
    socket.on('connect', () => {
      socket.write(Buffer.from(bytes, 'latin1'));
      quiet();
    });
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      quiet();
    });
    // A front that refuses while the client still writes may reset the connection: a close too.
    socket.on('error', () => {});
    socket.on('close', () => {
      closed = true;
      done();
    });
  });
}

/** The requests a front's responses show, in order; interim (1xx) responses are skipped. */
function requestsIn(data: Buffer): string[] {
  const out: string[] = [];
  let at = 0;
  while (at < data.length) {
    const end = data.indexOf('\r\n\r\n', at);
    if (end < 0) return [...out, 'partial'];
    const head = data.toString('latin1', at, end);
    const status = Number(head.slice(9, 12));
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    let body: Buffer;
    if (status < 200) {
      body = Buffer.alloc(0);
      at = end + 4;
    } else if (length !== null) {
      body = data.subarray(end + 4, end + 4 + Number(length[1]));
      at = end + 4 + Number(length[1]);
    } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      const parts: Buffer[] = [];
      at = end + 4;
      for (;;) {
        const eol = data.indexOf('\r\n', at);
        if (eol < 0) return [...out, 'partial'];
        const size = Number.parseInt(data.toString('latin1', at, eol), 16);
        at = eol + 2 + size + 2;
        if (size === 0) break;
        parts.push(data.subarray(eol + 2, eol + 2 + size));
      }
      body = Buffer.concat(parts);
    } else {
      body = data.subarray(end + 4);
      at = data.length;
    }
    if (status < 200) continue;
    if (status !== 200) {
      out.push('refused');
      continue;
    }
    const { server, input } = JSON.parse(body.toString('latin1')) as HexBody;
    out.push(`${unhex(server.REQUEST_METHOD)} ${unhex(server.REQUEST_URI)} ${input}`);
  }
  return out;
}

/** node:http as a front: answers as hex.php does, from what llhttp read. */
function llhttpFront(): Server {
  return createServer((req, res) => {
    const body: Buffer[] = [];
    req.on('data', (d: Buffer) => body.push(d));
    req.on('end', () => {
      const server = {
        REQUEST_METHOD: Buffer.from(req.method!, 'latin1').toString('hex'),
        REQUEST_URI: Buffer.from(req.url!, 'latin1').toString('hex'),
      };
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ server, input: Buffer.concat(body).toString('hex') }));
    });
  });
}

/** After the request under test, one more, which closes the connection: where it starts shows where the first ended. */
const NEXT = 'GET /hex.php?next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
const HELLO_CHUNKED = '5\r\nhello\r\n0\r\n\r\n';
const post = (headers: string, body: string) =>
  `POST /hex.php?first HTTP/1.1\r\nHost: x\r\n${headers}\r\n${body}`;
const te = (value: string, body = HELLO_CHUNKED) => post(`Transfer-Encoding: ${value}\r\n`, body);
const cl = (value: string) => post(`Content-Length: ${value}\r\n`, 'hello');

/** Whitespace to String.prototype.trim or \s but not to HTTP, as bytes: latin1 single bytes, then UTF-8. */
const SPACES: [string, string][] = [
  ['NBSP (0xA0)', '\xa0'],
  ['NEL (0x85)', '\x85'],
  ['VT', '\x0b'],
  ['FF', '\x0c'],
  ['FS (0x1C)', '\x1c'],
  ['U+00A0 in UTF-8', '\xc2\xa0'],
  ['U+2000 in UTF-8', '\xe2\x80\x80'],
  ['U+3000 in UTF-8', '\xe3\x80\x80'],
  ['a BOM in UTF-8', '\xef\xbb\xbf'],
];

/** Requests every front reads alike: serve must read them as they do. */
const WELL_FORMED: [string, string][] = [
  ['a body by Content-Length', cl('5')],
  ['a chunked body', te('chunked')],
  ['a chunked body, SP around the coding', te(' chunked ')],
];

/** Requests the fronts may read otherwise: serve refuses, or reads the end every peer that reads one reads. */
const ODD: [string, string][] = [
  ['a chunked body, HTAB around the coding', te('\tchunked\t')],
  ['a chunked body, SP and HTAB before a chunk extension', te('chunked', '5 \t;a=b\r\nhello\r\n0\r\n\r\n')],
  [
    'Content-Length beside Transfer-Encoding',
    post('Content-Length: 5\r\nTransfer-Encoding: chunked\r\n', HELLO_CHUNKED),
  ],
  ['two Content-Lengths', post('Content-Length: 5\r\nContent-Length: 5\r\n', 'hello')],
  ...SPACES.flatMap(([what, space]): [string, string][] => [
    [`Transfer-Encoding "chunked" then ${what}`, te(`chunked${space}`)],
    [`Transfer-Encoding ${what} then "chunked"`, te(`${space}chunked`)],
    [`Transfer-Encoding "chunked, " then ${what}`, te(`chunked, ${space}`)],
    [`Content-Length "5" then ${what}`, cl(`5${space}`)],
    [
      `"Transfer-Encoding" then ${what} before the colon`,
      post(`Transfer-Encoding${space}: chunked\r\n`, HELLO_CHUNKED),
    ],
    [`"Content-Length" then ${what} before the colon`, post(`Content-Length${space}: 5\r\n`, 'hello')],
    [`Content-Length ${what} then "5"`, cl(`${space}5`)],
    [`a chunk size then ${what}`, te('chunked', `5${space}\r\nhello\r\n0\r\n\r\n`)],
    [`a last chunk then ${what}`, te('chunked', `5\r\nhello\r\n0${space}\r\n\r\n`)],
    [
      `"Expect: 100-continue" then ${what}`,
      post(`Expect: 100-continue${space}\r\nContent-Length: 5\r\n`, 'hello'),
    ],
  ]),
];

describe('serve, node:http, nginx and HAProxy read the same bytes: serve reads no request end a peer reads otherwise', {
  skip:
    missing.length > 0 ? `${missing.join(' and ')} not installed (apt-get install -y nginx haproxy)` : false,
}, () => {
  let serve: TestFront;
  let llhttp: Server;
  const fpms: TestFpm[] = [];
  const daemons: Daemon[] = [];
  const ports: Record<string, number> = {};
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-differential-'));
    serve = await startFront();
    ports.serve = serve.port;
    llhttp = llhttpFront();
    await new Promise<void>((resolve) => llhttp.listen(0, '127.0.0.1', resolve));
    ports['node:http'] = (llhttp.address() as { port: number }).port;
    for (const name of PEERS) {
      const fpm = await startFpm({ workers: 2 });
      fpms.push(fpm);
      const port = await freePort();
      const setup = { dir: join(dir, name), docroot: FIXTURES_DOCROOT, socket: fpm.socket, workers: 2 };
      daemons.push(await startPeer(name, setup, port));
      ports[name] = port;
    }
  });

  after(async () => {
    await Promise.all(daemons.map(stopDaemon));
    await Promise.all(fpms.map((f) => f.stop()));
    llhttp?.closeAllConnections();
    await new Promise((resolve) => llhttp?.close(resolve));
    await serve?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** What each front read of `bytes`, then of the request after them. */
  async function readings(bytes: string): Promise<Record<string, string[]>> {
    const names = Object.keys(ports);
    return Object.fromEntries(
      await Promise.all(names.map(async (n) => [n, await reading(ports[n]!, bytes + NEXT)] as const)),
    );
  }

  for (const [what, bytes] of WELL_FORMED) {
    it(`reads ${what} as every peer does`, async () => {
      const read = await readings(bytes);
      const expected = ['POST /hex.php?first 68656c6c6f', 'GET /hex.php?next '];
      assert.deepEqual(read, Object.fromEntries(Object.keys(read).map((n) => [n, expected])));
    });
  }

  it('hands PHP the bytes of the target, its decoded path and the headers that nginx hands it', async () => {
    // HAProxy refuses a raw byte past 0x7E in the target (400), so only nginx is asked.
    const head =
      'GET /hex.php/\xc3\xa9%20x?q=\xe9&r=%E9 HTTP/1.1\r\nHost: x\r\nX-A: caf\xe9\r\nX-B: \xc3\xa9\r\n' +
      'Connection: close\r\n\r\n';
    const names = [
      'REQUEST_URI',
      'QUERY_STRING',
      'DOCUMENT_URI',
      'SCRIPT_NAME',
      'PATH_INFO',
      'SCRIPT_FILENAME',
    ];
    const params = async (port: number) => {
      const reply = await rawRequest(port, Buffer.from(head, 'latin1'));
      const { server } = JSON.parse(reply.body.toString('latin1')) as HexBody;
      return Object.fromEntries([...names, 'HTTP_X_A', 'HTTP_X_B'].map((n) => [n, unhex(server[n])]));
    };
    const ours = await params(ports.serve!);
    assert.deepEqual(ours, await params(ports.nginx!));
    assert.deepEqual([ours.PATH_INFO, ours.HTTP_X_A], ['/\xc3\xa9 x', 'caf\xe9']);
  });

  for (const [what, bytes] of ODD) {
    it(`refuses, or reads as every peer that reads it, ${what}`, async () => {
      const read = await readings(bytes);
      const { serve: ours, ...peers } = read;
      const seen = JSON.stringify(read, null, 1);
      // Refusing is always safe: no front in front of serve can then have a request read otherwise.
      if (ours![0] === 'refused') return;
      const readers = Object.values(peers).filter((r) => r[0] !== 'refused');
      assert.ok(readers.length > 0, `no peer reads a request here, yet serve did: ${seen}`);
      for (const r of readers) assert.deepEqual(ours, r, `serve read another end than a peer: ${seen}`);
    });
  }
});
