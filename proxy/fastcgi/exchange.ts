import type { Readable } from 'node:stream';
import { Deadlines } from '../deadlines.ts';
import { AbortedError, type FpmBridgeError, TimeoutError } from '../errors.ts';
import type { Connection } from './connection.ts';
import type { Pool } from './pool.ts';

/** One FastCGI request as the client sends it. */
export interface FcgiRequest {
  /** Flat `[name, value, ...]` list, already deduplicated (php-fpm keeps the last of a repeated name). */
  params: readonly string[];
  /**
   * The body: a Buffer, or a Readable that must yield exactly `contentLength` bytes (php-fpm reads exactly
   * CONTENT_LENGTH bytes; a short body would leave a worker waiting), or null for none.
   */
  body: Buffer | Readable | null;
  /** Length of a Readable body; ignored for a Buffer. */
  contentLength?: number;
  /** Total time allowed from dispatch to END_REQUEST, in ms; 0 = none. */
  timeout?: number;
  /**
   * The request can be sent again (its body is a Buffer or none). It is, once, when php-fpm provably never
   * got it: the kept connection it was written to had already been closed by php-fpm (EPIPE: a worker that
   * exited after `pm.max_requests`, or died while idle). Whatever the method: no script saw it.
   */
  retryable?: boolean;
  /**
   * Also send it again when a reused kept connection closes before any response byte. That is how the
   * `pm.max_requests` race usually looks (php-fpm half-closes after its last response and discards what
   * arrives), but a worker that crashed while running the script looks the same: PHP may have run it. Only
   * for idempotent methods (nginx's rule), and never with the php-fpm fpm-bridge spawns, whose workers
   * have no max_requests: there a close is a crash, and a crash is answered 502, not run twice.
   */
  resendOnClose?: boolean;
}

/** Receives one request's response, record by record (the undici dispatcher handler shape). */
export interface FcgiHandler {
  /** STDOUT bytes. Return false to stop reading from the connection until {@link Exchange.resume}. */
  onStdout(data: Buffer): boolean;
  /** STDERR bytes (PHP log lines); never mixed into stdout. */
  onStderr(data: Buffer): void;
  /** END_REQUEST with FCGI_REQUEST_COMPLETE; `appStatus` is the script's exit status. */
  onEnd(appStatus: number): void;
  /** The request failed; no other callback follows. */
  onError(err: FpmBridgeError): void;
}

/**
 * The life of one request: queued, then bound to a connection, then done. Returned by
 * `Pool.dispatch` so that a front can abort it (client gone) or resume a paused response.
 */
export class Exchange {
  requestId = 0;
  connection: Connection | null = null;
  /** Started on a connection that had served requests before (see FcgiRequest.resendOnClose). */
  reusedConnection = false;
  /** Its write found the connection already closed by php-fpm: no byte of it arrived (see FcgiRequest.retryable). */
  unsent = false;
  /** Any record for this request has arrived. */
  received = false;
  /** The whole body (and the empty STDIN record) has been written. */
  bodySent = false;
  done = false;
  retried = false;
  /** Times a balancer sent it to another server after its connection never stood. */
  failovers = 0;
  /** The pool whose queue it waits in (set by the pool), else null. */
  queuedIn: Pool | null = null;

  constructor(
    readonly request: FcgiRequest,
    readonly handler: FcgiHandler,
  ) {
    // Deadline for the whole request: queue wait, php-fpm run time and the response.
    if ((request.timeout ?? 0) > 0) DEADLINES.add(this, request.timeout!);
  }

  /** Ends the request with `err` (default: aborted by the caller) and frees its connection slot. */
  abort(err: FpmBridgeError = new AbortedError('request aborted by the client')): void {
    if (this.done) return;
    this.queuedIn?.unqueue(this);
    const conn = this.connection;
    // php-fpm ignores FCGI_ABORT_REQUEST: closing the socket is the only way to stop it listening to us.
    if (conn !== null) conn.destroy(err, this);
    else this.fail(err);
  }

  /** Continues reading a response whose handler returned false from onStdout. */
  resume(): void {
    this.connection?.resumeReading();
  }

  fail(err: FpmBridgeError): void {
    if (this.done) return;
    this.finish();
    this.handler.onError(err);
  }

  finish(): void {
    this.done = true;
    if ((this.request.timeout ?? 0) > 0) DEADLINES.delete(this);
  }
}

/** Every request's deadline (FcgiRequest.timeout), on one timer. */
const DEADLINES = new Deadlines<Exchange>((exchange) =>
  exchange.abort(
    new TimeoutError(
      `php-fpm did not finish the request within ${exchange.request.timeout} ms — raise "timeout" or make the script faster`,
    ),
  ),
);
