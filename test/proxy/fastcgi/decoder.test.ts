import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, test } from 'node:test';
import { ProtocolError } from '../../../proxy/errors.ts';
import { RecordDecoder, type RecordSink } from '../../../proxy/fastcgi/decoder.ts';
import {
  END_REQUEST,
  encodeEndRequest,
  encodeRecord,
  encodeStream,
  encodeStreamEnd,
  GET_VALUES_RESULT,
  isStreamType,
  STDERR,
  STDOUT,
  writeHeader,
} from '../../../proxy/fastcgi/records.ts';

/**
 * Every randomized test derives its streams from this seed. Set FPM_BRIDGE_TEST_SEED to replay a failure;
 * the seed is printed as a test diagnostic and in every assertion message.
 */
const SEED =
  process.env.FPM_BRIDGE_TEST_SEED !== undefined
    ? Number(process.env.FPM_BRIDGE_TEST_SEED)
    : randomInt(2 ** 31);

/** Multiplies the rounds of the randomized tests (FPM_BRIDGE_TEST_ROUNDS=20 for a longer fuzzing run). */
const ROUNDS = Math.max(1, Number(process.env.FPM_BRIDGE_TEST_ROUNDS ?? 1));

/** mulberry32: small, fast, seedable. Returns an integer in [0, n). */
function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

type Event =
  | { kind: 'stream'; type: number; requestId: number; data: Buffer }
  | { kind: 'end'; type: number; requestId: number }
  | { kind: 'record'; type: number; requestId: number; content: Buffer };

/** A stream's content as the decoder handed it over, in pieces (joined only to describe a mismatch). */
type Decoded =
  | { kind: 'stream'; type: number; requestId: number; pieces: Buffer[] }
  | { kind: 'end'; type: number; requestId: number }
  | { kind: 'record'; type: number; requestId: number; content: Buffer };

/**
 * Collects what the decoder emits. Adjacent stream pieces of one type and id belong together, since how a
 * stream's content is cut into pieces depends on the chunking and is not part of the result.
 */
class Collector implements RecordSink {
  readonly events: Decoded[] = [];

  onStream(type: number, requestId: number, data: Buffer): void {
    assert.ok(data.length > 0, 'onStream is never called with an empty piece');
    const last = this.events.at(-1);
    if (last !== undefined && last.kind === 'stream' && last.type === type && last.requestId === requestId) {
      last.pieces.push(data);
    } else {
      this.events.push({ kind: 'stream', type, requestId, pieces: [data] });
    }
  }

  onStreamEnd(type: number, requestId: number): void {
    this.events.push({ kind: 'end', type, requestId });
  }

  onRecord(type: number, requestId: number, content: Buffer): void {
    // Copied: the decoder may hand out a slice of a chunk the caller reuses.
    this.events.push({ kind: 'record', type, requestId, content: Buffer.from(content) });
  }
}

function joined(events: Decoded[]): Event[] {
  return events.map((e) =>
    e.kind === 'stream'
      ? { kind: 'stream', type: e.type, requestId: e.requestId, data: Buffer.concat(e.pieces) }
      : e,
  );
}

interface GenRecord {
  type: number;
  requestId: number;
  content: Buffer;
  padding: number;
}

/** Wire bytes of records with arbitrary (not only 8-aligned) padding, filled with junk to prove it is skipped. */
function serialize(recs: readonly GenRecord[]): Buffer {
  let total = 0;
  for (const r of recs) total += 8 + r.content.length + r.padding;
  const out = Buffer.alloc(total, 0xee);
  let at = 0;
  for (const r of recs) {
    writeHeader(out, at, r.type, r.requestId, r.content.length, r.padding);
    r.content.copy(out, at + 8);
    at += 8 + r.content.length + r.padding;
  }
  return out;
}

/** What a correct decoder reports for `recs`, derived from the records, not from any decoding. */
function expectedEvents(recs: readonly GenRecord[]): Event[] {
  const out: Event[] = [];
  for (const r of recs) {
    if (!isStreamType(r.type)) {
      out.push({ kind: 'record', type: r.type, requestId: r.requestId, content: r.content });
    } else if (r.content.length === 0) {
      out.push({ kind: 'end', type: r.type, requestId: r.requestId });
    } else {
      const last = out.at(-1);
      if (
        last !== undefined &&
        last.kind === 'stream' &&
        last.type === r.type &&
        last.requestId === r.requestId
      ) {
        last.data = Buffer.concat([last.data, r.content]);
      } else {
        out.push({ kind: 'stream', type: r.type, requestId: r.requestId, data: r.content });
      }
    }
  }
  return out;
}

