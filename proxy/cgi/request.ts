/**
 * The neutral request both fronts build — the Lambda handler from an event, the standalone server from the
 * bytes a client sent — and the core turns into CGI params. Every string in it is a byte string (one
 * character per byte, see proxy/byte-strings.ts), and raw values stay raw: `uri` and `query` are passed to
 * PHP byte for byte as REQUEST_URI and QUERY_STRING, header values as HTTP_*; only `path` is decoded, to
 * find the script.
 */
export interface ProxyRequest {
  method: string;
  /** Request target as received, path and query, undecoded: REQUEST_URI. */
  uri: string;
  /** Path part of the target, still percent-encoded. */
  path: string;
  /** Query after `?`, undecoded, '' when absent. */
  query: string;
  /** Flat `[name, value, ...]` request headers, as `IncomingMessage.rawHeaders` has them (bytes). */
  headers: readonly string[];
  /** `HTTP/1.1`, `HTTP/2.0`, ... */
  protocol: string;
  /** The client used TLS (directly or at a trusted edge such as API Gateway). */
  https: boolean;
  remoteAddress: string;
  /** null when the front does not know it (Lambda). */
  remotePort: number | null;
  /** '' when the front does not know it (Lambda). */
  serverAddress: string;
  /**
   * SERVER_NAME for a request with no Host header (an ALB health check, an event a tool wrote): the API's
   * domain name on Lambda. Unset: `serverAddress`. A Host header always wins.
   */
  serverName?: string;
  serverPort: number;
  /** Body length in bytes, or null when the request has no body. */
  contentLength: number | null;
  /** Params a front adds (Lambda context) as byte strings, after the defaults and before `setParams`. */
  extraParams?: readonly string[];
}
