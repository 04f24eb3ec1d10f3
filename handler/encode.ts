import { type CgiHead, headerValue } from '../proxy/cgi/response.ts';
import type { EncodedResponse } from './adapter.ts';

export interface EncodeOptions {
  /** Content types returned as text: exact (`application/json`) or wildcards (`text/*`, `application/*+json`). */
  textTypes: readonly string[];
  /** The client's Accept-Encoding. */
  acceptEncoding: string;
  /** Compress when the response would not fit otherwise. */
  compress: boolean;
  /** HEAD: headers only. */
  head: boolean;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Matches content types against `textTypes` patterns; built once per configuration. */
export class TextTypes {
  private readonly exact = new Set<string>();
  private readonly prefixes: string[] = [];
  private readonly suffixes: string[] = [];

  constructor(patterns: readonly string[]) {
    for (const p of patterns) {
      const lower = p.toLowerCase();
      if (lower.endsWith('/*')) this.prefixes.push(lower.slice(0, -1));
      else if (lower.includes('/*+')) this.suffixes.push(lower.slice(lower.indexOf('/*+') + 2));
      else this.exact.add(lower);
    }
  }

  has(contentType: string): boolean {
    const semi = contentType.indexOf(';');
    const type = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
    if (this.exact.has(type)) return true;
    for (const p of this.prefixes) if (type.startsWith(p)) return true;
    for (const s of this.suffixes) if (type.endsWith(s)) return true;
    return false;
  }
}

/** Whether a response goes out without a body: to HEAD, and 1xx, 204 and 304 (RFC 9110 §6.4.1). */
export function bodiless(head: boolean, status: number): boolean {
  return head || status === 204 || status === 304 || (status >= 100 && status < 200);
}

/** `response` as it goes out: its body dropped when {@link bodiless} (fpm-bridge's own answers to HEAD). */
export function withoutBodyIf(response: EncodedResponse, head: boolean): EncodedResponse {
  if (response.body === '' || !bodiless(head, response.status)) return response;
  return { ...response, body: '', isBase64Encoded: false };
}

/**
 * Turns PHP's response into what a Lambda event source carries: text stays text when its type is a text
 * type and its bytes are valid UTF-8 (so nothing is mangled), everything else is base64 — images, PDFs,
 * fonts, archives, and any type the configuration does not call text.
 */
export function encodeResponse(
  head: CgiHead,
  body: Buffer,
  types: TextTypes,
  options: EncodeOptions,
): EncodedResponse {
  const bytes = bodiless(options.head, head.status) ? Buffer.alloc(0) : body;
  const contentType = headerValue(head.headers, 'content-type');
  if (bytes.length === 0) {
    return {
      status: head.status,
      statusText: head.statusText,
      headers: head.headers,
      body: '',
      isBase64Encoded: false,
    };
  }
  // Compressed bytes are never text, whatever the type says.
  if (
    contentType !== undefined &&
    types.has(contentType) &&
    headerValue(head.headers, 'content-encoding') === undefined
  ) {
    try {
      return {
        status: head.status,
        statusText: head.statusText,
        headers: head.headers,
        body: utf8.decode(bytes),
        isBase64Encoded: false,
      };
    } catch {
      // Declared text but not UTF-8 (e.g. ISO-8859-1): base64 keeps it byte-exact.
    }
  }
  return {
    status: head.status,
    statusText: head.statusText,
    headers: head.headers,
    body: bytes.toString('base64'),
    isBase64Encoded: true,
  };
}

/**
 * Compresses the body with the best encoding the client accepts (br, then gzip) and returns the response
 * with Content-Encoding set and Content-Length dropped, or null when the client accepts neither or PHP
 * already encoded the body.
 */
export async function compressResponse(
  head: CgiHead,
  body: Buffer,
  acceptEncoding: string,
): Promise<(CgiHead & { body: Buffer }) | null> {
  if (headerValue(head.headers, 'content-encoding') !== undefined) return null;
  const accepted = acceptedEncodings(acceptEncoding);
  if (!accepted.has('br') && !accepted.has('gzip')) return null;
  // Loaded on first use: most responses never need it, and a cold start should not pay for it.
  const zlib = await import('node:zlib');
  let encoding: 'br' | 'gzip';
  let compressed: Buffer;
  if (accepted.has('br')) {
    encoding = 'br';
    compressed = zlib.brotliCompressSync(body, {
      params: {
        [zlib.constants.BROTLI_PARAM_QUALITY]: 5,
        [zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.length,
      },
    });
  } else {
    encoding = 'gzip';
    compressed = zlib.gzipSync(body, { level: 6 });
  }
  const headers: string[] = [];
  for (let i = 0; i < head.headers.length; i += 2) {
    const lower = head.headers[i]!.toLowerCase();
    if (lower !== 'content-length') headers.push(head.headers[i]!, head.headers[i + 1]!);
  }
  headers.push('Content-Encoding', encoding, 'Vary', 'Accept-Encoding');
  return { status: head.status, statusText: head.statusText, headers, body: compressed };
}

function acceptedEncodings(header: string): Set<string> {
  const out = new Set<string>();
  for (const part of header.split(',')) {
    const [token, ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    if (token !== undefined && token !== '' && (q === undefined || Number(q.slice(2)) > 0)) out.add(token);
  }
  return out;
}
