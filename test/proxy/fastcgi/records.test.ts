import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HeadersTooLargeError } from '../../../proxy/errors.ts';
import {
  BEGIN_REQUEST,
  decodePairs,
  END_REQUEST,
  encodeEndRequest,
  encodePairs,
  encodeRecord,
  encodeRequestHead,
  encodeStream,
  encodeStreamEnd,
  FLAG_KEEP_CONN,
  GET_VALUES,
  MAX_RECORD_CONTENT,
  OVERLOADED,
  PARAMS,
  ROLE_RESPONDER,
  STDIN,
  STDOUT,
} from '../../../proxy/fastcgi/records.ts';

/** One record as laid out on the wire, read back by a walker independent of the decoder under test. */
interface WireRecord {
  version: number;
  type: number;
  requestId: number;
  contentLength: number;
  paddingLength: number;
  reserved: number;
  content: Buffer;
  padding: Buffer;
}

/** Splits a buffer of whole records; fails if the last record runs past the end. */
function records(buf: Buffer): WireRecord[] {
  const out: WireRecord[] = [];
  let pos = 0;
  while (pos < buf.length) {
    assert.ok(pos + 8 <= buf.length, `record header at ${pos} is cut off`);
    const contentLength = buf.readUInt16BE(pos + 4);
    const paddingLength = buf[pos + 6]!;
    const end = pos + 8 + contentLength + paddingLength;
    assert.ok(end <= buf.length, `record at ${pos} runs past the end of the buffer`);
    out.push({
      version: buf[pos]!,
      type: buf[pos + 1]!,
      requestId: buf.readUInt16BE(pos + 2),
      contentLength,
      paddingLength,
      reserved: buf[pos + 7]!,
      content: buf.subarray(pos + 8, pos + 8 + contentLength),
      padding: buf.subarray(pos + 8 + contentLength, end),
    });
    pos = end;
  }
  return out;
}

/** Every property the encoder promises for every record it writes. */
function assertWellFormed(recs: WireRecord[]): void {
  for (const r of recs) {
    assert.equal(r.version, 1);
    assert.equal(r.reserved, 0);
    assert.ok(r.contentLength + r.paddingLength <= 65535, 'contentLength + paddingLength fits the uint16');
    assert.ok(r.contentLength <= MAX_RECORD_CONTENT);
    assert.equal((r.contentLength + r.paddingLength) % 8, 0, 'records are padded to a multiple of 8');
    assert.ok(r.paddingLength < 8);
    assert.ok(
      r.padding.every((b) => b === 0),
      'padding bytes are zero',
    );
  }
}

function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    b[i] = x >> 16;
  }
  return b;
}

