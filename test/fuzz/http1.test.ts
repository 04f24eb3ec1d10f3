// Property: the HTTP/1.1 front's own parsing reads what a client sends one way only. A chunked body, cut
// however the network cuts it, decodes to the same bytes and ends at the same byte, or fails with
// BadRequestError; a request head parses to what was sent or throws a client error, and a head whose
// framing two parsers could read differently (request smuggling) is always refused.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  BadRequestError,
  ExpectationFailedError,
  HttpVersionError,
  NotImplementedError,
} from '../../proxy/errors.ts';
import { ChunkedDecoder } from '../../server/http1/chunked.ts';
import { parseRequestHead } from '../../server/http1/head.ts';
import { cut, cuts, fuzz } from '../support/fuzz.ts';

/** What came out: the body bytes delivered, where the body ended in the whole input (-1: not yet), the error. */
type Decoded = { body: Buffer; end: number; error: unknown };

/** Pushes the pieces as the connection does, none once the body has ended. */
function dechunk(chunks: readonly Buffer[], maxTrailerSize: number): Decoded {
  const decoder = new ChunkedDecoder(maxTrailerSize);
  const body: Buffer[] = [];
  const out = (end: number, error: unknown): Decoded => ({ body: Buffer.concat(body), end, error });
  let offset = 0;
  try {
    for (const c of chunks) {
      // Pieces are slices of the caller's chunk: copy, as a real consumer must.
      const at = decoder.push(c, (piece) => body.push(Buffer.from(piece)));
      if (at > c.length) throw new RangeError(`end ${at} past a piece of ${c.length}`);
      if (at >= 0) return out(offset + at, null);
      offset += c.length;
    }
  } catch (err) {
    return out(-1, err);
  }
  return out(-1, null);
}

/**
 * Whitespace to String.prototype.trim or to \s, but not to HTTP (only SP and HTAB are, RFC 9110 §5.6.3), as
 * the bytes a client sends: NBSP, NEL, VT, FF and FS one byte each (read as latin1), NBSP, U+2000, U+3000 and
 * the BOM in UTF-8.
 */
const NOT_OWS = '\xa0|\x85|\x0b|\x0c|\x1c|\xc2\xa0|\xe2\x80\x80|\xe3\x80\x80|\xef\xbb\xbf'.split('|');

const latin1 = (min: number, max: number) => fc.integer({ min, max }).map((c) => String.fromCharCode(c));
const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));
const CRLF = Buffer.from('\r\n');
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const token = fc.stringMatching(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,12}$/);
/** Visible ASCII, space, obs-text: what a chunk extension or a trailer field may hold. */
const visible = (max: number) =>
  fc.string({ unit: fc.oneof(latin1(0x20, 0x7e), latin1(0x80, 0xff)), maxLength: max });

const extension = fc.oneof(
  fc.constantFrom('', ';a=b', ';foo', ' ;x="y z"', '\t;q=1', ';\xff=\x80'),
  fc.tuple(token, fc.option(token)).map(([n, v]) => (v === null ? `;${n}` : `;${n}=${v}`)),
);
/** One chunk: its size line (either hex case, leading zeros, an extension) and its data. */
const chunk = fc
  .tuple(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.boolean(), fc.nat(3), extension)
  .map(([data, upper, zeros, ext]) => {
    const hex = '0'.repeat(zeros) + data.length.toString(16);
    return [Buffer.from(`${upper ? hex.toUpperCase() : hex}${ext}\r\n`, 'latin1'), Buffer.from(data)];
  });

