// What a client slower than PHP has not taken yet is held by the front (`maxResponseBuffer`,
// server/response-buffer.ts): in memory, then in a temporary file, so that PHP's worker serves others while a
// slow client downloads, as behind nginx (`fastcgi_buffering`). The bytes reach the client whole and in order,
// the file is gone on every path, and past the limit PHP waits for the client instead.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { waitFor } from '../support/bridge.ts';
import { startFront } from '../support/front.ts';
import { openFilesUnder } from '../support/proc.ts';
import { rawRequest } from '../support/raw-http.ts';

const MiB = 1024 * 1024;
const RESPONSE_FILES = join(tmpdir(), 'fpm-bridge-response-');
const responseFiles = () => openFilesUnder(RESPONSE_FILES);

/**
 * A client that asks for `MB` MiB of test/fixtures/php/stream.php over HTTP/1.0 (the body then ends with the
 * connection, no chunked framing to undo) and reads nothing until told to.
 */
async function slowDownload(
  port: number,
  mb: number,
): Promise<{ socket: Socket; readAll(): Promise<Buffer> }> {
  const socket = connect({ port, host: '127.0.0.1' });
  await once(socket, 'connect');
  socket.pause();
  socket.write(`GET /stream.php?mb=${mb} HTTP/1.0\r\nHost: x\r\n\r\n`);
  return {
    socket,
    async readAll() {
      const chunks: Buffer[] = [];
      socket.on('data', (d: Buffer) => chunks.push(d));
      socket.resume();
      await once(socket, 'close');
      return Buffer.concat(chunks);
    },
  };
}

/** Checks a reply of stream.php: its head, then `mb` MiB whose 64 KiB block i is all chr(65 + i % 26). */
function assertStreamReply(reply: Buffer, mb: number): void {
  const end = reply.indexOf('\r\n\r\n');
  assert.match(reply.subarray(0, end).toString('latin1'), /^HTTP\/1\.1 200 OK\r\n/);
  const body = reply.subarray(end + 4);
  assert.equal(body.length, mb * MiB);
  for (let i = 0; i < mb * 16; i++) {
    const block = body.subarray(i * 65536, (i + 1) * 65536);
    const letter = 65 + (i % 26);
    assert.ok(
      block.every((b) => b === letter),
      `block ${i} is not all ${String.fromCharCode(letter)}`,
    );
  }
}

/** The size of the response file this process holds open (unlinked: found by its descriptor's link). */
function heldFileSize(): number {
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(RESPONSE_FILES))
        return statSync(`/proc/self/fd/${fd}`).size;
    } catch {
      // closed while we looked
    }
  }
  assert.fail('no response file open');
}

describe('serve holds what a slow client has not taken yet (maxResponseBuffer)', () => {
  it('answers PHP requests while the only worker’s 16 MiB response waits for a client that reads nothing, then delivers it whole and in order', async () => {
    const f = await startFront({ workers: 1, queueTimeout: 5000 });
    try {
      const slow = await slowDownload(f.port, 16);
      // Past memory, into the file: the client's socket buffers are full and PHP wrote on.
      await waitFor(() => responseFiles().length === 1, 'a response file');
      for (let i = 0; i < 2; i++) {
        const r = await rawRequest(
          f.port,
          'GET /status.php?code=200 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
        );
        assert.equal(r.status, 200);
      }
      assertStreamReply(await slow.readAll(), 16);
      await waitFor(() => responseFiles().length === 0, 'the response file to be closed');
    } finally {
      await f.close();
    }
  });

  it('closes the held file when the client goes away in the middle', async () => {
    const f = await startFront({ workers: 1 });
    try {
      const slow = await slowDownload(f.port, 16);
      await waitFor(() => responseFiles().length === 1, 'a response file');
      slow.socket.destroy();
      await waitFor(() => responseFiles().length === 0, 'the response file to be closed');
      const r = await rawRequest(
        f.port,
        'GET /status.php?code=200 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      );
      assert.equal(r.status, 200);
    } finally {
      await f.close();
    }
  });

  it('holds no more than maxResponseBuffer: past it PHP waits for the client, and the bytes still arrive whole', async () => {
    const limit = 2 * MiB;
    const f = await startFront({ workers: 1, maxResponseBuffer: limit });
    try {
      const slow = await slowDownload(f.port, 16);
      await waitFor(() => responseFiles().length === 1, 'a response file');
      // PHP writes on until the front stops reading: give it the time to pass the limit if it would.
      await waitFor(() => heldFileSize() > limit / 2, 'the file to fill');
      await new Promise((r) => setTimeout(r, 300));
      // The file takes what memory (256 KiB) does not, and at most one read from php-fpm past the limit.
      assert.ok(heldFileSize() <= limit, `${heldFileSize()} bytes held in the file`);
      assertStreamReply(await slow.readAll(), 16);
      await waitFor(() => responseFiles().length === 0, 'the response file to be closed');
    } finally {
      await f.close();
    }
  });

  it('with maxResponseBuffer 0 holds nothing: a slow client reads at its pace, with no file', async () => {
    const f = await startFront({ workers: 1, maxResponseBuffer: 0 });
    try {
      const slow = await slowDownload(f.port, 4);
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(responseFiles(), []);
      assertStreamReply(await slow.readAll(), 4);
    } finally {
      await f.close();
    }
  });
});
