import { Server } from 'node:net';
import { HttpConnection, type HttpLimits, type RefusalListener, type RequestListener } from './connection.ts';

/**
 * An HTTP/1.1 server over `node:net`: the front's own, not `node:http`'s, which spends more CPU per request
 * than the whole rest of the proxy (request and response streams, header objects, per-request timers) —
 * measured here, the difference between trailing nginx and HAProxy and keeping up with them. It implements
 * what a PHP front needs and no more: no upgrades, no trailers passed on, strict framing.
 *
 * Closing works as `node:http`'s: `close()` stops listening, closes idle connections and makes responses in
 * flight close theirs; `closeAllConnections()` cuts them all.
 */
export class HttpServer extends Server {
  private readonly open = new Set<HttpConnection>();
  private stopping = false;

  constructor(limits: HttpLimits, onRequest: RequestListener, onRefused: RefusalListener = () => {}) {
    super({ noDelay: true });
    this.on('connection', (socket) => {
      const conn = new HttpConnection(socket, limits, onRequest, onRefused, (c) => this.open.delete(c));
      conn.shuttingDown = this.stopping;
      this.open.add(conn);
    });
  }

  /** Stops listening and closes idle connections; the others close after their response in progress. */
  override close(callback?: (err?: Error) => void): this {
    this.stopping = true;
    for (const conn of this.open) conn.shuttingDown = true;
    this.closeIdleConnections();
    return super.close(callback);
  }

  /** Closes every connection with no request in progress. */
  closeIdleConnections(): void {
    for (const conn of this.open) if (conn.idle) conn.close();
  }

  /** Cuts every connection, requests in progress too. */
  closeAllConnections(): void {
    for (const conn of this.open) conn.socket.destroy();
  }
}
