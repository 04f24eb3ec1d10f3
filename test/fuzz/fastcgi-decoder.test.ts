// Property: whatever bytes php-fpm (or anything else on the socket) sends, cut however the kernel cuts
// them, RecordDecoder delivers records or throws ProtocolError, and the same ones for every cutting.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ProtocolError } from '../../proxy/errors.ts';
import { RecordDecoder, type RecordSink } from '../../proxy/fastcgi/decoder.ts';
import { cut, cuts, fuzz } from '../support/fuzz.ts';

/** What came out: records and stream ends as they are, stream pieces joined per record run, then the error. */
interface Decoded {
  events: string[];
  error: unknown;
}

function decode(chunks: readonly Buffer[]): Decoded {
  const events: string[] = [];
  let stream: { key: string; data: Buffer[] } | null = null;
  const flush = () => {
    if (stream !== null) events.push(`${stream.key} ${Buffer.concat(stream.data).toString('hex')}`);
    stream = null;
  };
  const sink: RecordSink = {
    onStream(type, requestId, data) {
      const key = `stream ${type}/${requestId}`;
      if (stream?.key !== key) {
        flush();
        stream = { key, data: [] };
      }
      // Pieces are slices of the caller's chunk: copy, as a real sink must.
      stream.data.push(Buffer.from(data));
    },
    onStreamEnd(type, requestId) {
      flush();
      events.push(`end ${type}/${requestId}`);
    },
    onRecord(type, requestId, content) {
      flush();
      events.push(`record ${type}/${requestId} ${content.toString('hex')}`);
    },
  };
  const decoder = new RecordDecoder(sink);
  let error: unknown = null;
  try {
    for (const c of chunks) decoder.push(c);
  } catch (err) {
    error = err;
  }
  flush();
  return { events, error };
}

/** A record header with version 1 (mostly) and any type, id, lengths; its content may be short or long. */
const recordish = fc
  .record({
    version: fc.oneof(
      { weight: 9, arbitrary: fc.constant(1) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
    ),
    type: fc.oneof(fc.integer({ min: 1, max: 11 }), fc.integer({ min: 0, max: 255 })),
    requestId: fc.oneof(fc.constant(1), fc.integer({ min: 0, max: 65535 })),
    contentLength: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 65535 })),
    padding: fc.integer({ min: 0, max: 255 }),
    // How many content+padding bytes actually follow: the declared number, or fewer, or more.
    slack: fc.integer({ min: -70, max: 70 }),
  })
  .map((r) => {
    const header = Buffer.from([
      r.version,
      r.type,
      r.requestId >> 8,
      r.requestId & 0xff,
      r.contentLength >> 8,
      r.contentLength & 0xff,
      r.padding,
      0,
    ]);
    // Large declared lengths are kept short on the wire (truncated streams) so a run stays fast.
    const body = Math.max(0, Math.min(r.contentLength + r.padding + r.slack, 4096));
    return Buffer.concat([header, Buffer.alloc(body, r.type)]);
  });

const wire = fc.oneof(
  fc.uint8Array({ maxLength: 256 }).map((a) => Buffer.from(a)),
  fc
    .array(
      fc.oneof(
        { weight: 4, arbitrary: recordish },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 24 }).map((a) => Buffer.from(a)) },
      ),
      { maxLength: 12 },
    )
    .map((parts) => Buffer.concat(parts)),
);

describe('RecordDecoder on arbitrary bytes (fast-check)', () => {
  it('delivers records or throws ProtocolError, never any other error', () => {
    fc.assert(
      fc.property(wire, cuts, (bytes, at) => {
        const { error } = decode(cut(bytes, at));
        if (error !== null) {
          assert.ok(error instanceof ProtocolError, `threw ${String(error)}`);
          assert.equal(error.code, 'FPM_BRIDGE_ERR_PROTOCOL');
          assert.match(error.message, /^FastCGI record with version \d+ \(expected 1\)/);
        }
      }),
      fuzz(3000),
    );
  });

  it('gives the same records, and the same error, however the bytes are cut', () => {
    fc.assert(
      fc.property(wire, cuts, (bytes, at) => {
        const whole = decode([bytes]);
        const pieces = decode(cut(bytes, at));
        assert.deepEqual(pieces.events, whole.events);
        assert.equal(String(pieces.error), String(whole.error));
      }),
      fuzz(2000),
    );
  });
});
