// Property: whatever header block PHP writes, cut however php-fpm's STDOUT records cut it, CgiHeadParser
// yields a head a front can send as is, or throws BadResponseError (502); and the same for every cutting.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type CgiHead, CgiHeadParser } from '../../proxy/cgi/response.ts';
import { BadResponseError } from '../../proxy/errors.ts';
import { cut, cuts, fuzz } from '../support/fuzz.ts';

interface Parsed {
  head: CgiHead | null;
  /** Everything after the head: what push returned, then the later chunks. */
  body: Buffer;
  error: unknown;
}

function parse(chunks: readonly Buffer[], maxSize: number | undefined): Parsed {
  const parser = new CgiHeadParser(maxSize);
  const body: Buffer[] = [];
  try {
    for (const c of chunks) {
      if (parser.head !== null) body.push(c);
      else {
        const rest = parser.push(c);
        if (rest !== null) body.push(rest);
      }
    }
  } catch (err) {
    return { head: null, body: Buffer.alloc(0), error: err };
  }
  return { head: parser.head, body: Buffer.concat(body), error: null };
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const EOL = fc.constantFrom('\n', '\r\n');
const text = (max: number) => fc.string({ unit: 'binary-ascii', maxLength: max });

/** One header line as PHP might write it: mostly well-formed, sometimes not at all. */
const line = fc.oneof(
  fc
    .tuple(
      fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,20}$/),
      fc.constantFrom(': ', ':', ':\t', ' : '),
      text(40),
    )
    .map(([n, sep, v]) => `${n}${sep}${v}`),
  fc
    .tuple(
      fc.constantFrom('Status', 'status', 'STATUS'),
      text(3),
      fc.oneof(fc.integer({ min: 0, max: 1200 }).map(String), text(8)),
      text(20),
    )
    .map(([n, sp, code, reason]) => `${n}:${sp}${code} ${reason}`),
  fc.constantFrom(
    'Location: /next',
    'Set-Cookie: a=1',
    'Set-Cookie: b=2',
    'Transfer-Encoding: chunked',
    ' folded',
    '\tfolded',
    'no colon',
    ': no name',
    'X-Ctl: a\x00b',
    'X-Del: a\x7fb',
  ),
  text(30),
);

const block = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.array(fc.tuple(line, EOL), { maxLength: 10 }), EOL, text(40))
      .map(([lines, end, body]) =>
        Buffer.from(`${lines.map(([l, e]) => l + e).join('')}${end}${body}`, 'latin1'),
      ),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)) },
);

/** A small limit now and then, so the size check meets every shape of input too. */
const maxSize = fc.option(fc.integer({ min: 1, max: 300 }), { nil: undefined });

describe('CgiHeadParser on arbitrary header blocks (fast-check)', () => {
  it('yields a head a front can send as is, or throws BadResponseError', () => {
    fc.assert(
      fc.property(block, cuts, maxSize, (bytes, at, max) => {
        const { head, body, error } = parse(cut(bytes, at), max);
        if (error !== null) {
          assert.ok(error instanceof BadResponseError, `threw ${String(error)}`);
          assert.equal(error.code, 'FPM_BRIDGE_ERR_BAD_RESPONSE');
          return;
        }
        if (head === null) return; // the head never ended: the caller reports that when STDOUT ends
        // Regression: a 1xx went out as the final status, and the client waited for another response.
        assert.ok(
          Number.isInteger(head.status) && head.status >= 200 && head.status <= 999,
          `status ${head.status}`,
        );
        assert.ok(!/[\r\n]/.test(head.statusText));
        assert.equal(head.headers.length % 2, 0);
        for (let i = 0; i < head.headers.length; i += 2) {
          const name: string = head.headers[i]!;
          const value: string = head.headers[i + 1]!;
          assert.match(name, TOKEN);
          assert.ok(!/^(status|transfer-encoding)$/i.test(name), `${name} passed on`);
          assert.ok(!/[\x00-\x08\x0a-\x1f\x7f]/.test(value), `control character in ${JSON.stringify(value)}`);
          assert.equal(value, value.replace(/^[ \t]+|[ \t]+$/g, ''));
        }
        // The body is exactly what followed the head: nothing lost, nothing added.
        assert.deepEqual(bytes.subarray(bytes.length - body.length), body);
      }),
      fuzz(3000),
    );
  });

  it('gives the same head, body or error however the block is cut', () => {
    fc.assert(
      fc.property(block, cuts, maxSize, (bytes, at, max) => {
        const whole = parse([bytes], max);
        const pieces = parse(cut(bytes, at), max);
        assert.deepEqual(pieces.head, whole.head);
        assert.deepEqual(pieces.body, whole.body);
        assert.equal(String(pieces.error), String(whole.error));
      }),
      fuzz(3000),
    );
  });
});
