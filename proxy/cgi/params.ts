import { byteString } from '../byte-strings.ts';
import { BadRequestError, ConfigError } from '../errors.ts';
import { trimOws } from '../header-fields.ts';
import { printable } from './path.ts';
import type { ProxyRequest } from './request.ts';
import type { Route } from './route.ts';

/** One `set-param` rule: a param name and a value template with `%[...]` placeholders. */
export interface SetParam {
  name: string;
  value: string;
}

export interface ParamsOptions {
  /** Document root as php-fpm sees it, without trailing slash (`/` stays `/`). */
  docroot: string;
  serverSoftware: string;
  setParams: readonly SetParam[];
  /** Hidden-by-default headers to pass anyway (lowercase). */
  passHeaders: readonly string[];
  /** Extra headers never to pass (lowercase). */
  hideHeaders: readonly string[];
}

/**
 * Headers never passed as HTTP_*: hop-by-hop ones (RFC 9110 §7.6.1), `Proxy` (httpoxy: PHP code reads
 * HTTP_PROXY as a proxy setting), and Content-Type/-Length, which go as CONTENT_TYPE/CONTENT_LENGTH only.
 */
const HIDDEN = [
  'connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'trailers',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
];
/** Not even `passHeaders` brings these back. */
const NEVER = ['proxy', 'content-type', 'content-length'];

/** Params a client must never set through configuration built from request data. */
const INI_PARAMS = new Set(['PHP_VALUE', 'PHP_ADMIN_VALUE']);

type Part = string | ((req: ProxyRequest) => string);

interface CompiledParam {
  name: string;
  parts: Part[];
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PLACEHOLDER_RE = /%\[([a-z_.]+)(?:\(([^)]*)\))?\]/g;

/**
 * Builds the CGI/1.1 params (RFC 3875 §4.1, plus what PHP applications expect from nginx's
 * `fastcgi_params`) for one request, as the flat `[name, value, ...]` list of byte strings the FastCGI
 * encoder takes: the request's own bytes as they came, the configuration's text and the decoded path
 * (SCRIPT_NAME, PATH_INFO) as their UTF-8 bytes.
 *
 * @example
 *   const builder = new ParamsBuilder({ docroot: '/var/task/public', serverSoftware: 'fpm-bridge/0.1', setParams: [], passHeaders: [], hideHeaders: [] })
 *   builder.build(request, { kind: 'script', scriptName: '/index.php', pathInfo: '' })
 */
export class ParamsBuilder {
  private readonly hidden: Set<string>;
  private readonly rules: CompiledParam[];
  /** DOCUMENT_ROOT's bytes, without trailing slash ('' for `/`), and SERVER_SOFTWARE's. */
  private readonly docroot: string;
  private readonly serverSoftware: string;
  /** Header name → HTTP_* name, or '' when the header is not passed. Bounded; names repeat a lot. */
  private readonly names = new Map<string, string>();

  constructor(readonly options: ParamsOptions) {
    this.hidden = new Set([...HIDDEN, ...options.hideHeaders.map((h) => h.toLowerCase())]);
    for (const h of options.passHeaders) this.hidden.delete(h.toLowerCase());
    for (const h of NEVER) this.hidden.add(h);
    this.rules = options.setParams.map(compileSetParam);
    this.docroot = options.docroot === '/' ? '' : byteString(options.docroot);
    this.serverSoftware = byteString(options.serverSoftware);
  }

