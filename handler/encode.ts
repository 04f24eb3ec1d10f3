import type { CgiHead } from '../proxy/cgi/response.ts';
import {
  headerField,
  headerValue,
  headerValues,
  listItems,
  trimOws,
  withoutHeader,
} from '../proxy/header-fields.ts';
import { bodiless } from '../proxy/status.ts';
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

// ignoreBOM: a leading byte-order mark is content (CSV for Excel), kept byte for byte, not stripped.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

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
    const type = trimOws(semi < 0 ? contentType : contentType.slice(0, semi)).toLowerCase();
    if (this.exact.has(type)) return true;
    for (const p of this.prefixes) if (type.startsWith(p)) return true;
    for (const s of this.suffixes) if (type.endsWith(s)) return true;
    return false;
  }
}

/** `response` as it goes out: its body dropped when {@link bodiless} (fpm-bridge's own answers to HEAD). */
export function withoutBodyIf(response: EncodedResponse, head: boolean): EncodedResponse {
  if (response.body === '' || !bodiless(head, response.status)) return response;
  return { ...response, body: '', isBase64Encoded: false };
}

/**
 * PHP's head without a Content-Length that is not its body's length (a wrong or repeated header), and what was
 * wrong, or null. The event source frames the body itself, so the client gets every byte PHP sent — where a
 * wrong length passed on could leave it waiting for bytes that never come. HEAD, 204 and 304 keep theirs:
 * there it describes the GET's body.
 */
export function withoutWrongLength(
  head: CgiHead,
  length: number,
  isHead: boolean,
): { head: CgiHead; wrong: string | null } {
  if (bodiless(isHead, head.status)) return { head, wrong: null };
  const declared = headerValues(head.headers, 'content-length');
  if (declared.length === 0 || (declared.length === 1 && declared[0] === String(length))) {
    return { head, wrong: null };
  }
  return {
    head: { ...head, headers: withoutHeader(head.headers, 'content-length') },
    wrong: `PHP's body is ${length} bytes but it sent "Content-Length: ${declared.join(', ')}"; the header was dropped`,
  };
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
 * At least the size in bytes of any event source's result for `r` as JSON, without serializing it: a
 * character of a string takes at most 6 bytes in JSON (`\u001f`; one outside the BMP is two characters and
 * 4 bytes of UTF-8), a header's quotes, colon, comma and brackets fewer than 6 characters' worth, and the
 * rest of a result (status, keys, flags) under 256 bytes.
 */
export function jsonSizeBound(r: EncodedResponse): number {
  let chars = r.body.length + r.statusText.length;
  for (const s of r.headers) chars += s.length + 6;
  return 6 * chars + 256;
}

/**
 * Compresses the body with the best encoding the client accepts (br, then gzip) and returns the response
 * with Content-Encoding set, Content-Length dropped and Vary naming Accept-Encoding, or null when the client
 * accepts neither or PHP already encoded the body.
 */
export async function compressResponse(
  head: CgiHead,
  body: Buffer,
  acceptEncoding: string,
): Promise<(CgiHead & { body: Buffer }) | null> {
  if (headerValue(head.headers, 'content-encoding') !== undefined) return null;
  const encoding = preferredEncoding(acceptEncoding);
  if (encoding === null) return null;
  // Loaded on first use: most responses never need it, and a cold start should not pay for it.
  const zlib = await import('node:zlib');
  const compressed =
    encoding === 'br'
      ? zlib.brotliCompressSync(body, {
          params: {
            [zlib.constants.BROTLI_PARAM_QUALITY]: 5,
            [zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.length,
          },
        })
      : zlib.gzipSync(body, { level: 6 });
  const headers = withoutHeader(head.headers, 'content-length');
  headers.push('Content-Encoding', encoding);
  // Once: PHP may vary on Accept-Encoding already, or on everything (`*`).
  const varies = listItems(headerField(head.headers, 'vary')?.toLowerCase());
  if (!varies.includes('accept-encoding') && !varies.includes('*')) headers.push('Vary', 'Accept-Encoding');
  return { status: head.status, statusText: head.statusText, headers, body: compressed };
}

/** A weight (RFC 9110 §12.4.2): q=0 to q=1 with at most three decimals. */
const QVALUE = /^q=(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/**
 * The coding to compress with for an Accept-Encoding (RFC 9110 §12.5.3): br or gzip (`x-gzip` is gzip),
 * whichever has the higher q-value, br on a tie; `*` stands for those not named; q=0 refuses. Null when
 * the client takes neither.
 */
export function preferredEncoding(header: string): 'br' | 'gzip' | null {
  const q = new Map<string, number>();
  for (const part of listItems(header.toLowerCase())) {
    const [coding, ...params] = part.split(';');
    const token = trimOws(coding!);
    if (token === '') continue;
    const weight = params.map(trimOws).find((p) => p.startsWith('q='));
    // A weight that is no qvalue (RFC 9110 §12.4.2) refuses, rather than reading "q=0x1" as 1.
    const value = weight === undefined ? 1 : QVALUE.test(weight) ? Number(weight.slice(2)) : 0;
    q.set(token === 'x-gzip' ? 'gzip' : token, value);
  }
  const any = q.get('*') ?? 0;
  const br = q.get('br') ?? any;
  const gzip = q.get('gzip') ?? any;
  if (br <= 0 && gzip <= 0) return null;
  return br >= gzip ? 'br' : 'gzip';
}