/**
 * Asserts that what was decoded equals `expected`. A fast piecewise check runs first, since the exhaustive
 * tests compare hundreds of thousands of results; assert.deepEqual only runs to describe a mismatch.
 */
function assertDecoded(actual: Decoded[], expected: Event[], message: string): void {
  if (!same(actual, expected)) assert.deepEqual(joined(actual), expected, message);
}

function same(a: Decoded[], b: Event[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.kind !== y.kind || x.type !== y.type || x.requestId !== y.requestId) return false;
    if (x.kind === 'record' && y.kind === 'record' && !x.content.equals(y.content)) return false;
    if (x.kind === 'stream' && y.kind === 'stream') {
      let at = 0;
      for (const piece of x.pieces) {
        if (!piece.equals(y.data.subarray(at, at + piece.length))) return false;
        at += piece.length;
      }
      if (at !== y.data.length) return false;
    }
  }
  return true;
}

function decodeChunks(chunks: Iterable<Buffer>): Decoded[] {
  const sink = new Collector();
  const decoder = new RecordDecoder(sink);
  for (const c of chunks) decoder.push(c);
  assert.ok(decoder.atBoundary, 'the decoder ends between records');
  return sink.events;
}

interface GenOptions {
  records: number;
  /** Largest content of an ordinary record; records of 65535 bytes are added by `big`. */
  maxContent: number;
  /** Records of exactly 65535 content bytes with 255 padding bytes, stream type if `bigStream`. */
  big: number;
  bigStream: boolean;
  /** Largest padding of an ordinary record (FastCGI allows 255). */
  maxPadding: number;
}

function generate(rand: (n: number) => number, o: GenOptions): GenRecord[] {
  const recs: GenRecord[] = [];
  const content = (n: number) => {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = rand(256);
    return b;
  };
  for (let i = 0; i < o.records; i++) {
    const typeRoll = rand(10);
    // Mostly the types php-fpm sends, sometimes every other defined type, sometimes undefined ones.
    const type =
      typeRoll < 5
        ? [STDOUT, STDERR, END_REQUEST][rand(3)]!
        : typeRoll < 9
          ? 1 + rand(11)
          : [0, 12, 200, 255][rand(4)]!;
    const idRoll = rand(6);
    const requestId = idRoll === 0 ? 0 : idRoll === 1 ? 65535 : idRoll < 4 ? 1 + rand(3) : rand(65536);
    const lenRoll = rand(10);
    const length =
      lenRoll < 2 ? 0 : lenRoll < 7 ? 1 + rand(64) : lenRoll < 9 ? rand(o.maxContent + 1) : 8 * rand(64);
    const padRoll = rand(4);
    const padding =
      padRoll === 0 ? 0 : padRoll === 1 ? -length & 7 : padRoll === 2 ? o.maxPadding : rand(o.maxPadding + 1);
    recs.push({ type, requestId, content: content(length), padding });
  }
  for (let i = 0; i < o.big; i++) {
    const type = o.bigStream ? [STDOUT, STDERR][rand(2)]! : [END_REQUEST, GET_VALUES_RESULT, 42][rand(3)]!;
    recs.splice(rand(recs.length + 1), 0, {
      type,
      requestId: rand(65536),
      content: content(65535),
      padding: 255,
    });
  }
  return recs;
}

/** Random cut points: sometimes tiny chunks, sometimes medium, sometimes huge. */
function randomChunks(buf: Buffer, rand: (n: number) => number): Buffer[] {
  const chunks: Buffer[] = [];
  const scale = [9, 100, 5000, 200_000][rand(4)]!;
  for (let at = 0; at < buf.length; ) {
    const n = 1 + rand(scale);
    chunks.push(buf.subarray(at, at + n));
    at += n;
  }
  return chunks;
}

