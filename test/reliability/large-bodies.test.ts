// A 1 GiB upload and a 1 GiB download through the standalone front: bodies stream with backpressure both
// ways (or an upload is read whole into a temporary file first), so memory stays flat however large they
// are. Client and server share this process, so its RSS bounds both together.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { crc32 } from 'node:zlib';
import { startFront } from '../support/front.ts';
import { rss } from '../support/proc.ts';

const MiB = 2 ** 20;
const SIZE = 1024 * MiB;
/** What RSS may grow by while a body streams: a few socket and stream buffers, not the body. */
const RSS_BOUND = 128 * MiB;

/** Samples RSS every 20 ms until stopped; returns the peak. */
function peakRss(): { stop(): number } {
  let peak = rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, rss());
  }, 20);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, rss());
    },
  };
}

/** `size` bytes as 64 KiB pieces of one reused buffer: the body costs the client no memory either. */
function body(size: number, piece: Buffer): Readable {
  let left = size;
  return new Readable({
    highWaterMark: piece.length,
    read() {
      const n = Math.min(piece.length, left);
      left -= n;
      this.push(n === 0 ? null : piece.subarray(0, n));
    },
  });
}

describe('bodies far larger than memory, through fpm-bridge serve', () => {
  for (const [how, requestBuffering] of [
    ['streams a 1 GiB upload to PHP', false],
    ['spools a 1 GiB upload to a temporary file, then sends it to PHP,', true],
  ] as const) {
    it(`${how} with RSS growing by less than 128 MiB`, {
      timeout: 300_000,
    }, async (t) => {
      const f = await startFront({ workers: 1, maxBodySize: 0, timeout: 0, requestBuffering });
      try {
        const piece = Buffer.alloc(64 * 1024, 'fpm-bridge ');
        let expected = 0;
        for (let left = SIZE; left > 0; left -= piece.length) expected = crc32(piece, expected);
        const before = rss();
        const sampler = peakRss();
        const answer = await new Promise<string>((resolve, reject) => {
          const req = request(
            {
              host: '127.0.0.1',
              port: f.port,
              path: '/count.php',
              method: 'POST',
              headers: { 'Content-Length': SIZE, 'Content-Type': 'application/octet-stream' },
            },
            (res) => {
              let text = '';
              res.setEncoding('utf8');
              res.on('data', (d: string) => (text += d));
              res.on('end', () => resolve(text));
            },
          );
          req.on('error', reject);
          body(SIZE, piece).pipe(req);
        });
        const growth = sampler.stop() - before;
        assert.deepEqual(JSON.parse(answer), {
          length: SIZE,
          crc32: expected.toString(16).padStart(8, '0'),
        });
        t.diagnostic(`RSS grew by ${(growth / MiB).toFixed(1)} MiB`);
        assert.ok(growth < RSS_BOUND, `RSS grew by ${(growth / MiB).toFixed(1)} MiB`);
      } finally {
        await f.close();
      }
    });
  }

  it('streams a 1 GiB download from PHP with RSS growing by less than 128 MiB', {
    timeout: 300_000,
  }, async (t) => {
    const f = await startFront({ workers: 1, timeout: 0 });
    try {
      const before = rss();
      const sampler = peakRss();
      // stream.php writes 64 KiB chunk i as 65536 copies of chr(65 + i % 26): check the first byte of each.
      const { length, wrong } = await new Promise<{ length: number; wrong: number }>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port: f.port, path: `/stream.php?mb=${SIZE / MiB}` },
          (res) => {
            let length = 0;
            let wrong = 0;
            res.on('data', (d: Buffer) => {
              for (let at = (65_536 - (length % 65_536)) % 65_536; at < d.length; at += 65_536) {
                if (d[at] !== 65 + (((length + at) / 65_536) % 26)) wrong++;
              }
              length += d.length;
            });
            res.on('end', () => resolve({ length, wrong }));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end();
      });
      const growth = sampler.stop() - before;
      assert.deepEqual({ length, wrong }, { length: SIZE, wrong: 0 });
      t.diagnostic(`RSS grew by ${(growth / MiB).toFixed(1)} MiB`);
      assert.ok(growth < RSS_BOUND, `RSS grew by ${(growth / MiB).toFixed(1)} MiB`);
    } finally {
      await f.close();
    }
  });
});
