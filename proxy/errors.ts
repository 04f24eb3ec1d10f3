/**
 * Every failure fpm-bridge reports is an {@link FpmBridgeError} with a stable `code` (documented in the
 * README) and the HTTP status a front answers with. Messages name the input, echo the bad value and say
 * the fix; the fronts log `cause` and never send a stack to a client.
 *
 * @example
 *   try { await proxy.handle(req) } catch (err) {
 *     if (err instanceof FpmBridgeError) reply(err.statusCode, err.code)
 *   }
 */
export class FpmBridgeError extends Error {
  // Spelled out, not taken from the class: the bundles are minified, and Lambda reports `name` as errorType.
  override name = 'FpmBridgeError';
  /** Stable identifier, `FPM_BRIDGE_ERR_*`. */
  readonly code: string;
  /** Status a front answers with when this error ends a request. */
  readonly statusCode: number;

  constructor(code: string, statusCode: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.statusCode = statusCode;
  }
}

/** A setting in the config file, environment or command line is invalid. */
export class ConfigError extends FpmBridgeError {
  override readonly name = 'ConfigError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('FPM_BRIDGE_ERR_CONFIG', 500, message, options);
  }
}

/** No php-fpm binary where we looked. */
export class PhpFpmNotFoundError extends FpmBridgeError {
  override readonly name = 'PhpFpmNotFoundError';
  constructor(message: string) {
    super('FPM_BRIDGE_ERR_PHP_FPM_NOT_FOUND', 502, message);
  }
}

/** The spawned php-fpm exited or did not open its socket in time. */
export class PhpFpmStartError extends FpmBridgeError {
  override readonly name = 'PhpFpmStartError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('FPM_BRIDGE_ERR_PHP_FPM_START', 502, message, options);
  }
}

/** The FastCGI server could not be reached (refused, missing socket, connect timeout). */
export class ConnectError extends FpmBridgeError {
  override readonly name = 'ConnectError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('FPM_BRIDGE_ERR_CONNECT', 502, message, options);
  }
}

/** The FastCGI connection closed or broke before END_REQUEST (worker killed, crash, reset). */
export class UpstreamClosedError extends FpmBridgeError {
  override readonly name = 'UpstreamClosedError';
  /** True when not one byte of the response arrived: the request may be retried if it is safe to. */
  readonly beforeResponse: boolean;
  constructor(message: string, beforeResponse: boolean, options?: { cause?: unknown }) {
    super('FPM_BRIDGE_ERR_UPSTREAM_CLOSED', 502, message, options);
    this.beforeResponse = beforeResponse;
  }
}

/** The FastCGI server sent bytes that are not valid FastCGI 1.0 records. */
export class ProtocolError extends FpmBridgeError {
  override readonly name = 'ProtocolError';
  constructor(message: string) {
    super('FPM_BRIDGE_ERR_PROTOCOL', 502, message);
  }
}

/** END_REQUEST with FCGI_OVERLOADED: the application refused the request. */
export class OverloadedError extends FpmBridgeError {
  override readonly name = 'OverloadedError';
  constructor(message: string) {
    super('FPM_BRIDGE_ERR_OVERLOADED', 503, message);
  }
}

/** END_REQUEST with FCGI_CANT_MPX_CONN: the server will not multiplex; retried on a fresh connection. */
export class CantMultiplexError extends FpmBridgeError {
  override readonly name = 'CantMultiplexError';
  constructor(message: string) {
    super('FPM_BRIDGE_ERR_CANT_MPX_CONN', 502, message);
  }
}

/** END_REQUEST with FCGI_UNKNOWN_ROLE: the server is not a FastCGI responder. */
export class UnknownRoleError extends FpmBridgeError {
  override readonly name = 'UnknownRoleError';
  constructor(message: string) {
    super('FPM_BRIDGE_ERR_UNKNOWN_ROLE', 502, message);
  }
}

/** The CGI header block php-fpm sent is malformed or too large. */
export class BadResponseError extends FpmBridgeError {
  override readonly name = 'BadResponseError';
  constructor(message: string) {
    super('FPM_BRIDGE_ERR_BAD_RESPONSE', 502, message);
  }
}

/** The request ran longer than the configured timeout; its connection (and worker) were released. */
export class TimeoutError extends FpmBridgeError {
  override readonly name = 'TimeoutError';
  constructor(message: string) {
    super('FPM_BRIDGE_ERR_TIMEOUT', 504, message);
  }
}

/** All connections are busy and the wait queue is full or the wait took too long. */
export class QueueFullError extends FpmBridgeError {
  override readonly name = 'QueueFullError';
  constructor(message: string) {
    super('FPM_BRIDGE_ERR_QUEUE', 503, message);
  }
}

/** The caller aborted the request (client gone); nothing is sent back. */
export class AbortedError extends FpmBridgeError {
  override readonly name = 'AbortedError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('FPM_BRIDGE_ERR_ABORTED', 499, message, options);
  }
}

