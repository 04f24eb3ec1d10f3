import type { Readable } from 'node:stream';
import pkg from '../package.json' with { type: 'json' };
import type { Backend } from './backend.ts';
import { checkHostHeaders, ParamsBuilder } from './cgi/params.ts';
import { decodePath, printable } from './cgi/path.ts';
import type { ProxyRequest } from './cgi/request.ts';
import { type Route, Router } from './cgi/route.ts';
import type { Config } from './config.ts';
import { ConnectError, type FpmBridgeError, TimeoutError } from './errors.ts';
import type { FcgiRequest } from './fastcgi/exchange.ts';
import type { Logger } from './log.ts';
import {
  type BufferedResponse,
  bufferCgi,
  type CgiCall,
  type CgiCallOptions,
  type StreamedResponse,
  streamCgi,
} from './upstream.ts';

export const SERVER_SOFTWARE = `fpm-bridge/${pkg.version}`;

/** Methods a request can be sent twice with (RFC 9110 §9.2.2): see FcgiRequest.resendOnClose. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

export type ScriptRoute = Extract<Route, { kind: 'script' }>;

/**
 * The core both fronts share: routes a {@link ProxyRequest}, builds its CGI params and runs it on php-fpm.
 * A front turns its input into a ProxyRequest, calls {@link route}, then serves the static file, sends the
 * redirect, or calls {@link stream}/{@link buffer} and writes the response back its own way.
 *
 * @example
 *   const route = bridge.route(req)
 *   if (route.kind === 'script') {
 *     const { response } = bridge.buffer(req, route, body, 'req-1')
 *     const { status, headers, body: bytes } = await response
 *   }
 */
export class Bridge {
  readonly router: Router;
  readonly params: ParamsBuilder;

  constructor(
    readonly config: Config,
    readonly backend: Backend,
    readonly log: Logger,
  ) {
    this.router = new Router({
      docroot: config.docroot,
      index: config.index,
      frontController: config.frontController,
      frontControllerOnly: config.frontControllerOnly,
      pathInfo: config.pathInfo,
      scriptExtensions: config.scriptExtensions,
      checkFiles: config.checkFiles,
      staticFiles: config.staticFiles,
      symlinksWithinDocroot: config.symlinks === 'within-docroot',
      fileCacheTtl: config.fileCacheTtl,
    });
    this.params = new ParamsBuilder({
      docroot: config.docroot,
      serverSoftware: SERVER_SOFTWARE,
      setParams: Object.entries(config.setParams).map(([name, value]) => ({ name, value })),
      passHeaders: config.passHeaders,
      hideHeaders: config.hideHeaders,
    });
  }

  /** What the request runs or serves. Throws BadRequestError (400) or NotFoundError (404). */
  route(req: ProxyRequest): Route {
    checkHostHeaders(req.headers);
    return this.router.route(decodePath(req.path), req.query);
  }

  /** Runs the script; resolves when PHP's headers are in, the body streams after. */
  stream(
    req: ProxyRequest,
    route: ScriptRoute,
    body: Buffer | Readable | null,
    requestId: string,
    timeout = this.config.timeout,
  ): CgiCall<StreamedResponse> {
    return this.run(streamCgi, this.fcgiRequest(req, route, body, timeout), this.callOptions(requestId));
  }

  /** Runs the script and resolves with the whole response (Lambda's buffered mode). */
  buffer(
    req: ProxyRequest,
    route: ScriptRoute,
    body: Buffer | null,
    requestId: string,
    timeout = this.config.timeout,
  ): CgiCall<BufferedResponse> {
    return this.run(bufferCgi, this.fcgiRequest(req, route, body, timeout), this.callOptions(requestId));
  }

  private fcgiRequest(
    req: ProxyRequest,
    route: ScriptRoute,
    body: Buffer | Readable | null,
    timeout: number,
  ): FcgiRequest {
    const replayable = body === null || Buffer.isBuffer(body);
    return {
      params: this.params.build(req, route),
      body,
      contentLength: req.contentLength ?? 0,
      timeout,
      retryable: replayable,
      resendOnClose: replayable && this.backend.supervisor === null && IDEMPOTENT.has(req.method),
    };
  }

  private callOptions(requestId: string): CgiCallOptions {
    const log = this.log;
    return {
      maxHeaderSize: this.config.maxResponseHeaderSize,
      onStderr:
        this.config.logStderr === 'log'
          ? (data) => {
              for (const line of data.toString('utf8').split('\n')) {
                if (line !== '') log.warn({ requestId, source: 'php' }, printable(line));
              }
            }
          : undefined,
    };
  }

  /**
   * Sends the request; if php-fpm could not be reached because the supervisor is restarting it, waits for
   * it and sends it once more. That is safe whatever the method: nothing was read from the body and no
   * script saw the request before the connection stood.
   */
  private run<T>(
    send: (d: Backend['dispatcher'], r: FcgiRequest, o: CgiCallOptions) => CgiCall<T>,
    request: FcgiRequest,
    options: CgiCallOptions,
  ): CgiCall<T> {
    const supervisor = this.backend.supervisor;
    const started = Date.now();
    let current = send(this.backend.dispatcher, request, options);
    let aborted = false;
    const response =
      supervisor === null
        ? current.response
        : current.response.catch(async (err: FpmBridgeError) => {
            if (aborted || !(err instanceof ConnectError)) throw err;
            // The wait for the restart and the second try share the request's deadline.
            const budget = request.timeout ?? 0;
            const left = () => (budget === 0 ? 0 : Math.max(1, budget - (Date.now() - started)));
            await withinBudget(supervisor.recover(), left());
            if (aborted) throw err;
            current = send(this.backend.dispatcher, { ...request, timeout: left() }, options);
            return current.response;
          });
    return {
      response,
      abort: (err) => {
        aborted = true;
        current.abort(err);
      },
      upstream: () => current.upstream(),
    };
  }
}

/** `promise`, or a TimeoutError once `ms` have passed (0: no limit). */
function withinBudget(promise: Promise<void>, ms: number): Promise<void> {
  if (ms === 0) return promise;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new TimeoutError(`php-fpm was not back within the request's remaining ${ms} ms`)),
      Math.max(0, ms),
    );
    promise.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
