import type { AddressInfo, Server } from 'node:net';
import type { Bridge } from '../proxy/bridge.ts';
import { headerText } from '../proxy/byte-strings.ts';
import type { CgiHead } from '../proxy/cgi/response.ts';
import type { Config } from '../proxy/config.ts';
import { AbortedError, BadResponseError, ConfigError, FpmBridgeError } from '../proxy/errors.ts';
import { headerValue } from '../proxy/header-fields.ts';
import type { Logger } from '../proxy/log.ts';
import { bodiless, errorText } from '../proxy/status.ts';
import { TrustedProxies } from './forwarded.ts';
import type { HttpLimits } from './http1/connection.ts';
import type { FrontRequest, FrontResponse } from './http1/exchange.ts';
import { HttpServer } from './http1/server.ts';
import { incomingToRequest } from './incoming.ts';
import { createPinoLogger } from './log.ts';
import { FrontMetrics } from './metrics.ts';
import { createMetricsServer, Endpoints, RequestRecord } from './observability.ts';
import { bodyFailed, lengthMismatch, pump } from './pump.ts';
import { bodyTooLarge, spoolBody } from './spool.ts';
import { serveStatic } from './static.ts';

let sequence = 0;

export interface FrontOptions {
  /**
   * Where access log lines go. Default: with `accessLog` on, a pino logger on stdout; null = no access log
   * whatever the config says.
   */
  accessLog?: Logger | null;
}

/** The `metricsListen` server of each front server, started and stopped with it by {@link listenFront}. */
const metricsServers = new WeakMap<Server, Server>();

/**
 * The standalone front: an HTTP/1.1 server that routes each request through the {@link Bridge}, reads a
 * request body whole before php-fpm is asked (`requestBuffering`; see spoolBody) and streams responses,
 * holding what a slow client has not taken yet so that it pins no worker (`maxResponseBuffer`; see pump). It answers
 * `healthPath` and `metricsPath` itself, and writes the access log and the request metrics; with both off
 * a request costs one null check more.
 */
export function createFrontServer(bridge: Bridge, options: FrontOptions = {}): HttpServer {
  const config = bridge.config;
  const proxies = new TrustedProxies(config.trustedProxies);
  const access =
    options.accessLog !== undefined ? options.accessLog : config.accessLog ? createPinoLogger('info') : null;
  const metrics = config.metricsPath === false ? null : new FrontMetrics(bridge.backend);
  const separate = metrics !== null && config.metricsListen !== '';
  const endpoints = new Endpoints(
    bridge,
    config.healthPath,
    separate ? false : config.metricsPath,
    separate ? null : metrics,
  );
  // Only the main listener's paths can shadow the app's files: the metrics listener serves nothing else.
  endpoints.warnShadowed();
  const answers = endpoints.empty ? null : endpoints;
  const observed = access !== null || metrics !== null;
  const limit = config.maxBodySize;
  // A client must send its headers in time, and may not go silent mid-request, so slow or idle connections
  // cannot hold the server (Slowloris); a body then only needs to keep moving.
  const limits: HttpLimits = {
    maxHeaderSize: config.maxHeaderSize,
    headersTimeout: config.headersTimeout,
    idleTimeout: config.idleTimeout,
    keepAliveTimeout: config.keepAliveTimeout,
  };
  const server = new HttpServer(
    limits,
    (req, res) => {
      if (answers?.answer(req, res)) return;
      // Expect: 100-continue. A body already known to be over the limit gets its 413 instead of a 100, so
      // the client never sends it (RFC 9110 §10.1.1; nginx does the same).
      if (req.expectContinue && !(limit > 0 && (req.contentLength ?? 0) > limit)) res.writeContinue();
      const requestId = (++sequence).toString(36);
      const record = observed ? new RequestRecord(req, res, requestId, access, metrics) : null;
      const run = () => {
        // The client may have gone while the request waited for its turn.
        if (res.closed) return;
        handle(bridge, proxies, req, res, requestId, record).catch((err) =>
          fail(bridge, req, res, err, requestId),
        );
      };
      // With requests waiting for php-fpm, a new one waits its turn anyway: it is handled once this turn
      // of the event loop has handled the events already in — php-fpm's answers first, each of which hands
      // a worker the next request at once. Handled first, a burst of new requests would keep the workers
      // idle meanwhile (measured: about 10 % more requests per second at 32 and 256 connections).
      if (bridge.backend.saturated()) setImmediate(run);
      else run();
    },
    (err) => bridge.log.info({ code: err.code, status: err.statusCode, err: err.message }, 'request refused'),
  );
  if (separate) {
    const side = createMetricsServer(
      new Endpoints(bridge, config.healthPath, config.metricsPath, metrics),
      limits,
    );
    metricsServers.set(server, side);
    server.once('close', () => side.close());
  }
  return server;
}