describe('RecordDecoder on random record streams', () => {
  test('a stream cut in two at every byte boundary decodes to the same records', (t) => {
    t.diagnostic(`seed ${SEED} (replay with FPM_BRIDGE_TEST_SEED=${SEED})`);
    for (let round = 0; round < 2 * ROUNDS; round++) {
      const seed = SEED + round;
      const rand = prng(seed);
      // Small records around one 65535-byte stream record padded by 255: every header, content and padding
      // position of every record kind is a cut point once.
      const recs = generate(rand, { records: 40, maxContent: 300, big: 1, bigStream: true, maxPadding: 255 });
      const wire = serialize(recs);
      const expected = expectedEvents(recs);
      assertDecoded(decodeChunks([wire]), expected, `seed ${seed}: whole stream in one chunk`);
      for (let cut = 0; cut <= wire.length; cut++) {
        const actual = decodeChunks([wire.subarray(0, cut), wire.subarray(cut)]);
        assertDecoded(actual, expected, `seed ${seed}: cut at byte ${cut} of ${wire.length}`);
      }
    }
  });

  test('a stream of only small records cut into three at every pair of boundaries decodes the same', (t) => {
    t.diagnostic(`seed ${SEED}`);
    const seed = SEED + 100;
    const rand = prng(seed);
    const recs = generate(rand, { records: 12, maxContent: 20, big: 0, bigStream: false, maxPadding: 9 });
    const wire = serialize(recs);
    const expected = expectedEvents(recs);
    for (let a = 0; a <= wire.length; a++) {
      for (let b = a; b <= wire.length; b += 1 + rand(4)) {
        const actual = decodeChunks([wire.subarray(0, a), wire.subarray(a, b), wire.subarray(b)]);
        assertDecoded(actual, expected, `seed ${seed}: cuts at ${a} and ${b} of ${wire.length}`);
      }
    }
  });

  test('streams with 65535-byte records of every kind decode the same in random chunkings and in 1-byte chunks', (t) => {
    t.diagnostic(`seed ${SEED}`);
    for (let round = 0; round < 4 * ROUNDS; round++) {
      const seed = SEED + 1000 + round;
      const rand = prng(seed);
      const recs = generate(rand, {
        records: 150,
        maxContent: 3000,
        big: 2,
        bigStream: round % 2 === 0,
        maxPadding: 255,
      });
      recs.push(
        ...generate(rand, { records: 0, maxContent: 0, big: 1, bigStream: round % 2 === 1, maxPadding: 255 }),
      );
      const wire = serialize(recs);
      const expected = expectedEvents(recs);
      for (let c = 0; c < 24; c++) {
        const chunks = randomChunks(wire, rand);
        assertDecoded(decodeChunks(chunks), expected, `seed ${seed}: random chunking #${c}`);
      }
      const ones: Buffer[] = [];
      for (let i = 0; i < wire.length; i++) ones.push(wire.subarray(i, i + 1));
      assertDecoded(decodeChunks(ones), expected, `seed ${seed}: 1-byte chunks`);
    }
  });

  test('chunk buffers reused by the caller after push do not change records already delivered', () => {
    const wire = Buffer.concat([
      encodeEndRequest(1, 7, 0),
      encodeRecord(GET_VALUES_RESULT, 0, Buffer.from('0123456789')),
      encodeStream(STDOUT, 1, Buffer.from('hello')),
    ]);
    const expected = decodeChunks([wire]);
    const sink = new Collector();
    const decoder = new RecordDecoder(sink);
    const scratch = Buffer.alloc(5);
    for (let at = 0; at < wire.length; at += 5) {
      const n = wire.copy(scratch, 0, at, at + 5);
      decoder.push(scratch.subarray(0, n));
    }
    // Stream pieces are slices of the chunk (the sink must copy), whole records are delivered as a copy
    // when they spanned chunks; the Collector copies records, so only records are compared.
    assert.deepEqual(
      sink.events.filter((e) => e.kind === 'record'),
      expected.filter((e) => e.kind === 'record'),
    );
  });
});

