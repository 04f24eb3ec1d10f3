// Raw HTTP/1.1 over a TCP socket: the request bytes reach the server exactly as written, so malformed
// requests (CRLF in a header, duplicate Content-Length, a NUL in the target) are not fixed up by a client.
import { connect } from 'node:net';

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
  return { status: Number(m[1]), headers, body: chunked ? dechunk(rest) : rest };
}

function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', pos);
    if (eol < 0) throw new Error('truncated chunked body');
    const size = Number.parseInt(data.toString('latin1', pos, eol), 16);
    if (size === 0) return Buffer.concat(parts);
    parts.push(data.subarray(eol + 2, eol + 2 + size));
    pos = eol + 2 + size + 2;
  }
}
