import type { Context } from 'aws-lambda';
import { byteString } from '../proxy/byte-strings.ts';
import { hostName, isHostName } from '../proxy/cgi/params.ts';
import type { ProxyRequest } from '../proxy/cgi/request.ts';
import { BadEventError, BadRequestError } from '../proxy/errors.ts';
import { trimOws } from '../proxy/header-fields.ts';

/** What an adapter needs from the configuration. */
export interface AdapterOptions {
  /** Prefix removed from the path (stage, custom-domain base path); '' for none. */
  basePath: string;
  trustForwardedHost: boolean;
}

/** A request as an adapter hands it to the core: the neutral request, its body, and what the client accepts. */
export interface LambdaRequest {
  request: ProxyRequest;
  body: Buffer | null;
  /** Accept-Encoding, for compressing a response that would not fit. */
  acceptEncoding: string;
}

/** A PHP response ready for an event source: headers flat, the body already text or base64. */
export interface EncodedResponse {
  status: number;
  statusText: string;
  /** Flat `[name, value, ...]`; repeated names (Set-Cookie) stay apart. */
  headers: readonly string[];
  body: string;
  isBase64Encoded: boolean;
}

/**
 * One event source. Adding a source means adding one file that implements this and listing it in
 * `sources.ts`; the behaviour suite then runs every check over it.
 */
export interface EventAdapter<E = unknown, R = unknown> {
  /** For logs and errors: "API Gateway REST", "ALB", ... */
  readonly name: string;
  /** Largest response payload the source accepts, in bytes (base64 and JSON included). */
  readonly payloadLimit: number;
  /** Cheap shape test on the raw event. */
  matches(event: unknown): event is E;
  toRequest(event: E, context: Context, options: AdapterOptions): LambdaRequest;
  /** The reply mirrors the input: multi-value in, multi-value out; v2 cookies in `cookies`. */
  toResult(event: E, response: EncodedResponse): R;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** 6 MB: API Gateway REST and HTTP API, and buffered Function URL responses. */
export const API_GATEWAY_PAYLOAD_LIMIT = 6 * 1024 * 1024;

/**
 * Collects request headers as the core wants them (flat, original names), refusing values with CR, LF or
 * NUL: API Gateway and ALB normally strip them, but nothing may smuggle a second header line to PHP.
 */
export class HeaderList {
  readonly flat: string[] = [];

  add(name: string, value: string | undefined): void {
    // JSON cannot say undefined: null is an absent value too.
    if (value === undefined || value === null) return;
    if (typeof value !== 'string') {
      // AWS sends strings; events that tools and people write (Bref's own test events among them) give
      // `"Content-Length": 15` or `"X-Debug": true`, whose text is plain. An array or an object is not.
      if (typeof value !== 'number' && typeof value !== 'boolean') {
        throw new BadEventError(
          `request header "${name}" has ${kindOf(value)} as its value; expected a string`,
        );
      }
      value = String(value);
    }
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (c === 0x0a || c === 0x0d || c === 0) {
        throw new BadRequestError(`request header "${name}" contains a CR, LF or NUL character`);
      }
    }
    this.flat.push(name, value);
  }

  /** First value of a header, case-insensitively. */
  get(name: string): string | undefined {
    const lower = name.toLowerCase();
    for (let i = 0; i < this.flat.length; i += 2)
      if (this.flat[i]!.toLowerCase() === lower) return this.flat[i + 1];
    return undefined;
  }

  /** Replaces every value of a header (case-insensitively) with one. */
  set(name: string, value: string): void {
    const lower = name.toLowerCase();
    for (let i = this.flat.length - 2; i >= 0; i -= 2)
      if (this.flat[i]!.toLowerCase() === lower) this.flat.splice(i, 2);
    this.add(name, value);
  }
}

/** The parts of a request every source provides, in the source's own terms. */
export interface RequestParts {
  method: string;
  /** Raw path (see encodePath), basePath already removed. */
  path: string;
  /** Raw query, '' for none. */
  query: string;
  headers: HeaderList;
  protocol: string;
  https: boolean;
  remoteAddress: string;
  body: Buffer | null;
  /** `requestContext.domainName` (API Gateway, Function URLs): SERVER_NAME when there is no Host header. */
  domainName?: unknown;
}