  build(req: ProxyRequest, route: Extract<Route, { kind: 'script' }>): string[] {
    const docroot = this.docroot;
    const scriptName = byteString(route.scriptName);
    const pathInfo = byteString(route.pathInfo);
    // biome-ignore format: one name-value pair a line
    const p: string[] = [
      'GATEWAY_INTERFACE', 'CGI/1.1',
      'SERVER_SOFTWARE', this.serverSoftware,
      'REQUEST_METHOD', req.method,
      'REQUEST_URI', req.uri,
      'QUERY_STRING', req.query,
      'DOCUMENT_ROOT', docroot === '' ? '/' : docroot,
      'DOCUMENT_URI', scriptName + pathInfo,
      'SCRIPT_NAME', scriptName,
      'SCRIPT_FILENAME', route.filename === undefined ? docroot + scriptName : byteString(route.filename),
      'SERVER_PROTOCOL', req.protocol,
      'REQUEST_SCHEME', req.https ? 'https' : 'http',
      'SERVER_PORT', String(req.serverPort),
      'REMOTE_ADDR', req.remoteAddress,
      // php-cgi's force-redirect check wants it; php-fpm ignores it. nginx and Caddy send it too.
      'REDIRECT_STATUS', '200',
    ];
    // Unknown behind API Gateway and ALB: better absent than invented.
    if (req.serverAddress !== '') p.push('SERVER_ADDR', req.serverAddress);
    if (req.remotePort !== null) p.push('REMOTE_PORT', String(req.remotePort));
    if (pathInfo !== '') p.push('PATH_INFO', pathInfo, 'PATH_TRANSLATED', docroot + pathInfo);
    if (req.https) p.push('HTTPS', 'on');
    if (req.contentLength !== null) p.push('CONTENT_LENGTH', String(req.contentLength));

    const headers = req.headers;
    const firstHeader = p.length;
    let host: string | null = null;
    let authorized = false;
    for (let i = 0; i < headers.length; i += 2) {
      const raw = headers[i]!;
      const value = headers[i + 1]!;
      let name = this.names.get(raw);
      if (name === undefined) {
        name = this.cgiName(raw);
        if (this.names.size < 2048) this.names.set(raw, name);
      }
      if (name === '') {
        if (raw.length === 12 && raw.toLowerCase() === 'content-type') {
          appendOrJoin(p, firstHeader, 'CONTENT_TYPE', value, ', ');
        }
        continue;
      }
      if (name === 'HTTP_HOST') host = checkHost(host, value);
      else if (name === 'HTTP_AUTHORIZATION') {
        // Two would give PHP_AUTH_USER from the first and REMOTE_USER from the last: nginx refuses them too.
        if (authorized) {
          throw new BadRequestError('the request has more than one Authorization header');
        }
        authorized = true;
        basicAuth(p, value);
      }
      appendOrJoin(p, firstHeader, name, value, name === 'HTTP_COOKIE' ? '; ' : ', ');
    }
    p.push(
      'SERVER_NAME',
      host === null || host === '' ? (req.serverName ?? req.serverAddress) : hostName(host),
    );
    if (req.extraParams !== undefined) for (const x of req.extraParams) p.push(x);
    for (const rule of this.rules) {
      let value = '';
      for (const part of rule.parts) value += typeof part === 'string' ? part : part(req);
      // HAProxy: a rule whose value comes out empty is ignored and the default stays.
      if (value !== '') setParam(p, rule.name, value);
    }
    return p;
  }

  private cgiName(raw: string): string {
    const lower = raw.toLowerCase();
    if (this.hidden.has(lower)) return '';
    // Only [A-Za-z0-9-]: `X_Foo` would collide with `X-Foo` as HTTP_X_FOO, and PHP folds `.` and ` ` to `_`
    // too (Caddy GHSA-49wc-4hcv-v58q); such headers are dropped, HAProxy's and nginx's default.
    for (let i = 0; i < raw.length; i++) {
      const c = raw.charCodeAt(i);
      const ok =
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d;
      if (!ok) return '';
    }
    return `HTTP_${raw.toUpperCase().replaceAll('-', '_')}`;
  }
}

/** Repeated headers become one param: php-fpm keeps only the last of a repeated name. */
function appendOrJoin(p: string[], from: number, name: string, value: string, sep: string): void {
  for (let i = from; i < p.length; i += 2) {
    if (p[i] === name) {
      p[i + 1] += sep + value;
      return;
    }
  }
  p.push(name, value);
}

function setParam(p: string[], name: string, value: string): void {
  for (let i = 0; i < p.length; i += 2) {
    if (p[i] === name) {
      p[i + 1] = value;
      return;
    }
  }
  p.push(name, value);
}

function basicAuth(p: string[], value: string): void {
  if (value.length < 7 || value.slice(0, 6).toLowerCase() !== 'basic ') return;
  // Bytes, as PHP decodes PHP_AUTH_USER from the same header: the two must name the same user.
  const decoded = Buffer.from(trimOws(value.slice(6)), 'base64').toString('latin1');
  const colon = decoded.indexOf(':');
  if (colon < 0) return;
  setParam(p, 'AUTH_TYPE', 'Basic');
  setParam(p, 'REMOTE_USER', decoded.slice(0, colon));
}