describe('name-value pairs', () => {
  test('a name or value of 127 bytes has a 1-byte length, one of 128 bytes a 4-byte length with the high bit set', () => {
    const enc = encodePairs(['n'.repeat(127), 'v'.repeat(128)]);
    assert.equal(enc.length, 1 + 4 + 127 + 128);
    assert.equal(enc[0], 127);
    assert.deepEqual([...enc.subarray(1, 5)], [0x80, 0x00, 0x00, 0x80]);
    assert.deepEqual(decodePairs(enc), ['n'.repeat(127), 'v'.repeat(128)]);

    const enc2 = encodePairs(['n'.repeat(128), 'v'.repeat(127)]);
    assert.deepEqual([...enc2.subarray(0, 5)], [0x80, 0x00, 0x00, 0x80, 127]);
    assert.deepEqual(decodePairs(enc2), ['n'.repeat(128), 'v'.repeat(127)]);
  });

  test('lengths count UTF-8 bytes, not characters: 64 × "é" is 128 bytes and takes a 4-byte length', () => {
    const value = 'é'.repeat(64);
    const enc = encodePairs(['X', value]);
    assert.deepEqual([...enc.subarray(0, 5)], [1, 0x80, 0x00, 0x00, 0x80]);
    assert.equal(enc.length, 1 + 4 + 1 + 128);
    assert.deepEqual(decodePairs(enc), ['X', value]);
  });

  test('encodeRequestHead writes the same 1-byte and 4-byte lengths in PARAMS as encodePairs', () => {
    const params = ['A'.repeat(127), '', 'B'.repeat(128), 'x', 'C', 'y'.repeat(300)];
    const recs = records(encodeRequestHead(1, 0, params, null));
    const p = recs.filter((r) => r.type === PARAMS && r.contentLength > 0);
    assert.equal(p.length, 1);
    assert.deepEqual(p[0]!.content, encodePairs(params));
    assert.deepEqual(decodePairs(p[0]!.content), params);
  });

  test('empty names and values and binary-looking bytes round-trip', () => {
    const pairs = ['', '', 'EMPTY', '', '', 'no-name', 'NUL', 'a\u0000b'];
    assert.deepEqual(decodePairs(encodePairs(pairs)), pairs);
  });

  test('decodePairs of no bytes is an empty list', () => {
    assert.deepEqual(decodePairs(Buffer.alloc(0)), []);
  });

  test('decodePairs returns null for every truncation that cuts a pair, and the whole pairs for every cut between pairs', () => {
    const pairs = ['SHORT', 'v', 'L'.repeat(200), 'w'.repeat(130), 'X', 'y'.repeat(1000)];
    const enc = encodePairs(pairs);
    const boundaries = new Map<number, string[]>([[0, []]]);
    let at = 0;
    for (let i = 0; i < pairs.length; i += 2) {
      at += encodePairs([pairs[i]!, pairs[i + 1]!]).length;
      boundaries.set(at, pairs.slice(0, i + 2));
    }
    assert.equal(at, enc.length);
    for (let cut = 0; cut <= enc.length; cut++) {
      const expected = boundaries.get(cut) ?? null;
      assert.deepEqual(decodePairs(enc.subarray(0, cut)), expected, `prefix of ${cut} bytes`);
    }
  });

  test('decodePairs returns null when a 4-byte length is cut short or a length points past the end', () => {
    assert.equal(decodePairs(Buffer.from([0x80, 0x00, 0x01])), null);
    assert.equal(decodePairs(Buffer.from([0x05])), null);
    assert.equal(decodePairs(Buffer.from([0x01, 0x01, 0x41])), null);
    assert.equal(decodePairs(Buffer.from([0x80, 0x00, 0x00, 0x02, 0x00, 0x41])), null);
    // A 31-bit length far beyond the buffer (the out-of-bounds read HAProxy fixed in 96286b2a8).
    assert.equal(decodePairs(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00])), null);
  });
});

describe('records', () => {
  test('the record header is version 1, type, request id and content length big-endian, padding, reserved 0', () => {
    const r = encodeRecord(GET_VALUES, 0x1234, Buffer.from('abc'));
    assert.deepEqual([...r.subarray(0, 8)], [1, GET_VALUES, 0x12, 0x34, 0x00, 0x03, 5, 0]);
    assert.equal(r.length, 16);
    assert.deepEqual([...r.subarray(8)], [0x61, 0x62, 0x63, 0, 0, 0, 0, 0]);
  });

  test('a record whose content is a multiple of 8 has no padding', () => {
    const r = encodeRecord(STDOUT, 1, Buffer.alloc(16, 1));
    assert.equal(r[6], 0);
    assert.equal(r.length, 24);
  });

  test('END_REQUEST carries appStatus big-endian, protocolStatus, and 3 zero reserved bytes', () => {
    const r = encodeEndRequest(7, 0x01020304, OVERLOADED);
    assert.deepEqual([...r], [1, END_REQUEST, 0, 7, 0, 8, 0, 0, 1, 2, 3, 4, OVERLOADED, 0, 0, 0]);
    const fatal = encodeEndRequest(1, 255, 0);
    assert.equal(fatal.readUInt32BE(8), 255);
  });

  test('a stream end is an 8-byte header with content length 0 and no padding', () => {
    assert.deepEqual([...encodeStreamEnd(STDIN, 258)], [1, STDIN, 1, 2, 0, 0, 0, 0]);
  });

  for (const length of [0, 1, 7, 8, 65527, 65528, 65529, 65535, 65536, 131056, 131057, 200_000]) {
    test(`stream content of ${length} bytes is split at 65528 bytes, padded to 8, and reassembles exactly`, () => {
      const data = bytes(length, length + 1);
      const recs = records(encodeStream(STDOUT, 3, data));
      assertWellFormed(recs);
      const full = Math.floor(length / MAX_RECORD_CONTENT);
      const rest = length % MAX_RECORD_CONTENT;
      const expectedLengths = [...Array<number>(full).fill(MAX_RECORD_CONTENT), ...(rest > 0 ? [rest] : [])];
      assert.deepEqual(
        recs.map((r) => r.contentLength),
        expectedLengths,
      );
      assert.deepEqual(
        recs.map((r) => r.paddingLength),
        expectedLengths.map((n) => -n & 7),
      );
      for (const r of recs) {
        assert.equal(r.type, STDOUT);
        assert.equal(r.requestId, 3);
      }
      assert.deepEqual(Buffer.concat(recs.map((r) => r.content)), data);
    });
  }
});