/** What a JSON value that should have been a string is, for messages: `an array`, `a number`, `null`… */
function kindOf(value: unknown): string {
  if (value === null || value === undefined) return 'missing';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * The adapters take an event's fields as they come; one that is not a string (a number, an object) would
 * reach the FastCGI encoder as such. Throws a TypeError, which the runtime reports as a malformed event of
 * the adapter's source. Headers are checked as they are collected (HeaderList).
 */
function checkStrings(parts: RequestParts): void {
  const fields = [
    ['method', parts.method],
    ['path', parts.path],
    ['query string', parts.query],
    ['protocol', parts.protocol],
    ['source IP', parts.remoteAddress],
  ] as const;
  for (const [field, value] of fields) {
    if (typeof value !== 'string') {
      throw new TypeError(`its ${field} is ${kindOf(value)}; expected a string`);
    }
  }
}

/**
 * The neutral request for the core. Behind API Gateway and ALB the listener port is only known from
 * X-Forwarded-Port, and the client's port and the server's address not at all (left out of the params).
 */
export function lambdaRequest(parts: RequestParts, options: AdapterOptions): LambdaRequest {
  checkStrings(parts);
  const { headers, method, body } = parts;
  applyForwardedHost(headers, options);
  // The header comes from the load balancer, but a client can send one too; anything but a port's digits is
  // ignored (Number() would also take "0x1bb", "4.43e2" and Unicode spaces around them).
  const value = trimOws(headers.get('x-forwarded-port') ?? '');
  const forwarded = /^\d{1,5}$/.test(value) ? Number(value) : 0;
  const port = forwarded > 0 && forwarded < 65_536 ? forwarded : null;
  // An event's fields are text; the core takes the bytes the client sent, which are their UTF-8 encoding.
  const path = byteString(parts.path);
  const query = byteString(parts.query);
  return {
    request: {
      method: byteString(method),
      uri: requestUri(path, query),
      path,
      query,
      headers: headers.flat.map(byteString),
      protocol: byteString(parts.protocol),
      https: parts.https,
      remoteAddress: byteString(parts.remoteAddress),
      remotePort: null,
      serverAddress: '',
      serverName: serverName(parts.domainName),
      serverPort: port ?? (parts.https ? 443 : 80),
      contentLength: contentLength(method, body),
    },
    body,
    acceptEncoding: headers.get('accept-encoding') ?? '',
  };
}

/**
 * The API's domain name as SERVER_NAME for a request without Host (ALB health checks send none, and neither
 * do some hand-written events), port removed as from a Host. One that is no host name is not used: SERVER_NAME
 * is then empty, as for an ALB event, which has no domain name at all.
 */
function serverName(domainName: unknown): string | undefined {
  if (typeof domainName !== 'string' || domainName === '' || !isHostName(domainName)) return undefined;
  return hostName(byteString(domainName));
}

/** Adds single-value and multi-value header maps; when both exist (REST), the multi-value one wins. */
export function collectHeaders(
  single: Record<string, string | undefined> | null | undefined,
  multi: Record<string, string[] | undefined> | null | undefined,
): HeaderList {
  const list = new HeaderList();
  if (isObject(multi)) {
    for (const [name, values] of Object.entries(multi)) {
      for (const v of multiValues('header', name, values)) list.add(name, v);
    }
  } else if (isObject(single)) {
    for (const [name, value] of Object.entries(single)) list.add(name, value);
  }
  return list;
}

/**
 * The values of one multi-value header or query parameter: none for null. A string where AWS puts an array
 * would be iterated character by character: it is refused (a TypeError, reported as a malformed event).
 */
export function multiValues<T>(what: string, name: string, values: T[] | null | undefined): T[] {
  if (values === undefined || values === null) return [];
  if (!Array.isArray(values)) {
    throw new TypeError(`its multi-value ${what} "${name}" is ${kindOf(values)}; expected an array`);
  }
  return values;
}

/** The body bytes of an event (base64-decoded when flagged), or null when there is none. */
export function eventBody(
  body: string | null | undefined,
  isBase64Encoded: boolean | undefined,
): Buffer | null {
  if (body === null || body === undefined) return null;
  return isBase64Encoded === true ? Buffer.from(body, 'base64') : Buffer.from(body, 'utf8');
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** CONTENT_LENGTH: the body's length, 0 for a bodiless POST/PUT/PATCH, null otherwise. */
function contentLength(method: string, body: Buffer | null): number | null {
  if (body !== null && (body.length > 0 || BODY_METHODS.has(method))) return body.length;
  return BODY_METHODS.has(method) ? 0 : null;
}

/** Removes `basePath` from the front of `path` (only at a segment boundary). */
export function stripBasePath(path: string, basePath: string): string {
  if (basePath === '' || basePath === '/') return path;
  const base = basePath.endsWith('/') ? basePath.slice(0, -1) : basePath;
  if (path === base) return '/';
  return path.startsWith(`${base}/`) ? path.slice(base.length) : path;
}

/** Applies `trustForwardedHost`: CloudFront sends the viewer's Host as X-Forwarded-Host. */
function applyForwardedHost(headers: HeaderList, options: AdapterOptions): void {
  if (!options.trustForwardedHost) return;
  const forwarded = headers.get('x-forwarded-host');
  if (forwarded !== undefined && forwarded !== '') headers.set('Host', trimOws(forwarded.split(',')[0]!));
}

/** `path?query` as REQUEST_URI, without a dangling `?`. */
function requestUri(path: string, query: string): string {
  return query === '' ? path : `${path}?${query}`;
}

/**
 * Percent-encodes what cannot stand raw in a path or query component. Used where AWS hands us decoded
 * values (REST API query parameters): `[`, `]` and the like stay as clients send them, `&`, `=`, `+`, `#`,
 * `%`, spaces and non-ASCII are encoded, so PHP's parse_str gets back exactly the values AWS decoded.
 */
export function encodeComponent(value: string): string {
  // A lone UTF-16 surrogate (JSON can carry one) has no UTF-8 form: it becomes U+FFFD, not a failed invocation.
  return encodeURIComponent(value.toWellFormed()).replace(/%(5B|5D|40|3A|2C|3B|21|24|27|28|29|2A|2F)/g, (m) =>
    String.fromCharCode(Number.parseInt(m.slice(1), 16)),
  );
}

/** What cannot stand raw in a request path, and a `%` that starts no `%XX` escape. */
const PATH_UNSAFE = /[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]+|%(?![0-9A-Fa-f]{2})/g;

/**
 * Makes an event's path a raw request path: encodes what cannot stand raw in one (spaces, `?`, `#`,
 * non-ASCII, controls, a `%` not followed by two hex digits) and leaves `%XX` escapes alone. Idempotent,
 * because sources differ: REST, ALB and Function URLs keep the client's encoding in the path, while HTTP
 * API hands over `rawPath` decoded (`/100%25.pdf` arrives as `/100%.pdf`).
 */
export function encodePath(path: string): string {
  PATH_UNSAFE.lastIndex = 0;
  return PATH_UNSAFE.test(path) ? path.replace(PATH_UNSAFE, (run) => encodeURIComponent(run)) : path;
}

/**
 * Sets `map[name]` as the map's own entry. A response header may have any name PHP gives it: `__proto__`
 * would be taken for the object's prototype by an assignment, and `constructor` read back as the inherited
 * member by a plain lookup (hence Object.hasOwn wherever a header map is read).
 */
export function setOwn<T>(map: Record<string, T>, name: string, value: T): void {
  if (name === '__proto__') {
    Object.defineProperty(map, name, { value, enumerable: true, writable: true, configurable: true });
  } else {
    map[name] = value;
  }
}

/** Adds a header to a map of single values, after a value already there as `, ` joins repeats (see setOwn). */
export function addJoined(map: Record<string, string>, name: string, value: string): void {
  setOwn(map, name, Object.hasOwn(map, name) ? `${map[name]}, ${value}` : value);
}

/** Groups flat headers into a map of arrays (multi-value replies). */
export function multiValueHeaders(flat: readonly string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!;
    if (Object.hasOwn(out, name)) out[name]!.push(flat[i + 1]!);
    else setOwn(out, name, [flat[i + 1]!]);
  }
  return out;
}
