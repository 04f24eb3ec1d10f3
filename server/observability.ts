import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Bridge } from '../proxy/bridge.ts';
import { headerText } from '../proxy/byte-strings.ts';
import { formatAddress } from '../proxy/fastcgi/address.ts';
import type { Logger } from '../proxy/log.ts';
import type { CgiCall, StreamedResponse } from '../proxy/upstream.ts';
import type { HttpLimits } from './http1/connection.ts';
import type { FrontRequest, FrontResponse } from './http1/exchange.ts';
import { HttpServer } from './http1/server.ts';
import type { FrontMetrics } from './metrics.ts';

/**
 * What the access log and the metrics need to know about one request beyond `req` and `res`; the
 * request handler fills it in as it learns (client address behind trusted proxies, the php-fpm call).
 * Built only when the access log or the metrics are on.
 */
export class RequestRecord {
  /** The client, after trusted proxies; the socket's peer until the request was parsed. */
  remoteAddress: string | undefined;
  /** The php-fpm request, when the request ran a script. */
  call: CgiCall<StreamedResponse> | null = null;
  readonly start = performance.now();
  /** The socket's byte count when the request began: keep-alive reuses the socket. */
  private readonly written: number;

  constructor(
    private readonly req: FrontRequest,
    private readonly res: FrontResponse,
    readonly requestId: string,
    private readonly access: Logger | null,
    private readonly metrics: FrontMetrics | null,
  ) {
    this.remoteAddress = req.socket.remoteAddress;
    this.written = req.socket.bytesWritten;
    // 'close' follows 'finish' on a complete response and comes alone when the client went away first.
    res.once('close', () => this.end());
  }

  private end(): void {
    const { req, res } = this;
    const durationMs = performance.now() - this.start;
    const aborted = !res.writableFinished;
    // The client left before any status was sent: 499, as nginx logs it ("client closed request").
    const status = aborted && !res.headersSent ? 499 : res.statusCode;
    this.metrics?.observe(req.method, status, durationMs / 1000);
    if (this.access === null) return;
    const upstream = this.call?.upstream() ?? null;
    this.access.info(
      {
        requestId: this.requestId,
        method: req.method,
        // The target's bytes as the text they are, as a reader of the log expects them.
        url: headerText(req.url),
        status,
        // Bytes written to the connection for this response, headers included (nginx's $bytes_sent).
        bytes: req.socket.bytesWritten - this.written,
        durationMs: Math.round(durationMs * 1000) / 1000,
        remoteAddress: this.remoteAddress,
        backend: upstream === null ? null : formatAddress(upstream),
        aborted,
      },
      'request',
    );
  }
}

/**
 * The paths fpm-bridge answers itself, before routing: they never reach PHP, so they are documented as
 * reserved, and the main listener's reports a file in the docroot at one of them ({@link warnShadowed}).
 */
export class Endpoints {
  constructor(
    private readonly bridge: Bridge,
    private readonly healthPath: string | false,
    private readonly metricsPath: string | false,
    private readonly metrics: FrontMetrics | null,
  ) {}

  /** Logs a warning for each reserved path a file in the docroot would answer, were it not reserved. */
  warnShadowed(): void {
    for (const path of [this.healthPath, this.metricsPath]) {
      if (path !== false && existsSync(join(this.bridge.config.docroot, path))) {
        this.bridge.log.warn(
          { path },
          `${path} exists in the docroot but fpm-bridge answers that path itself — move it with "healthPath"/"metricsPath" or set them to false`,
        );
      }
    }
  }

  get empty(): boolean {
    return this.healthPath === false && this.metricsPath === false;
  }

  /** Answers the request if its path is a reserved one; false = not ours, route it as usual. */
  answer(req: FrontRequest, res: FrontResponse): boolean {
    const url = req.url;
    if (matches(url, this.healthPath)) {
      if (allowed(req, res)) this.health(res);
      return true;
    }
    if (this.metrics !== null && matches(url, this.metricsPath)) {
      if (allowed(req, res)) this.scrape(res, this.metrics);
      return true;
    }
    return false;
  }

  private health(res: FrontResponse): void {
    const backend = this.bridge.backend;
    const ok = backend.healthy();
    const body = JSON.stringify({
      status: ok ? 'ok' : 'unavailable',
      phpFpm: backend.supervisor === null ? 'external' : backend.supervisor.running ? 'ready' : 'down',
      backends: backend.backends.map((b) => {
        const s = b.pool.stats;
        return {
          address: b.address,
          up: b.up,
          connections: s.connections,
          maxConns: b.pool.limit,
          inFlight: s.active,
          queued: s.queued,
        };
      }),
    });
    res.writeHead(ok ? 200 : 503, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
    });
    res.end(body);
  }

  private scrape(res: FrontResponse, metrics: FrontMetrics): void {
    metrics.render().then(
      (text) => {
        res.writeHead(200, {
          'Content-Type': metrics.contentType,
          'Content-Length': Buffer.byteLength(text),
          'Cache-Control': 'no-store',
        });
        res.end(text);
      },
      (err: Error) => {
        this.bridge.log.error({ err: err.message }, 'collecting metrics failed');
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('500 Internal Server Error\n');
      },
    );
  }
}

/** `url` is `path`, with or without a query. */
function matches(url: string, path: string | false): boolean {
  return path !== false && url.startsWith(path) && (url.length === path.length || url[path.length] === '?');
}

function allowed(req: FrontRequest, res: FrontResponse): boolean {
  if (req.method === 'GET' || req.method === 'HEAD') return true;
  res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
  res.end('405 Method Not Allowed\n');
  return false;
}

/** The separate listener of `metricsListen`: metrics and health only, 404 for anything else. */
export function createMetricsServer(endpoints: Endpoints, limits: HttpLimits): HttpServer {
  return new HttpServer(limits, (req, res) => {
    if (endpoints.answer(req, res)) return;
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('404 Not Found\n');
  });
}