describe('encodeRequestHead', () => {
  test('starts with BEGIN_REQUEST: role RESPONDER, the flags, five zero reserved bytes', () => {
    const recs = records(encodeRequestHead(5, FLAG_KEEP_CONN, ['A', 'b'], null));
    assert.equal(recs[0]!.type, BEGIN_REQUEST);
    assert.equal(recs[0]!.requestId, 5);
    assert.deepEqual([...recs[0]!.content], [0, ROLE_RESPONDER, FLAG_KEEP_CONN, 0, 0, 0, 0, 0]);
    const noKeep = records(encodeRequestHead(5, 0, ['A', 'b'], null));
    assert.equal(noKeep[0]!.content[2], 0);
  });

  test('without a body it ends with the empty PARAMS record and writes no STDIN at all', () => {
    const recs = records(encodeRequestHead(1, 0, ['A', 'b'], null));
    assertWellFormed(recs);
    assert.deepEqual(
      recs.map((r) => [r.type, r.contentLength]),
      [
        [BEGIN_REQUEST, 8],
        [PARAMS, 4],
        [PARAMS, 0],
      ],
    );
  });

  test('with an empty body it still sends the empty STDIN record that ends the body', () => {
    const recs = records(encodeRequestHead(1, 0, ['A', 'b'], Buffer.alloc(0)));
    assert.deepEqual(
      recs.map((r) => [r.type, r.contentLength]),
      [
        [BEGIN_REQUEST, 8],
        [PARAMS, 4],
        [PARAMS, 0],
        [STDIN, 0],
      ],
    );
  });

  test('with no params it sends only the empty PARAMS record (never an empty one before it)', () => {
    const recs = records(encodeRequestHead(1, 0, [], null));
    assert.deepEqual(
      recs.map((r) => [r.type, r.contentLength]),
      [
        [BEGIN_REQUEST, 8],
        [PARAMS, 0],
      ],
    );
  });

  test('a body is split into STDIN records of at most 65528 bytes, padded, then the empty STDIN record', () => {
    const body = bytes(2 * MAX_RECORD_CONTENT + 1);
    const recs = records(encodeRequestHead(9, 0, ['CONTENT_LENGTH', String(body.length)], body));
    assertWellFormed(recs);
    const stdin = recs.filter((r) => r.type === STDIN);
    assert.deepEqual(
      stdin.map((r) => [r.contentLength, r.paddingLength]),
      [
        [65528, 0],
        [65528, 0],
        [1, 7],
        [0, 0],
      ],
    );
    assert.ok(stdin.every((r) => r.requestId === 9));
    assert.deepEqual(Buffer.concat(stdin.map((r) => r.content)), body);
  });

  test('PARAMS larger than 64 KiB span several records, each split between pairs and decodable on its own', () => {
    const params: string[] = [];
    for (let i = 0; i < 150; i++) params.push(`HTTP_X_HEADER_${i}`, `${i}:`.padEnd(997 + (i % 13), 'v'));
    const recs = records(encodeRequestHead(1, 0, params, null));
    assertWellFormed(recs);
    const p = recs.filter((r) => r.type === PARAMS);
    assert.ok(p.length >= 4, `expected at least 3 non-empty PARAMS records, got ${p.length - 1}`);
    assert.equal(p.at(-1)!.contentLength, 0);
    const decoded: string[] = [];
    for (const r of p.slice(0, -1)) {
      assert.ok(r.contentLength > 0, 'no empty PARAMS record before the last');
      const pairs = decodePairs(r.content);
      assert.notEqual(pairs, null, 'a PARAMS record holds only whole pairs');
      decoded.push(...pairs!);
    }
    assert.deepEqual(decoded, params);
    // Greedy filling: a record is closed only when the next pair would not fit.
    for (let i = 0; i < p.length - 2; i++) {
      const nextPair = encodePairs(decodePairs(p[i + 1]!.content)!.slice(0, 2)).length;
      assert.ok(p[i]!.contentLength + nextPair > MAX_RECORD_CONTENT);
    }
  });

  test('a pair that fills a record exactly (65528 bytes) is sent in one record of its own', () => {
    // 1 (name length) + 4 (value length) + 1 (name) + 65522 (value) = 65528
    const params = ['A', 'b', 'X', 'v'.repeat(65522), 'C', 'd'];
    const recs = records(encodeRequestHead(1, 0, params, null));
    assertWellFormed(recs);
    const p = recs.filter((r) => r.type === PARAMS);
    assert.deepEqual(
      p.map((r) => r.contentLength),
      [4, 65528, 4, 0],
    );
    assert.deepEqual(
      p.flatMap((r) => decodePairs(r.content)!),
      params,
    );
  });

  test('a single pair too large for one record throws HeadersTooLargeError (431) instead of truncating', () => {
    const params = ['HTTP_COOKIE', 'c'.repeat(65528)];
    assert.throws(
      () => encodeRequestHead(1, 0, params, null),
      (err: unknown) => {
        assert.ok(err instanceof HeadersTooLargeError);
        assert.equal(err.code, 'FPM_BRIDGE_ERR_HEADERS_TOO_LARGE');
        assert.equal(err.statusCode, 431);
        assert.match(err.message, /HTTP_COOKIE/);
        return true;
      },
    );
    // One byte below the limit is accepted: 1 + 4 + 1 + 65523 = 65529 is too large, 65522 fits.
    assert.throws(() => encodeRequestHead(1, 0, ['X', 'v'.repeat(65523)], null), HeadersTooLargeError);
    assert.doesNotThrow(() => encodeRequestHead(1, 0, ['X', 'v'.repeat(65522)], null));
  });

  test('reserved and padding bytes are zero even when the output buffer comes from reused memory', () => {
    const cases: [string[], number][] = [
      [['A', 'b'.repeat(3)], 5],
      [['A', 'b', 'LONG', 'z'.repeat(40_001), 'LONGER', 'y'.repeat(40_003), 'K', 'v'], 1001],
    ];
    for (const [params, bodyLength] of cases) {
      // Dirty Node's small-buffer pool with 0xff so allocUnsafe hands out garbage where we do not write.
      for (let i = 0; i < 64; i++) Buffer.allocUnsafe(1024).fill(0xff);
      const recs = records(encodeRequestHead(2, FLAG_KEEP_CONN, params, bytes(bodyLength)));
      assertWellFormed(recs);
      assert.deepEqual([...recs[0]!.content.subarray(3)], [0, 0, 0, 0, 0]);
      assert.ok(recs.some((r) => r.paddingLength > 0));
    }
  });

  test('contentLength + paddingLength never exceeds 65535 for any body length around the record limit', () => {
    for (let length = 65500; length <= 65560; length++) {
      const recs = records(encodeRequestHead(1, 0, [], Buffer.alloc(length, 0x61)));
      assertWellFormed(recs);
      const stdin = recs.filter((r) => r.type === STDIN);
      assert.equal(
        stdin.reduce((n, r) => n + r.contentLength, 0),
        length,
      );
    }
  });

  test('a large parameter list encodes the same when encoded twice (scratch space reused safely)', () => {
    const big: string[] = [];
    for (let i = 0; i < 600; i++) big.push(`N${i}`, `v${i}`);
    const first = encodeRequestHead(1, 0, big, null);
    encodeRequestHead(1, 0, ['A', 'b'], null);
    assert.deepEqual(encodeRequestHead(1, 0, big, null), first);
  });
});
