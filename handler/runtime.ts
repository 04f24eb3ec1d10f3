import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { basename } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Context } from 'aws-lambda';
import { startBackend } from '../proxy/backend.ts';
import { Bridge, type ScriptRoute } from '../proxy/bridge.ts';
import { byteString, headersAsText, headerText } from '../proxy/byte-strings.ts';
import type { CgiHead } from '../proxy/cgi/response.ts';
import type { Route } from '../proxy/cgi/route.ts';
import { type Config, loadConfig } from '../proxy/config.ts';
import { AbortedError, BadEventError, FpmBridgeError, TimeoutError } from '../proxy/errors.ts';
import { appIniDir } from '../proxy/fpm/layer.ts';
import { flatHeaders, headerField } from '../proxy/header-fields.ts';
import { createJsonLogger, type Logger, withRequestId } from '../proxy/log.ts';
import { type StaticAnswer, staticAnswer } from '../proxy/static-answer.ts';
import { bodiless, errorText, reasonPhrase } from '../proxy/status.ts';
import {
  type AdapterOptions,
  addJoined,
  type EncodedResponse,
  type EventAdapter,
  type LambdaRequest,
} from './adapter.ts';
import {
  compressResponse,
  encodeResponse,
  jsonSizeBound,
  TextTypes,
  withoutBodyIf,
  withoutWrongLength,
} from './encode.ts';
import {
  type FrameworkApp,
  findApp,
  frameworkEnvironment,
  queueScript,
  scheduleCommand,
} from './frameworks.ts';
import {
  type CliResult,
  isCliEvent,
  isScheduledEvent,
  isSqsEvent,
  isWarmer,
  locatePhp,
  runCli,
  unsupportedEvent,
} from './other-events.ts';
import { ADAPTERS } from './sources.ts';
import { resolveSsmEnvironment } from './ssm-env.ts';

/** What `awslambda.HttpResponseStream.from` does in the Lambda runtime: writes the status and headers first. */
export type ResponseStreamFactory = (
  stream: Writable,
  metadata: { statusCode: number; headers: Record<string, string>; cookies: string[] },
) => Writable;

export interface LambdaAppOptions {
  /** Folder with the app and fpm-bridge.yml; default LAMBDA_TASK_ROOT, else the working directory. */
  taskRoot?: string;
  /**
   * Where settings (FPM_BRIDGE_*) and the invocation's _X_AMZN_TRACE_ID are read; default process.env.
   * `ssm:` values are resolved in process.env whatever this is: php-fpm inherits that one.
   */
  env?: NodeJS.ProcessEnv;
  overrides?: Partial<Record<keyof Config, unknown>>;
  log?: Logger;
}

