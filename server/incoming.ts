import { checkHostHeaders } from '../proxy/cgi/params.ts';
import type { ProxyRequest } from '../proxy/cgi/request.ts';
import { BadRequestError } from '../proxy/errors.ts';
import { withoutHeader } from '../proxy/header-fields.ts';
import type { TrustedProxies } from './forwarded.ts';
import type { FrontRequest } from './http1/exchange.ts';

/** Methods whose requests carry a body by convention: CONTENT_LENGTH=0 is sent even when it is empty. */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/**
 * Turns a front request into the core's {@link ProxyRequest}. `contentLength` is the Content-Length header;
 * for a chunked body the caller sets it once the body is read whole.
 */
export function incomingToRequest(
  req: FrontRequest,
  proxies: TrustedProxies,
  trustForwardedHost: boolean,
): ProxyRequest {
  let target = req.url;
  let authority = '';
  // Absolute-form (`GET http://host/x.php`): PHP sees only the path, as HAProxy does (fb38c910f), and the
  // URL's host stands for the Host header (RFC 9112 §3.2.2).
  if (target.charCodeAt(0) !== 0x2f) {
    const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)/.exec(target);
    if (m === null)
      throw new BadRequestError(
        `request target "${target.slice(0, 80)}" is neither a path nor an absolute URL`,
      );
    authority = m[1]!.slice(m[1]!.lastIndexOf('@') + 1);
    target = target.slice(m[0].length);
    if (target === '' || target.charCodeAt(0) === 0x3f) target = `/${target}`;
  }
  const q = target.indexOf('?');
  const socket = req.socket;
  let contentLength = req.contentLength;
  if (contentLength === null && BODY_METHODS.has(req.method)) contentLength = 0;
  const peer = socket.remoteAddress ?? '';
  const forwarded = proxies.resolve(peer, (name) => req.header(name));
  // The target and the headers stay byte strings, as the head was read: PARAMS carry them byte for byte.
  let headers: readonly string[] = req.rawHeaders;
  const replacement =
    forwarded !== null && trustForwardedHost && forwarded.host !== null ? forwarded.host : authority;
  if (replacement !== '') {
    // The Host headers being replaced must still be valid ones: two Hosts are a 400 whatever stands in.
    checkHostHeaders(headers);
    headers = withHost(headers, replacement);
  }
  return {
    method: req.method,
    uri: target,
    path: q < 0 ? target : target.slice(0, q),
    query: q < 0 ? '' : target.slice(q + 1),
    headers,
    protocol: `HTTP/${req.httpVersion}`,
    https: forwarded?.https ?? false,
    remoteAddress: forwarded?.remoteAddress ?? peer,
    remotePort: forwarded === null ? (socket.remotePort ?? 0) : null,
    serverAddress: socket.localAddress ?? '',
    serverPort: forwarded?.port ?? socket.localPort ?? 0,
    contentLength,
  };
}

/** The headers with Host replaced (X-Forwarded-Host from a trusted proxy). */
function withHost(raw: readonly string[], host: string): string[] {
  const out = withoutHeader(raw, 'host');
  out.push('Host', host);
  return out;
}