/** A body and its chunked coding: random chunk sizes, the last chunk (`0`, `000`…), trailer fields. */
const chunked = fc
  .tuple(fc.array(chunk, { maxLength: 12 }), fc.nat(3), extension, fc.array(fc.tuple(token, visible(20))))
  .map(([chunks, zeros, ext, trailers]) => {
    const tail = `${'0'.repeat(zeros + 1)}${ext}\r\n${trailers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
    const encoded = [...chunks.flatMap(([line, data]) => [line, data, CRLF]), Buffer.from(tail, 'latin1')];
    return { body: Buffer.concat(chunks.map(([, data]) => data)), encoded: Buffer.concat(encoded) };
  });

/** Pieces of chunked syntax; 14 digits are one too many for a size, `1;eee…` a size line over 4096 bytes. */
const CHUNK_SYNTAX = [
  ...'0|1|a|F|ff|;|=| |\t|\r|\n|\r\n|\0|\x7f|0\r\n\r\n|X: y\r\n|11111111111111'.split('|'),
  ...NOT_OWS,
  `1;${'e'.repeat(4100)}`,
];
/** Near-chunked bytes: chunked codings with one byte changed, pieces of chunked syntax strung together, noise. */
const chunkish = fc.oneof(
  bytes(200),
  {
    weight: 2,
    arbitrary: fc.tuple(chunked, fc.nat(), fc.nat(255)).map(([{ encoded }, at, byte]) => {
      const copy = Buffer.from(encoded);
      copy[at % copy.length] = byte;
      return copy;
    }),
  },
  fc
    .array(fc.oneof(fc.constantFrom(...CHUNK_SYNTAX), visible(6)), { maxLength: 30 })
    .map((parts) => Buffer.from(parts.join(''), 'latin1')),
);
/** Where the digits of each chunk size (the last chunk's too) end in a well-formed chunked coding. */
function sizeEnds(encoded: Buffer): number[] {
  const ends: number[] = [];
  let at = 0;
  for (;;) {
    let end = at;
    while (/[0-9a-fA-F]/.test(String.fromCharCode(encoded[end]!))) end++;
    ends.push(end);
    const size = Number.parseInt(encoded.toString('latin1', at, end), 16);
    if (size === 0) return ends;
    at = encoded.indexOf('\r\n', end) + 2 + size + 2;
  }
}

/** A small trailer limit now and then, so the size check meets every shape of input too. */
const maxTrailer = fc.oneof(fc.nat(40), fc.constant(8192));

describe('ChunkedDecoder on chunked bodies (fast-check)', () => {
  it('returns exactly the body and its end, leaving what follows, however the bytes are cut', () => {
    fc.assert(
      fc.property(chunked, bytes(32), cuts, ({ body, encoded }, suffix, at) => {
        const out = dechunk(cut(Buffer.concat([encoded, suffix]), at), 8192);
        assert.equal(out.error, null);
        assert.deepEqual(out.body, body);
        assert.equal(out.end, encoded.length);
      }),
      fuzz(1500),
    );
  });

  it('decodes arbitrary bytes or throws BadRequestError, and the same way for every cutting', () => {
    fc.assert(
      fc.property(chunkish, cuts, maxTrailer, (wire, at, max) => {
        const whole = dechunk([wire], max);
        const pieces = dechunk(cut(wire, at), max);
        if (pieces.error !== null) {
          assert.ok(pieces.error instanceof BadRequestError, `threw ${String(pieces.error)}`);
          assert.equal(pieces.error.code, 'FPM_BRIDGE_ERR_BAD_REQUEST');
          assert.match(pieces.error.message, /^malformed chunked request body: /);
        }
        assert.deepEqual(pieces.body, whole.body);
        assert.equal(pieces.end, whole.end);
        assert.equal(String(pieces.error), String(whole.error));
      }),
      fuzz(3000),
    );
  });

  it('refuses a chunk size followed by anything but SP, HTAB, ";" or CRLF, such as a Unicode space', () => {
    fc.assert(
      fc.property(chunked, fc.nat(), fc.constantFrom(...NOT_OWS), cuts, ({ encoded }, at, space, pieces) => {
        const ends = sizeEnds(encoded);
        const i = ends[at % ends.length]!;
        const text = encoded.toString('latin1');
        const wire = Buffer.from(text.slice(0, i) + space + text.slice(i), 'latin1');
        const out = dechunk(cut(wire, pieces), 8192);
        assert.ok(out.error instanceof BadRequestError, `${JSON.stringify(space)}: ${String(out.error)}`);
      }),
      fuzz(1000),
    );
  });
});

/** A request head as generated: header values as sent, optional whitespace around them included. */
interface Head {
  line: [method: string, target: string, minor: number];
  headers: [string, string][];
  contentLength: number | null;
  chunked: boolean;
}

const render = ({ line: [method, target, minor], headers }: Head) =>
  `${method} ${target} HTTP/1.${minor}${headers.map(([n, v]) => `\r\n${n}:${v}`).join('')}`;
const trim = (v: string) => v.replace(/^[ \t]+|[ \t]+$/g, '');
const ows = fc.string({ unit: fc.constantFrom(' ', '\t'), maxLength: 2 });
/** A field value: visible characters, space, tab, obs-text; surrounded by optional whitespace. */
const fieldChar = fc.oneof(latin1(0x20, 0x7e), latin1(0x80, 0xff), fc.constant('\t'));
const value = fc.tuple(ows, fc.string({ unit: fieldChar, maxLength: 30 }), ows).map((v) => v.join(''));
/** Names the parser looks at are left to the framing below, so the expected reading stays simple. */
const other = token.filter((n) => !/^(host|content-length|transfer-encoding|expect|connection)$/i.test(n));
const anyCase = (name: string) => fc.mixedCase(fc.constant(name));

/** Content-Length (leading zeros allowed), chunked (HTTP/1.1 only), or neither: each name in any case. */
const framing = fc.oneof(
  fc.constant(null),
  fc
    .tuple(anyCase('content-length'), fc.maxSafeNat(), fc.nat(2))
    .map(([n, length, zeros]) => ({ header: [n, ` ${'0'.repeat(zeros)}${length}`] as const, length })),
  anyCase('transfer-encoding').map((n) => ({ header: [n, ' Chunked '] as const, length: null })),
);

const head = fc
  .tuple(
    fc.tuple(token, fc.string({ unit: latin1(0x21, 0x7e), minLength: 1, maxLength: 40 }), fc.nat(1)),
    fc.array(fc.tuple(other, value), { maxLength: 8 }),
    fc.tuple(anyCase('host'), value),
    framing,
    fc.tuple(fc.nat(), fc.nat()),
  )
  .map(([line, others, host, framing, at]): Head => {
    const headers = [...others];
    headers.splice(at[0] % (headers.length + 1), 0, host);
    // Transfer-Encoding is refused in HTTP/1.0 (RFC 9112 §6.1): such a head goes without framing.
    const f = framing?.length === null && line[2] === 0 ? null : framing;
    if (f !== null) headers.splice(at[1] % (headers.length + 1), 0, [...f.header]);
    return { line, headers, contentLength: f?.length ?? null, chunked: f !== null && f.length === null };
  });

const HEAD_SYNTAX = [
  ...' |/|:|\t|\r|\n|\0|\r\n|, |GET / HTTP/1.1|POST|HTTP/1.0|HTTP/2.0|Host: a|chunked|gzip'.split('|'),
  ...NOT_OWS,
  ...'\r\nContent-Length: 5|\r\nTransfer-Encoding: |9999999999999999|\r\nExpect: 100-continue'.split('|'),
  ...'\r\nExpect: x|\r\nConnection: close|\r\nTransfer-Encoding: gzip, chunked'.split('|'),
];
const headPiece = fc.oneof(fc.constantFrom(...HEAD_SYNTAX), visible(8));
/** Head-ish text: random latin1, pieces of heads strung together, well-formed heads with a character changed. */
const headish = fc.oneof(
  bytes(200).map((b) => b.toString('latin1')),
  // Mostly after a request line that parses, so the header lines are what is tried.
  fc
    .tuple(
      fc.constantFrom('GET / HTTP/1.1\r\nHost: a', 'POST /x HTTP/1.0\r\nX: ', 'GET * HTTP/2.0', ''),
      fc.array(headPiece, { maxLength: 24 }),
    )
    .map(([line, pieces]) => line + pieces.join('')),
  fc.tuple(head, fc.nat(), latin1(0, 255)).map(([h, at, c]) => {
    const text = render(h);
    const i = at % text.length;
    return text.slice(0, i) + c + text.slice(i + 1);
  }),
);

const KINDS = 'second-length length-and-coding chunked-not-last bad-length fold colon ctl space'.split(' ');
/** One ambiguity, injected at a random header (`at`), at a random place (`pos`). */
const ambiguity = fc.record({
  kind: fc.constantFrom(...KINDS),
  at: fc.nat(),
  pos: fc.nat(),
  ws: fc.constantFrom(' ', '\t'),
  bare: fc.constantFrom('\r', '\n', '\0'),
  // A bare control character alone, or one that starts a framing header for a lenient parser.
  smuggled: fc.constantFrom('', 'Content-Length: 0', 'Transfer-Encoding: chunked'),
  bad: fc.constantFrom('', '+1', '1 1', '0x1', '1,1', '-0', '1.0', '99999999999999999'),
  coding: fc.constantFrom('chunked, gzip', 'gzip', 'identity', 'chunked;q=1'),
  space: fc.constantFrom(...NOT_OWS),
  /** The space goes before the framing value rather than after it; after it, a comma may come first. */
  before: fc.boolean(),
  comma: fc.boolean(),
});
type Ambiguity = typeof ambiguity extends fc.Arbitrary<infer T> ? T : never;

function inject(h: Head, a: Ambiguity): string {
  const headers = [...h.headers];
  const i = a.at % headers.length;
  const [name, val] = headers[i]!;
  const p = a.pos % (val.length + 1);
  if (a.kind === 'fold') headers[i] = [a.ws + name, val];
  else if (a.kind === 'colon') headers[i] = [name + a.ws, val];
  else if (a.kind === 'ctl') headers[i] = [name, val.slice(0, p) + a.bare + a.smuggled + val.slice(p)];
  else if (a.kind === 'bad-length') headers.splice(i, 0, ['Content-Length', ` ${a.bad}`]);
  // Chunked not last: the body's end is unknown. Pushed last, so after any chunked.
  else if (a.kind === 'chunked-not-last') headers.push(['Transfer-Encoding', ` ${a.coding}`]);
  else if (a.kind === 'space') {
    // A Unicode space beside the framing value, inside the OWS around it: "5\xa0", " \xa0Chunked", "chunked,\xa0".
    const at = headers.findIndex(([n]) => /^(content-length|transfer-encoding)$/i.test(n));
    const [n, v] = at < 0 ? ['Transfer-Encoding', ' chunked '] : headers[at]!;
    const word = trim(v);
    const from = v.indexOf(word);
    const spaced = a.before ? a.space + word : `${word}${a.comma ? ',' : ''}${a.space}`;
    const value = v.slice(0, from) + spaced + v.slice(from + word.length);
    if (at < 0) headers.push([n, value]);
    else headers[at] = [n, value];
  } else if (a.kind === 'second-length') {
    // Even with the same value: one Content-Length only.
    headers.splice(i, 0, ['content-length', ` ${h.contentLength ?? 7}`]);
    if (h.contentLength === null) headers.push(['Content-Length', '7']);
  } else {
    if (h.contentLength === null) headers.splice(i, 0, ['Content-Length', ' 0']);
    if (!h.chunked) headers.splice(a.pos % (headers.length + 1), 0, ['Transfer-Encoding', ' chunked']);
  }
  return render({ ...h, headers });
}

/** What the parser may throw: a client error the front answers with its status, nothing else. */
const ANSWERS = [BadRequestError, HttpVersionError, ExpectationFailedError, NotImplementedError];

describe('parseRequestHead on request heads (fast-check)', () => {
  it('reads a well-formed head as sent: method, target, version, headers (values trimmed), framing', () => {
    fc.assert(
      fc.property(head, (h) => {
        const [method, target, minor] = h.line;
        const rawHeaders = h.headers.flatMap(([n, v]) => [n, trim(v)]);
        const { contentLength, chunked } = h;
        const expected = { method, target, minor, rawHeaders, contentLength, chunked };
        const parsed = parseRequestHead(render(h));
        assert.deepEqual(parsed, { ...expected, keepAlive: minor === 1, expectContinue: false });
      }),
      fuzz(1500),
    );
  });

  it('parses arbitrary text to a sound head or throws a client error, never anything else', () => {
    fc.assert(
      fc.property(headish, (text) => {
        let parsed: ReturnType<typeof parseRequestHead>;
        try {
          parsed = parseRequestHead(text);
        } catch (err) {
          const known = ANSWERS.some((E) => err instanceof E);
          assert.ok(known, `threw ${String(err)}`);
          return;
        }
        assert.match(parsed.method, TOKEN);
        assert.ok(!/[\0-\x20\x7f]/.test(parsed.target));
        assert.equal(parsed.rawHeaders.length % 2, 0);
        for (let i = 0; i < parsed.rawHeaders.length; i += 2) {
          assert.match(parsed.rawHeaders[i]!, TOKEN);
          const v = parsed.rawHeaders[i + 1]!;
          assert.ok(!/[\0-\x08\x0a-\x1f\x7f]/.test(v) && v === trim(v), JSON.stringify(v));
        }
        assert.ok(!(parsed.chunked && parsed.contentLength !== null));
        // Framing is read from what is between SP and HTAB only: no other space was taken for whitespace.
        const values = (name: string) =>
          parsed.rawHeaders.filter((_, i) => i % 2 === 1 && parsed.rawHeaders[i - 1]!.toLowerCase() === name);
        if (parsed.chunked) {
          const codings = values('transfer-encoding').flatMap((v) => v.split(',').map(trim));
          assert.deepEqual(
            codings.filter((c) => c !== '').map((c) => c.toLowerCase()),
            ['chunked'],
          );
        }
        if (parsed.contentLength !== null) assert.match(values('content-length')[0]!, /^[0-9]+$/);
      }),
      fuzz(3000),
    );
  });

  it('refuses, with BadRequestError, any head whose framing is ambiguous', () => {
    fc.assert(
      fc.property(head, ambiguity, (h, a) => {
        const text = inject(h, a);
        assert.throws(() => parseRequestHead(text), BadRequestError, JSON.stringify(text));
      }),
      fuzz(2000),
    );
  });
});