/** The client pool was closed while the request waited or ran. */
export class ClientClosedError extends FpmBridgeError {
  override readonly name = 'ClientClosedError';
  constructor(message: string) {
    super('FPM_BRIDGE_ERR_CLOSED', 503, message);
  }
}

/** The request is malformed (CR, LF or NUL in the path, bad percent-encoding, bad header). */
export class BadRequestError extends FpmBridgeError {
  override readonly name = 'BadRequestError';
  constructor(message: string) {
    super('FPM_BRIDGE_ERR_BAD_REQUEST', 400, message);
  }
}

/** The path names nothing this proxy will serve or run (outside docroot, not a script, no front controller). */
export class NotFoundError extends FpmBridgeError {
  override readonly name = 'NotFoundError';
  constructor(message: string) {
    super('FPM_BRIDGE_ERR_NOT_FOUND', 404, message);
  }
}

/**
 * The request headers are larger than `maxHeaderSize`, or the params (mostly headers) cannot be encoded: one
 * header is larger than a FastCGI record can carry.
 */
export class HeadersTooLargeError extends FpmBridgeError {
  override readonly name = 'HeadersTooLargeError';
  constructor(message: string) {
    super('FPM_BRIDGE_ERR_HEADERS_TOO_LARGE', 431, message);
  }
}

/** The request body is larger than the configured limit. */
export class BodyTooLargeError extends FpmBridgeError {
  override readonly name = 'BodyTooLargeError';
  constructor(message: string) {
    super('FPM_BRIDGE_ERR_BODY_TOO_LARGE', 413, message);
  }
}

/** The request body ended before the announced Content-Length, or its source failed. */
export class BodyError extends FpmBridgeError {
  override readonly name = 'BodyError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('FPM_BRIDGE_ERR_BODY', 400, message, options);
  }
}

/** A request body could not be written to its temporary file (disk full, temporary directory not writable). */
export class SpoolError extends FpmBridgeError {
  override readonly name = 'SpoolError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('FPM_BRIDGE_ERR_SPOOL', 500, message, options);
  }
}

/** The request uses what the front does not implement: a transfer coding other than chunked, CONNECT. */
export class NotImplementedError extends FpmBridgeError {
  override readonly name = 'NotImplementedError';
  constructor(message: string) {
    super('FPM_BRIDGE_ERR_NOT_IMPLEMENTED', 501, message);
  }
}

/** The request line names an HTTP version other than 1.0 and 1.1. */
export class HttpVersionError extends FpmBridgeError {
  override readonly name = 'HttpVersionError';
  constructor(message: string) {
    super('FPM_BRIDGE_ERR_HTTP_VERSION', 505, message);
  }
}

/** The request's `Expect` header asks for something other than 100-continue. */
export class ExpectationFailedError extends FpmBridgeError {
  override readonly name = 'ExpectationFailedError';
  constructor(message: string) {
    super('FPM_BRIDGE_ERR_EXPECTATION', 417, message);
  }
}

/** The client did not send its request headers within `headersTimeout`, or its body fast enough (`bodyTimeout`). */
export class RequestTimeoutError extends FpmBridgeError {
  override readonly name = 'RequestTimeoutError';
  constructor(message: string) {
    super('FPM_BRIDGE_ERR_REQUEST_TIMEOUT', 408, message);
  }
}

/** The command line is wrong (unknown command, bad option); the CLI exits with status 2. */
export class UsageError extends FpmBridgeError {
  override readonly name = 'UsageError';
  constructor(message: string) {
    super('FPM_BRIDGE_ERR_USAGE', 400, message);
  }
}

/** A Lambda event that is not an HTTP event fpm-bridge handles, or is malformed; the invocation fails. */
export class BadEventError extends FpmBridgeError {
  override readonly name = 'BadEventError';
  constructor(message: string) {
    super('FPM_BRIDGE_ERR_BAD_EVENT', 400, message);
  }
}

/** `fpm-bridge layer build` failed: a package could not be fetched, a library is missing, the layer is too large. */
export class LayerError extends FpmBridgeError {
  override readonly name = 'LayerError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('FPM_BRIDGE_ERR_LAYER', 500, message, options);
  }
}

/**
 * An AWS call from the CLI (`layer publish`, `invoke --function`) failed: no region or credentials, the
 * credentials were refused or lack a permission, the resource does not exist, or the invoked function failed.
 */
export class AwsError extends FpmBridgeError {
  override readonly name = 'AwsError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('FPM_BRIDGE_ERR_AWS', 502, message, options);
  }
}

/**
 * Lambda init: an environment value naming an SSM parameter (`ssm:/path`, `bref-ssm:/path`) could not be
 * resolved: no such parameter, no permission to read it, no region or credentials.
 */
export class SsmError extends FpmBridgeError {
  override readonly name = 'SsmError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('FPM_BRIDGE_ERR_SSM', 500, message, options);
  }
}
