/**
 * The least a Node.js HTTP front for php-fpm can do, as a reference row in `bench/fronts.ts`: `node:net`
 * sockets, the request head found and read with a few string searches (no validation, no routing, no
 * limits, no timeouts, no logs or metrics), the script path taken from the URL as is, 15 params, the body
 * collected whole, the response buffered whole and sent with a Content-Length — over fpm-bridge's own
 * FastCGI pool. Not a product (it would serve anything to anyone): it measures what the event loop, V8 and
 * the sockets cost per request before any of the work a real front does, so a front in Node cannot be
 * cheaper than this row.
 *
 *   node --import tsx bench/node-floor.ts PORT FPM_SOCKET DOCROOT WORKERS
 */
import { createServer, type Socket } from 'node:net';
import { Pool } from '../proxy/fastcgi/pool.ts';
import { bufferCgi } from '../proxy/upstream.ts';

const [port, socketPath, docroot, workers] = process.argv.slice(2);
const pool = new Pool({ kind: 'unix', path: socketPath! }, { maxConns: Number(workers), keepConn: true });

function answer(client: Socket, head: string, body: Buffer | null): void {
  const sp = head.indexOf(' ');
  const method = head.slice(0, sp);
  const target = head.slice(sp + 1, head.indexOf(' ', sp + 1));
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  const host = /\r\nhost: *([^\r]*)/i.exec(head)?.[1] ?? '';
  const type = /\r\ncontent-type: *([^\r]*)/i.exec(head)?.[1] ?? '';
  // biome-ignore format: name, value pairs
  const params = [
    'GATEWAY_INTERFACE', 'CGI/1.1',
    'SERVER_PROTOCOL', 'HTTP/1.1',
    'REQUEST_METHOD', method,
    'REQUEST_URI', target,
    'QUERY_STRING', q < 0 ? '' : target.slice(q + 1),
    'SCRIPT_NAME', path,
    'SCRIPT_FILENAME', docroot + path,
    'DOCUMENT_ROOT', docroot!,
    'CONTENT_LENGTH', body === null ? '' : String(body.length),
    'CONTENT_TYPE', type,
    'REMOTE_ADDR', client.remoteAddress ?? '',
    'SERVER_ADDR', '127.0.0.1',
    'SERVER_PORT', port!,
    'SERVER_NAME', 'localhost',
    'HTTP_HOST', host,
  ];
  bufferCgi(pool, { params, body, timeout: 60_000 }).response.then(
    (r) => {
      let out = `HTTP/1.1 ${r.status} ${r.statusText}\r\n`;
      for (let i = 0; i < r.headers.length; i += 2) out += `${r.headers[i]}: ${r.headers[i + 1]}\r\n`;
      out += `Content-Length: ${r.body.length}\r\n\r\n`;
      client.cork();
      client.write(out, 'latin1');
      client.write(r.body);
      client.uncork();
    },
    () => client.destroy(),
  );
}

createServer({ noDelay: true }, (client) => {
  // Reads kept as they came, joined once a request is complete (a 1 MiB body arrives in many reads).
  let chunks: Buffer[] = [];
  let size = 0;
  let head = '';
  /** Bytes of the current request, head and body, once its head is in; -1 before. */
  let need = -1;
  const joined = () => {
    const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
    chunks = [all];
    return all;
  };
  client.on('error', () => {});
  client.on('data', (data: Buffer) => {
    chunks.push(data);
    size += data.length;
    for (;;) {
      if (need < 0) {
        const all = joined();
        const end = all.indexOf('\r\n\r\n');
        if (end < 0) return;
        head = all.toString('latin1', 0, end);
        need = end + 4 + Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      }
      if (size < need) return;
      const all = joined();
      const bodyAt = all.indexOf('\r\n\r\n') + 4;
      answer(client, head, need > bodyAt ? all.subarray(bodyAt, need) : null);
      const rest = all.subarray(need);
      chunks = rest.length > 0 ? [rest] : [];
      size = rest.length;
      need = -1;
    }
  });
}).listen(Number(port), '127.0.0.1');