export interface LambdaApp {
  readonly bridge: Bridge;
  /** The buffered handler: every HTTP event source, console and warmer events. */
  handler(event: unknown, context: Context): Promise<unknown>;
  /** Function URL response streaming (`awslambda.streamifyResponse`). */
  streamingHandler(
    event: unknown,
    stream: Writable,
    context: Context,
    from: ResponseStreamFactory,
  ): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts php-fpm (during Lambda's init phase, so the first request does not pay for it) and returns the
 * handlers. php-fpm lives across invocations; if it dies it is restarted, and a request it never accepted
 * waits for the restart and is sent again.
 */
export async function createLambdaApp(options: LambdaAppOptions = {}): Promise<LambdaApp> {
  const env = options.env ?? process.env;
  const taskRoot = options.taskRoot ?? env.LAMBDA_TASK_ROOT ?? process.cwd();
  const log = options.log ?? createJsonLogger(env.FPM_BRIDGE_DEBUG === '1' ? 'debug' : 'info');
  // In the process's environment, which php-fpm and `cli` commands inherit and the AWS SDK reads; first, so
  // that an fpm-bridge setting may name a parameter too.
  await resolveSsmEnvironment(process.env, log);
  const loaded = await loadConfig({ mode: 'lambda', base: taskRoot, env, overrides: options.overrides });
  // The app's php/conf.d (Bref's convention) applies after the layer's ini files, whichever php-fpm runs.
  const appIni = appIniDir(taskRoot);
  const config =
    appIni === null || loaded.config.phpIni.includes(appIni)
      ? loaded.config
      : { ...loaded.config, phpIni: [appIni, ...loaded.config.phpIni] };
  // Laravel and Symfony write caches, logs and sessions below the app: on Lambda, only /tmp is writable.
  const php = findApp(config, taskRoot);
  const phpEnvironment = frameworkEnvironment(php, env, env.TMPDIR || '/tmp');
  // An environment runs one invocation at a time: php-fpm's own lines (a worker's death, php://stderr
  // writes) carry the id of the invocation last started, which is the one they come from or follow.
  let invocation: string | undefined;
  const backend = await startBackend(
    config,
    withRequestId(log, () => invocation),
    // recycle() ends stuck scripts: php-fpm's own timer would run on through a frozen sandbox (see there).
    { runDir: '/tmp', restartsAfterTimeout: true, env: phpEnvironment },
  );
  const bridge = new Bridge(config, backend, log);
  const app = new LambdaRuntime(bridge, config, php, phpEnvironment, log, env);
  return {
    bridge,
    handler: (event, context) => {
      invocation = context.awsRequestId;
      return app.handle(event, context);
    },
    streamingHandler: (event, stream, context, from) => {
      invocation = context.awsRequestId;
      return app.stream(event, stream, context, from);
    },
    close: () => backend.close(),
  };
}

type Prepared =
  /** `head`: the request was a HEAD (false when the event could not be read). */
  | { kind: 'reply'; response: EncodedResponse; head: boolean }
  | { kind: 'static'; lr: LambdaRequest; answer: StaticAnswer; filename: string }
  | { kind: 'script'; lr: LambdaRequest; route: ScriptRoute };

class LambdaRuntime {
  private readonly textTypes: TextTypes;
  private readonly adapterOptions: AdapterOptions;

  constructor(
    private readonly bridge: Bridge,
    private readonly config: Config,
    /** The app: console commands run in its folder, its framework takes SQS events and schedules. */
    private readonly app: FrameworkApp,
    /** What php-fpm was started with on top of our environment; console commands get it too. */
    private readonly phpEnvironment: Readonly<Record<string, string>>,
    private readonly log: Logger,
    /** The function's environment: the runtime sets _X_AMZN_TRACE_ID in it for each invocation. */
    private readonly env: NodeJS.ProcessEnv,
  ) {
    this.textTypes = new TextTypes(config.textTypes);
    this.adapterOptions = { basePath: config.basePath, trustForwardedHost: config.trustForwardedHost };
  }

  async handle(event: unknown, context: Context): Promise<unknown> {
    if (isWarmer(event)) return { warmed: true };
    if (isCliEvent(event)) return this.console(event.cli, context);
    const adapter = ADAPTERS.find((a) => a.matches(event));
    if (adapter === undefined) return this.other(event, context);
    return this.http(adapter, event, context);
  }

  /** `php <line>` in the app's folder, with the environment php-fpm has. */
  private console(line: string, context: Context): Promise<CliResult> {
    const php = locatePhp(this.config.phpBinary);
    const timeout = this.deadline(context);
    if (timeout === null) throw this.outOfTime(context);
    return runCli(php, line, this.app.root, timeout, this.phpEnvironment);
  }

  /**
   * An event that is no HTTP request: to `eventsScript` when there is one; else an SQS event to the
   * framework's queue, a schedule to `scheduleCommand`; anything else fails, naming what arrived.
   */
  private async other(event: unknown, context: Context): Promise<unknown> {
    const script = this.config.eventsScript;
    if (script !== false) {
      const scriptName = `/${script.replace(/^\/+/, '')}`;
      return this.forwardEvent(
        event,
        context,
        { kind: 'script', scriptName, pathInfo: '' },
        `"eventsScript" ${scriptName}`,
      );
    }
    const { framework, root } = this.app;
    if (framework !== null && isSqsEvent(event)) {
      const filename = queueScript(framework);
      const route: ScriptRoute = {
        kind: 'script',
        scriptName: `/${basename(filename)}`,
        pathInfo: '',
        filename,
      };
      // The app's folder, and for Symfony the transport whose handlers the messages are for.
      const params = ['FPM_BRIDGE_APP_ROOT', byteString(root)];
      if (framework === 'symfony')
        params.push('FPM_BRIDGE_MESSENGER_TRANSPORT', byteString(this.config.messengerTransport));
      return this.forwardEvent(event, context, route, `fpm-bridge's ${framework} queue script`, params);
    }
    const command = scheduleCommand(this.config, this.app);
    if (command !== '' && isScheduledEvent(event)) {
      const result = await this.console(command, context);
      const entry = {
        requestId: context.awsRequestId,
        command,
        exitCode: result.exitCode,
        output: result.output,
      };
      if (result.exitCode !== 0) {
        this.log.error(entry, 'the scheduled command failed');
        throw new Error(
          `"scheduleCommand" ${command} exited with ${result.exitCode}: ${result.output.slice(-500)}`,
        );
      }
      this.log.info(entry, 'the scheduled command ran');
      return result;
    }
    throw unsupportedEvent(event);
  }

  private async http(adapter: EventAdapter, event: unknown, context: Context): Promise<unknown> {
    const requestId = context.awsRequestId;
    const p = this.prepare(adapter, event, context);
    if (p.kind === 'reply') return adapter.toResult(event, withoutBodyIf(p.response, p.head));
    const lr = p.lr;
    const isHead = lr.request.method === 'HEAD';
    let head: CgiHead;
    let body: Buffer;
    if (p.kind === 'static') {
      const a = p.answer;
      head = { status: a.status, statusText: reasonPhrase(a.status), headers: flatHeaders(a.headers) };
      // A HEAD's body is dropped when the result is encoded; the file is not read for it.
      body =
        isHead || a.range === null
          ? Buffer.from(a.text ?? '')
          : readRange(p.filename, a.range[0], a.range[1]);
    } else {
      const timeout = this.deadline(context);
      if (timeout === null) {
        return adapter.toResult(
          event,
          withoutBodyIf(this.errorResponse(this.outOfTime(context), requestId), isHead),
        );
      }
      try {
        const response = await this.bridge.buffer(lr.request, p.route, lr.body, requestId, timeout).response;
        body = response.body;
        // JSON carries text: header bytes PHP sent as UTF-8 must arrive as the characters they encode.
        const checked = withoutWrongLength(
          {
            status: response.status,
            statusText: response.statusText,
            headers: headersAsText(response.headers),
          },
          body.length,
          isHead,
        );
        head = checked.head;
        if (checked.wrong !== null) {
          this.log.error({ requestId, code: 'FPM_BRIDGE_ERR_BAD_RESPONSE' }, checked.wrong);
        }
      } catch (err) {
        if (err instanceof TimeoutError) await this.recycle(requestId);
        return adapter.toResult(event, withoutBodyIf(this.errorResponse(err, requestId), isHead));
      }
    }
    if (this.config.failOn5xx && head.status >= 500) {
      throw new Error(`PHP answered ${head.status} ${head.statusText} (failOn5xx is on)`);
    }
    return this.fit(adapter, event, head, body, lr, requestId);
  }

  /** Encodes the response, compresses it if that is what makes it fit the source's payload limit. */
  private async fit(
    adapter: EventAdapter,
    event: unknown,
    head: CgiHead,
    body: Buffer,
    lr: LambdaRequest,
    requestId: string,
  ) {
    const options = {
      textTypes: this.config.textTypes,
      acceptEncoding: lr.acceptEncoding,
      compress: false,
      head: lr.request.method === 'HEAD',
    };
    const encoded = encodeResponse(head, body, this.textTypes, options);
    let result = adapter.toResult(event, encoded);
    // Serialized only when it may be too large: JSON.stringify of a 50 KB page costs more than the rest of
    // the handler's work on it.
    if (jsonSizeBound(encoded) <= adapter.payloadLimit) return result;
    let size = Buffer.byteLength(JSON.stringify(result));
    if (size <= adapter.payloadLimit) return result;
    const original = size;
    if (this.config.compress === 'auto') {
      const compressed = await compressResponse(head, body, lr.acceptEncoding);
      if (compressed !== null) {
        result = adapter.toResult(
          event,
          encodeResponse(compressed, compressed.body, this.textTypes, options),
        );
        size = Buffer.byteLength(JSON.stringify(result));
        if (size <= adapter.payloadLimit) return result;
      }
    }
    this.log.error(
      {
        requestId,
        size: original,
        compressedSize: size === original ? undefined : size,
        limit: adapter.payloadLimit,
        source: adapter.name,
      },
      `the response is larger than ${adapter.name}'s payload limit${size === original ? ' (not compressed: the client takes neither br nor gzip, "compress" is off, or PHP encoded it)' : ' even compressed'} — stream it through a Function URL or serve the file from S3`,
    );
    return adapter.toResult(event, withoutBodyIf(plain(502, '502 Bad Gateway\n'), options.head));
  }

  async stream(
    event: unknown,
    stream: Writable,
    context: Context,
    from: ResponseStreamFactory,
  ): Promise<void> {
    const adapter = ADAPTERS.find((a) => a.matches(event));
    if (adapter === undefined) throw unsupportedEvent(event);
    const requestId = context.awsRequestId;
    const p = this.prepare(adapter, event, context);
    const isHead = p.kind === 'reply' ? p.head : p.lr.request.method === 'HEAD';
    // The prelude goes out once: a failure after it can only cut the body short.
    let preluded = false;
    const send = async (status: number, headers: readonly string[], body: string | NodeJS.ReadableStream) => {
      preluded = true;
      const out = from(stream, { statusCode: status, ...splitCookies(headers) });
      if (typeof body === 'string') out.end(bodiless(isHead, status) ? '' : body);
      else if (!bodiless(isHead, status)) await pipeline(body, out);
      else {
        // Read to its end, so that PHP finishes and its connection is reused; nothing of it is sent.
        body.resume();
        out.end();
      }
    };
    if (p.kind === 'reply') return send(p.response.status, p.response.headers, p.response.body);
    if (p.kind === 'static') {
      const a = p.answer;
      const body =
        isHead || a.range === null
          ? (a.text ?? '')
          : createReadStream(p.filename, { start: a.range[0], end: a.range[1] });
      return send(a.status, flatHeaders(a.headers), body);
    }
    const timeout = this.deadline(context);
    if (timeout === null) {
      const r = this.errorResponse(this.outOfTime(context), requestId);
      return send(r.status, r.headers, r.body);
    }
    try {
      // Inside the try: building the params can refuse the request (two Host headers → 400).
      const call = this.bridge.stream(p.lr.request, p.route, p.lr.body, requestId, timeout);
      const response = await call.response;
      // Streamed metadata is JSON too: see http().
      await send(response.status, headersAsText(response.headers), response.body);
    } catch (err) {
      if (err instanceof TimeoutError) await this.recycle(requestId);
      if (err instanceof AbortedError) return;
      const r = this.errorResponse(err, requestId);
      if (!preluded && !stream.writableEnded) await send(r.status, r.headers, r.body).catch(() => {});
    }
  }

  /** The event as a request and where it goes; or the answer already, for a bad request or a redirect. */
  private prepare(adapter: EventAdapter, event: unknown, context: Context): Prepared {
    let lr: LambdaRequest;
    try {
      lr = this.toRequest(adapter, event, context);
    } catch (err) {
      return { kind: 'reply', response: this.errorResponse(err, context.awsRequestId), head: false };
    }
    const head = lr.request.method === 'HEAD';
    let route: Route;
    try {
      route = this.bridge.route(lr.request);
    } catch (err) {
      return { kind: 'reply', response: this.errorResponse(err, context.awsRequestId), head };
    }
    if (route.kind === 'redirect') {
      // The location keeps the query's bytes; JSON carries text.
      const location = headerText(route.location);
      const text = `308 Permanent Redirect to ${location}\n`;
      return { kind: 'reply', response: plain(308, text, ['Location', location]), head };
    }
    if (route.kind === 'static') {
      const answer = staticAnswer(
        lr.request.method,
        (name) => headerField(lr.request.headers, name),
        route.filename,
        route.stats,
      );
      return { kind: 'static', lr, answer, filename: route.filename };
    }
    return { kind: 'script', lr, route };
  }

  private toRequest(adapter: EventAdapter, event: unknown, context: Context): LambdaRequest {
    let lr: LambdaRequest;
    try {
      lr = adapter.toRequest(event, context, this.adapterOptions);
    } catch (err) {
      if (err instanceof FpmBridgeError) throw err;
      throw new BadEventError(`malformed ${adapter.name} event: ${(err as Error).message}`);
    }
    const requestContext = (event as { requestContext?: unknown }).requestContext;
    // As Bref does: PHP reads these with getenv()/$_SERVER to see the invocation and the API's context.
    // Without one (an event a tool made), Bref's PHP json_encode()s an empty array: `[]`, which
    // json_decode() reads back as the array that code written for Bref indexes.
    lr.request.extraParams = [
      'LAMBDA_INVOCATION_CONTEXT',
      this.invocationContext(context),
      'LAMBDA_REQUEST_CONTEXT',
      requestContext == null ? '[]' : byteString(JSON.stringify(requestContext)),
    ];
    return lr;
  }

  /**
   * LAMBDA_INVOCATION_CONTEXT in the shape of Bref's `Context` (its jsonSerialize()): the four facts its
   * runtime reads from the Runtime API's invocation headers, in its order. Node's runtime gives the deadline
   * only as getRemainingTimeInMillis() (deadline - Date.now()), and the trace header as _X_AMZN_TRACE_ID, set
   * for each invocation; Bref sends '' for what the headers lack.
   */
  private invocationContext(context: Context): string {
    return byteString(
      JSON.stringify({
        awsRequestId: context.awsRequestId ?? '',
        deadlineMs: Date.now() + context.getRemainingTimeInMillis(),
        invokedFunctionArn: context.invokedFunctionArn ?? '',
        traceId: this.env._X_AMZN_TRACE_ID ?? '',
      }),
    );
  }

  /**
   * The time a request may run: the invocation's remaining time minus `timeoutMargin`, at most `timeout`.
   * Null when nothing is left: the request is not sent, so no PHP starts that could not finish.
   */
  private deadline(context: Context): number | null {
    const remaining = context.getRemainingTimeInMillis() - this.config.timeoutMargin;
    if (remaining <= 0) return null;
    return this.config.timeout > 0 ? Math.min(this.config.timeout, remaining) : remaining;
  }

  private outOfTime(context: Context): TimeoutError {
    return new TimeoutError(
      `the invocation has ${context.getRemainingTimeInMillis()} ms left, no more than "timeoutMargin" (${this.config.timeoutMargin} ms): PHP was not started — raise the function's timeout`,
    );
  }

  /**
   * After a timeout the worker is still running the script: replace php-fpm so the next request is clean.
   * On Lambda this is what ends a stuck script, not php-fpm's request_terminate_timeout: its clock
   * (CLOCK_MONOTONIC) runs on while the sandbox's processes are frozen between invocations, and it counts the
   * wait on a kept connection as a request running, so on thaw it would kill the idle worker.
   */
  private async recycle(requestId: string): Promise<void> {
    const supervisor = this.bridge.backend.supervisor;
    if (supervisor === null) return;
    this.log.warn({ requestId }, 'restarting php-fpm to free the worker still running the timed-out script');
    await supervisor
      .restart()
      .catch((err: Error) => this.log.error({ requestId, err: err.message }, 'php-fpm restart failed'));
  }

  private errorResponse(err: unknown, requestId: string): EncodedResponse {
    if (err instanceof BadEventError) throw err;
    const known = err instanceof FpmBridgeError;
    const status = known ? err.statusCode : 500;
    const entry = { requestId, status, code: known ? err.code : undefined, err: (err as Error).message };
    if (status >= 500) this.log.error(entry, 'request failed');
    else this.log.info(entry, 'request refused');
    return plain(status, errorText(status), status === 503 ? ['Retry-After', '1'] : []);
  }

  /**
   * POSTs a non-HTTP event as JSON to a script (`eventsScript`, or fpm-bridge's own for the framework's
   * queue; `what` names it in errors) with `params` added; a 2xx is success and its JSON the result,
   * anything else fails the invocation.
   */
  private async forwardEvent(
    event: unknown,
    context: Context,
    route: ScriptRoute,
    what: string,
    params: readonly string[] = [],
  ): Promise<unknown> {
    const body = Buffer.from(JSON.stringify(event));
    const target = byteString(route.scriptName);
    const request = {
      method: 'POST',
      uri: target,
      path: target,
      query: '',
      headers: ['Content-Type', 'application/json'],
      protocol: 'HTTP/1.1',
      https: false,
      remoteAddress: '127.0.0.1',
      remotePort: null,
      serverAddress: '',
      serverPort: 0,
      contentLength: body.length,
      extraParams: ['LAMBDA_INVOCATION_CONTEXT', this.invocationContext(context), ...params],
    };
    const timeout = this.deadline(context);
    if (timeout === null) throw this.outOfTime(context);
    let response: Awaited<ReturnType<Bridge['buffer']>['response']>;
    try {
      response = await this.bridge.buffer(request, route, body, context.awsRequestId, timeout).response;
    } catch (err) {
      // As for HTTP events: the worker still runs the script; the next invocation must find it free.
      if (err instanceof TimeoutError) await this.recycle(context.awsRequestId);
      throw err;
    }
    const text = response.body.toString('utf8');
    if (response.status < 200 || response.status > 299) {
      throw new Error(`${what} answered ${response.status} ${response.statusText}: ${text.slice(0, 500)}`);
    }
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
}

function plain(status: number, text: string, extra: string[] = []): EncodedResponse {
  return {
    status,
    statusText: reasonPhrase(status),
    headers: ['Content-Type', 'text/plain; charset=utf-8', ...extra],
    body: text,
    isBase64Encoded: false,
  };
}

function splitCookies(flat: readonly string[]): { headers: Record<string, string>; cookies: string[] } {
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const key = flat[i]!.toLowerCase();
    if (key === 'set-cookie') cookies.push(flat[i + 1]!);
    else addJoined(headers, key, flat[i + 1]!);
  }
  return { headers, cookies };
}

/** Bytes `start` to `end` (inclusive) of a file, without reading the rest. */
function readRange(filename: string, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start + 1);
  const fd = openSync(filename, 'r');
  try {
    let at = 0;
    while (at < out.length) {
      const n = readSync(fd, out, at, out.length - at, start + at);
      if (n === 0) return out.subarray(0, at);
      at += n;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}