describe('RecordDecoder', () => {
  test('a record with 65535 content bytes and 255 padding bytes is decoded without overflow', () => {
    const content = Buffer.alloc(65535, 0x5a);
    const wire = serialize([
      { type: STDOUT, requestId: 1, content, padding: 255 },
      { type: STDOUT, requestId: 1, content: Buffer.alloc(0), padding: 0 },
      { type: END_REQUEST, requestId: 1, content: Buffer.alloc(8), padding: 0 },
    ]);
    assert.equal(wire.length, 8 + 65535 + 255 + 8 + 16);
    assert.deepEqual(joined(decodeChunks([wire])), [
      { kind: 'stream', type: STDOUT, requestId: 1, data: content },
      { kind: 'end', type: STDOUT, requestId: 1 },
      { kind: 'record', type: END_REQUEST, requestId: 1, content: Buffer.alloc(8) },
    ]);
  });

  test('an empty non-stream record is delivered as a record with empty content', () => {
    const wire = serialize([{ type: END_REQUEST, requestId: 3, content: Buffer.alloc(0), padding: 4 }]);
    assert.deepEqual(joined(decodeChunks([wire])), [
      { kind: 'record', type: END_REQUEST, requestId: 3, content: Buffer.alloc(0) },
    ]);
  });

  test('a version other than 1 throws ProtocolError (FPM_BRIDGE_ERR_PROTOCOL) after the records before it', () => {
    for (const version of [0, 2, 0x48 /* "H" of an HTTP answer */, 255]) {
      const bad = encodeStreamEnd(STDOUT, 1);
      bad[0] = version;
      const sink = new Collector();
      const decoder = new RecordDecoder(sink);
      assert.throws(
        () => decoder.push(Buffer.concat([encodeStream(STDOUT, 1, Buffer.from('ok')), bad])),
        (err: unknown) => {
          assert.ok(err instanceof ProtocolError);
          assert.equal(err.code, 'FPM_BRIDGE_ERR_PROTOCOL');
          assert.equal(err.statusCode, 502);
          assert.match(err.message, new RegExp(`version ${version}`));
          return true;
        },
      );
      assert.deepEqual(joined(sink.events), [
        { kind: 'stream', type: STDOUT, requestId: 1, data: Buffer.from('ok') },
      ]);
    }
  });

  test('a bad version is detected when the header arrives one byte at a time', () => {
    const decoder = new RecordDecoder(new Collector());
    const bad = Buffer.from([2, STDOUT, 0, 1, 0, 0, 0, 0]);
    for (let i = 0; i < 7; i++) decoder.push(bad.subarray(i, i + 1));
    assert.throws(() => decoder.push(bad.subarray(7)), {
      name: 'ProtocolError',
      code: 'FPM_BRIDGE_ERR_PROTOCOL',
    });
  });

  test('after a protocol error the decoder ignores whatever is pushed next', () => {
    const sink = new Collector();
    const decoder = new RecordDecoder(sink);
    assert.throws(() => decoder.push(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')), ProtocolError);
    decoder.push(encodeStream(STDOUT, 1, Buffer.from('late')));
    assert.deepEqual(joined(sink.events), []);
  });

  test('stop() called from the sink drops the rest of the chunk and every later chunk', () => {
    const events: number[] = [];
    const decoder: RecordDecoder = new RecordDecoder({
      onStream: () => {},
      onStreamEnd: () => {},
      onRecord: (_type, requestId) => {
        events.push(requestId);
        if (requestId === 2) decoder.stop();
      },
    });
    decoder.push(
      Buffer.concat([encodeEndRequest(1, 0, 0), encodeEndRequest(2, 0, 0), encodeEndRequest(3, 0, 0)]),
    );
    decoder.push(encodeEndRequest(4, 0, 0));
    assert.deepEqual(events, [1, 2]);
  });

  test('atBoundary is true only between records: not inside a header, content or padding', () => {
    const decoder = new RecordDecoder(new Collector());
    const rec = serialize([{ type: STDOUT, requestId: 1, content: Buffer.from('abc'), padding: 2 }]);
    assert.equal(decoder.atBoundary, true);
    const states: boolean[] = [];
    for (let i = 0; i < rec.length; i++) {
      decoder.push(rec.subarray(i, i + 1));
      states.push(decoder.atBoundary);
    }
    assert.deepEqual(states, [...Array<boolean>(rec.length - 1).fill(false), true]);
  });
});