/**
 * Refuses a request with a second or invalid Host header ({@link checkHost}) before it is routed, so that
 * static files and redirects hold to RFC 9112 §3.2 as PHP requests do.
 */
export function checkHostHeaders(headers: readonly string[]): void {
  let host: string | null = null;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') host = checkHost(host, headers[i + 1]!);
  }
}

/**
 * The one Host header, checked as nginx's ngx_http_validate_host does: SERVER_NAME comes from it, and apps
 * build absolute URLs (password-reset links) with it. RFC 9112 §3.2: a second Host, or an invalid one, is 400.
 */
function checkHost(previous: string | null, host: string): string {
  if (previous !== null) {
    throw new BadRequestError(
      'the request has more than one Host header; HTTP/1.1 allows one (RFC 9112 §3.2)',
    );
  }
  if (!isHostName(host)) {
    throw new BadRequestError(
      `Host header "${printable(host.slice(0, 80))}" is not a host name: "/", "\\", "..", spaces and control characters are refused`,
    );
  }
  return host;
}

/** Whether a Host value (name or address, with or without its port) is free of what makes it a path. */
export function isHostName(host: string): boolean {
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (
      c <= 0x20 ||
      c === 0x7f ||
      c === 0x2f /* / */ ||
      c === 0x5c /* \ */ ||
      (c === 0x2e && host.charCodeAt(i + 1) === 0x2e)
    ) {
      return false;
    }
  }
  return true;
}

/** Host header without its port; `[::1]:8080` → `[::1]`. */
export function hostName(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end > 0 ? host.slice(0, end + 1) : host;
  }
  const colon = host.indexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}

/**
 * Compiles a `setParams` rule. Placeholders, after HAProxy's sample fetches: `%[req.hdr(Name)]`, `%[src]`,
 * `%[src_port]`, `%[method]`, `%[path]`, `%[query]`, `%[url]`.
 */
export function compileSetParam(rule: SetParam): CompiledParam {
  const { name, value } = rule;
  if (!NAME_RE.test(name)) {
    throw new ConfigError(
      `invalid "setParams" name "${name}" — expected letters, digits and "_", e.g. APP_ENV`,
    );
  }
  if (name === 'REQUEST_BODY_FILE') {
    throw new ConfigError(
      `"setParams" may not set REQUEST_BODY_FILE: it makes php-fpm read the body from any file`,
    );
  }
  const parts: Part[] = [];
  let last = 0;
  for (const m of value.matchAll(PLACEHOLDER_RE)) {
    if (m.index > last) parts.push(byteString(value.slice(last, m.index)));
    parts.push(placeholder(m[1]!, m[2], name));
    last = m.index + m[0].length;
  }
  if (last < value.length) parts.push(byteString(value.slice(last)));
  if (INI_PARAMS.has(name) && parts.some((x) => typeof x !== 'string')) {
    throw new ConfigError(
      `"setParams" ${name} may not use placeholders: request data in it would let clients change php.ini settings`,
    );
  }
  return { name, parts };
}

function placeholder(fetch: string, arg: string | undefined, param: string): (req: ProxyRequest) => string {
  switch (fetch) {
    case 'req.hdr': {
      if (arg === undefined || arg === '') break;
      const wanted = arg.toLowerCase();
      return (req) => {
        const h = req.headers;
        for (let i = 0; i < h.length; i += 2)
          if (h[i]!.toLowerCase() === wanted) return stripControls(h[i + 1]!);
        return '';
      };
    }
    case 'src':
      return (req) => req.remoteAddress;
    case 'src_port':
      return (req) => (req.remotePort === null ? '' : String(req.remotePort));
    case 'method':
      return (req) => req.method;
    case 'path':
      return (req) => req.path;
    case 'query':
      return (req) => req.query;
    case 'url':
      return (req) => req.uri;
  }
  throw new ConfigError(
    `unknown placeholder "%[${fetch}${arg === undefined ? '' : `(${arg})`}]" in "setParams" ${param} — use req.hdr(Name), src, src_port, method, path, query or url`,
  );
}

function stripControls(s: string): string {
  return /[\x00-\x1f\x7f]/.test(s) ? s.replace(/[\x00-\x1f\x7f]/g, '') : s;
}
