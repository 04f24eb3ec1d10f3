// Raw HTTP/1.1 over a TCP socket: the request bytes reach the server exactly as written, so malformed
// requests (CRLF in a header, duplicate Content-Length, a NUL in the target) are not fixed up by a client;
// what comes back is kept byte for byte, for pipelined, slow or broken exchanges.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RawReply {
  /** 0 when the server closed the connection without answering. */
  status: number;
  /** `[name, value]` in arrival order, names lowercased. */
  headers: [string, string][];
  /** The body, de-chunked. */
  body: Buffer;
}

/**
 * Writes `bytes` to `port` on 127.0.0.1 and reads until the server closes the connection, then parses the
 * first response. The request should ask for `Connection: close` (or be malformed, which makes the server
 * close), or this waits for the keep-alive timeout.
 */
export function rawRequest(port: number, bytes: string | Buffer): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    socket.on('data', (d: Buffer) => chunks.push(d));
    // A server that answers and closes while the request is still being written resets the connection;
    // what it sent before is the reply.
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') reject(err);
    });
    socket.on('close', () => {
      try {
        resolve(parseResponse(Buffer.concat(chunks)));
      } catch (err) {
        reject(err);
      }
    });
  });
}

function parseResponse(data: Buffer): RawReply {
  if (data.length === 0) return { status: 0, headers: [], body: Buffer.alloc(0) };
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`incomplete response head: ${JSON.stringify(data.toString('latin1'))}`);
  const [statusLine, ...lines] = data.toString('latin1', 0, end).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine!);
  if (m === null) throw new Error(`not an HTTP status line: ${JSON.stringify(statusLine)}`);
  const headers = lines.map((l): [string, string] => {
    const colon = l.indexOf(':');
    return [l.slice(0, colon).toLowerCase(), l.slice(colon + 1).trim()];
  });
  const rest = data.subarray(end + 4);
  const chunked = headers.some(([n, v]) => n === 'transfer-encoding' && v === 'chunked');
  if (!chunked) return { status: Number(m[1]), headers, body: rest };
  const body = dechunk(rest, 0)?.body;
  if (body === undefined) throw new Error('truncated chunked body');
  return { status: Number(m[1]), headers, body };
}

const EMPTY = Buffer.alloc(0);
/** A timer may fire a few milliseconds early by the test's clock, which also polls every 5 ms. */
const EARLY = 25;

/** Every value of header `name`, joined with ", "; undefined when absent. */
export function header(r: RawReply, name: string): string | undefined {
  const values = r.headers.filter(([n]) => n === name).map(([, v]) => v);
  return values.length === 0 ? undefined : values.join(', ');
}

/** The chunked body starting at `at`: its bytes and where it ends, or null while incomplete. */
function dechunk(data: Buffer, at: number): { body: Buffer; end: number } | null {
  const parts: Buffer[] = [];
  for (;;) {
    const eol = data.indexOf('\r\n', at);
    if (eol < 0) return null;
    const size = Number.parseInt(data.toString('latin1', at, eol), 16);
    if (Number.isNaN(size)) assert.fail(`not a chunk size: ${data.toString('latin1', at, eol)}`);
    if (size === 0) return data.length >= eol + 4 ? { body: Buffer.concat(parts), end: eol + 4 } : null;
    if (data.length < eol + 4 + size) return null;
    parts.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 4 + size;
  }
}

/**
 * The complete responses in `data`, in order. `heads` are the indexes of the responses to HEAD requests,
 * which have no body whatever their headers say; a body with neither length nor chunking ends with the
 * connection. Once the connection has ended, every byte must belong to a response: a stray byte would
 * desync a client.
 */
export function parseReplies(data: Buffer, ended: boolean, heads: readonly number[] = []): RawReply[] {
  const out: RawReply[] = [];
  let at = 0;
  while (at < data.length) {
    const end = data.indexOf('\r\n\r\n', at);
    if (end < 0) break;
    const [statusLine, ...lines] = data.toString('latin1', at, end).split('\r\n');
    const m = /^HTTP\/1\.1 (\d{3}) [^\r\n]*$/.exec(statusLine!);
    assert.ok(m !== null, `not a status line: ${JSON.stringify(statusLine)}`);
    const headers = lines.map((l): [string, string] => {
      const colon = l.indexOf(':');
      return [l.slice(0, colon).toLowerCase(), l.slice(colon + 1).trim()];
    });
    const r: RawReply = { status: Number(m[1]), headers, body: EMPTY };
    const start = end + 4;
    const length = header(r, 'content-length');
    const slice = (stop: number) =>
      data.length < stop ? null : { body: data.subarray(start, stop), end: stop };
    const bodiless = heads.includes(out.length) || r.status < 200 || r.status === 204 || r.status === 304;
    const framed = bodiless
      ? slice(start)
      : length !== undefined
        ? slice(start + Number(length))
        : header(r, 'transfer-encoding') === 'chunked'
          ? dechunk(data, start)
          : ended
            ? slice(data.length)
            : null;
    if (framed === null) break;
    r.body = framed.body;
    at = framed.end;
    out.push(r);
  }
  if (ended) assert.equal(data.toString('latin1', at), '', 'bytes after the last complete response');
  return out;
}

/** A raw client connection: keeps every byte received and when the connection closed. */
export class Conn {
  private readonly chunks: Buffer[] = [];
  /** `performance.now()` when the connection closed; null while it is open. */
  closedAt: number | null = null;

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => this.chunks.push(d));
    // A server that refuses a request while the client still writes may reset the connection: a close too.
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closedAt = performance.now();
    });
  }

  /** Connects to the front on `port` and writes `bytes`. */
  static async open(port: number, bytes = '', options: { allowHalfOpen?: boolean } = {}): Promise<Conn> {
    const socket = connect({ port, host: '127.0.0.1', noDelay: true, ...options });
    await once(socket, 'connect');
    const conn = new Conn(socket);
    if (bytes !== '') await conn.write(bytes);
    return conn;
  }

  get data(): Buffer {
    return Buffer.concat(this.chunks);
  }
  get closed(): boolean {
    return this.closedAt !== null;
  }

  /** Writes `bytes`, one byte per character; resolves once they left, or the server is gone. */
  write(bytes: string): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) resolve();
      else this.socket.write(Buffer.from(bytes, 'latin1'), () => resolve());
    });
  }

  /** Waits until `check()` holds; fails after 3 s, showing what arrived. */
  async until(check: () => boolean, what: string): Promise<void> {
    const deadline = performance.now() + 3000;
    while (!check()) {
      if (performance.now() > deadline)
        assert.fail(`gave up waiting for ${what}; received ${JSON.stringify(this.data.toString('latin1'))}`);
      await sleep(5);
    }
  }

  /** The first `count` responses once they are in (or fewer, if the connection closed first). */
  async replies(count: number): Promise<RawReply[]> {
    const parse = () => parseReplies(this.data, this.closed);
    await this.until(() => this.closed || parse().length >= count, `${count} responses`);
    return parse();
  }

  /** Every response, once the server has closed the connection; fails if it stays open for 3 s. */
  async closing(heads: readonly number[] = []): Promise<RawReply[]> {
    await this.until(() => this.closed, 'the server to close the connection');
    return parseReplies(this.data, true, heads);
  }

  /** The connection closed `limit` ms or more after `since` (give or take {@link EARLY}). */
  closedAfter(since: number, limit: number): void {
    const took = this.closedAt! - since;
    assert.ok(took >= limit - EARLY, `closed after ${took} ms, the limit is ${limit} ms`);
  }
}