async function handle(
  bridge: Bridge,
  proxies: TrustedProxies,
  req: FrontRequest,
  res: FrontResponse,
  requestId: string,
  record: RequestRecord | null,
): Promise<void> {
  const config = bridge.config;
  // Refused before a byte of the body is read (nor spooled): the connection closes instead.
  if (req.contentLength !== null && config.maxBodySize > 0 && req.contentLength > config.maxBodySize)
    throw bodyTooLarge(config.maxBodySize);
  const request = incomingToRequest(req, proxies, config.trustForwardedHost);
  if (record !== null) record.remoteAddress = request.remoteAddress;
  const route = bridge.route(request);
  if (route.kind === 'static') {
    serveStatic(req, res, route.filename, route.stats, (err) => bodyFailed(bridge, requestId, err));
    return;
  }
  if (route.kind === 'redirect') {
    res.writeHead(308, { Location: route.location, 'Content-Type': 'text/plain; charset=utf-8' });
    // The location keeps the query's bytes: written as they are, as in the header.
    res.end(Buffer.from(`308 Permanent Redirect to ${route.location}\n`, 'latin1'));
    return;
  }
  let body = req.body;
  // A body still on its way is read whole before php-fpm is asked (see spoolBody); a chunked one always,
  // since php-fpm must be told its length first.
  if (body !== null && !Buffer.isBuffer(body) && (req.chunked || config.requestBuffering)) {
    const spooled = await spoolBody(body, req.contentLength, config);
    // The client may have left while the last bytes were written out: its response has closed already.
    if (res.closed) {
      spooled.dispose();
      return;
    }
    if (!Buffer.isBuffer(spooled.body)) res.once('close', spooled.dispose);
    body = spooled.body;
    request.contentLength = spooled.length;
  }
  const call = bridge.stream(request, route, body, requestId);
  if (record !== null) record.call = call;
  // The client went away before the response was complete: free the worker now, not when PHP finishes.
  const onClose = () => {
    if (!res.writableFinished) call.abort(new AbortedError('the client closed the connection'));
  };
  res.once('close', onClose);
  let response: Awaited<typeof call.response>;
  try {
    response = await call.response;
  } catch (err) {
    res.off('close', onClose);
    fail(bridge, req, res, err, requestId);
    return;
  }
  const noBody = bodiless(req.method === 'HEAD', response.status);
  const promised = noBody ? null : declaredLength(response);
  if (response.whole !== null) {
    // PHP had already finished when its headers were parsed (most small responses arrive in one read).
    // Sent with one end() and a Content-Length, the response leaves in one write, without a pump or a
    // chunked terminator. (PHP cannot have set Transfer-Encoding: the CGI head parser refuses it.)
    res.off('close', onClose);
    let body = response.whole;
    let headers = response.headers;
    if (promised === null) {
      // PHP gave no length. Not for HEAD (whose body PHP leaves out), 204 (which has none) or 304 (whose
      // length is the 200's).
      if (!noBody) headers = [...headers, 'Content-Length', String(body.length)];
    } else if (body.length !== promised) {
      bodyFailed(bridge, requestId, new BadResponseError(lengthMismatch(body.length, promised)));
      // Too long: cut to the promise. Too short: what PHP sent, then the connection closes, so the client
      // sees the body is short rather than waiting.
      if (body.length > promised) body = body.subarray(0, promised);
      else headers = [...headers, 'Connection', 'close'];
    }
    res.writeHead(response.status, response.statusText, headers);
    res.end(body);
    return;
  }
  res.writeHead(response.status, response.statusText, response.headers);
  pump(response.body, res, promised, (err) => bodyFailed(bridge, requestId, err), config.maxResponseBuffer);
}

/**
 * The body length PHP's Content-Length promises the client, or null when there is none. The front holds PHP
 * to it: a body of another length would desync a kept connection.
 */
function declaredLength(response: CgiHead): number | null {
  const value = headerValue(response.headers, 'content-length');
  return value === undefined ? null : Number(value);
}

function fail(bridge: Bridge, req: FrontRequest, res: FrontResponse, err: unknown, requestId: string): void {
  const known = err instanceof FpmBridgeError;
  const status = known ? err.statusCode : 500;
  if (err instanceof AbortedError) return;
  const entry = {
    requestId,
    method: req.method,
    url: headerText(req.url),
    status,
    code: known ? err.code : undefined,
    err: (err as Error).message,
  };
  if (status >= 500) bridge.log.error(entry, 'request failed');
  else bridge.log.info(entry, 'request refused');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = errorText(status);
  // A request refused before its body was read whole: say so and close rather than read the rest for
  // nothing (the connection cannot serve another request until that body is gone).
  const unread = !req.complete;
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...(status === 503 ? { 'Retry-After': '1' } : {}),
    ...(unread ? { Connection: 'close' } : {}),
  });
  res.end(text);
}

/** Listens on `HOST:PORT` or `PORT`; resolves with the URL. */
export function listen(server: Server, spec: string): Promise<string> {
  const m = /^(?:(.*):)?(\d+)$/.exec(spec);
  const host = m?.[1] === undefined || m[1] === '' ? '127.0.0.1' : m[1].replace(/^\[|\]$/g, '');
  const port = Number(m?.[2] ?? Number.NaN);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const a = server.address() as AddressInfo;
      const shown = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      resolve(`http://${shown}:${a.port}`);
    });
  });
}

/**
 * Listens on `listen` and, when `metricsListen` is set, starts the metrics listener too (closed with the
 * server). Resolves with the main URL.
 */
export async function listenFront(server: Server, config: Config): Promise<string> {
  const url = await listen(server, config.listen);
  const side = metricsServers.get(server);
  if (side === undefined) return url;
  try {
    await listen(side, config.metricsListen);
  } catch (err) {
    server.close();
    throw new ConfigError(
      `cannot listen on "metricsListen" ${config.metricsListen}: ${(err as Error).message} — pick a free HOST:PORT`,
      { cause: err },
    );
  }
  return url;
}

/** The URL of the `metricsListen` listener once it listens, else null. */
export function metricsUrl(server: Server): string | null {
  const a = metricsServers.get(server)?.address();
  if (a === undefined || a === null || typeof a === 'string') return null;
  return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
}
