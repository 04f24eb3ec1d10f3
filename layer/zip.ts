import { promisify } from 'node:util';
import { crc32, deflateRaw, deflateRawSync, inflateRawSync } from 'node:zlib';
import { LayerError } from '../proxy/errors.ts';

/** One file or directory of a zip, as the archive should hold it. */
export interface ZipEntry {
  /** Path inside the archive, `/`-separated, no leading `/`; directories end with `/`. */
  name: string;
  /** File contents; absent for a directory. */
  data?: Buffer;
  /** Unix permission bits (0o755, 0o644); the file type is added from `data`. */
  mode: number;
}

/** 1980-01-01 00:00:00, the earliest time a zip can state: every entry gets it, so nothing depends on the clock. */
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
/** "Version made by": 3 = Unix (so unzip and Lambda read the mode bits), zip spec 2.0. */
const MADE_BY = (3 << 8) | 20;
const NEEDED = 20;

/**
 * Writes a zip (PKWARE APPNOTE 6.3, no zip64: a Lambda layer is far below 4 GB) that depends only on the
 * entries: sorted by name, fixed timestamps, the given permission bits, no extra fields, raw deflate at level
 * 9 (stored when that is smaller). The same entries give the same bytes, hence the same sha256.
 *
 * ```
 *  [local header + name + data] ...  [central header + name] ...  [end of central directory]
 * ```
 *
 * @example
 *   writeFileSync('layer.zip', zip([{ name: 'bin/', mode: 0o755 }, { name: 'bin/php', data, mode: 0o755 }]))
 */
export function zip(entries: readonly ZipEntry[]): Buffer {
  return write(entries, (raw) => deflateRawSync(raw, DEFLATE));
}

/**
 * {@link zip}, with the entries deflated on libuv's thread pool, several at once: the same bytes, in less
 * time on more than one CPU (a layer is ~1000 files and 130 MB).
 */
export async function zipParallel(entries: readonly ZipEntry[]): Promise<Buffer> {
  const deflated = new Map<Buffer, Buffer>();
  await Promise.all(
    entries.map(async ({ data }) => {
      if (data !== undefined && data.length > 0) deflated.set(data, await deflateRawAsync(data, DEFLATE));
    }),
  );
  return write(entries, (raw) => deflated.get(raw)!);
}

const DEFLATE = { level: 9 };
const deflateRawAsync = promisify(deflateRaw);

function write(entries: readonly ZipEntry[], deflate: (raw: Buffer) => Buffer): Buffer {
  const sorted = [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const chunks: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (let i = 0; i < sorted.length; i++) {
    const entry = sorted[i]!;
    if (i > 0 && sorted[i - 1]!.name === entry.name) throw new LayerError(`zip entry "${entry.name}" twice`);
    const name = Buffer.from(entry.name, 'utf8');
    const raw = entry.data ?? Buffer.alloc(0);
    const deflated = raw.length === 0 ? raw : deflate(raw);
    const stored = deflated.length >= raw.length;
    const body = stored ? raw : deflated;
    const crc = crc32(raw);
    const method = stored ? 0 : 8;
    // General purpose flag bit 11: names are UTF-8.
    const flags = 0x0800;
    const fields: FileFields = {
      flags,
      method,
      crc,
      size: body.length,
      rawSize: raw.length,
      nameLength: name.length,
    };
    // Extra field length (28): 0.
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    writeFileFields(local, 4, fields);
    chunks.push(local, name, body);
    const type = entry.data === undefined ? S_IFDIR : S_IFREG;
    const head = Buffer.alloc(46);
    head.writeUInt32LE(0x02014b50, 0);
    head.writeUInt16LE(MADE_BY, 4);
    writeFileFields(head, 6, fields);
    // Extra, comment, disk number, internal attributes: 0. External: Unix mode high, MS-DOS directory bit low.
    // (`+`, not `|`: a bitwise or would turn the 32-bit value negative.)
    head.writeUInt32LE((type | (entry.mode & 0o7777)) * 0x10000 + (type === S_IFDIR ? 0x10 : 0), 38);
    head.writeUInt32LE(offset, 42);
    central.push(head, name);
    offset += local.length + name.length + body.length;
    if (offset > 0xffffffff) throw new LayerError('the layer zip would exceed 4 GB');
  }
  if (sorted.length > 0xffff) throw new LayerError('the layer zip would hold more than 65535 entries');
  const centralSize = central.reduce((n, b) => n + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(sorted.length, 8);
  end.writeUInt16LE(sorted.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...chunks, ...central, end]);
}

interface FileFields {
  flags: number;
  method: number;
  crc: number;
  size: number;
  rawSize: number;
  nameLength: number;
}

/**
 * The run of fields a local header (at offset 4) and a central directory header (at offset 6) share, in the
 * same order: version needed, flags, method, time, date, CRC-32, compressed and uncompressed size, name length.
 */
function writeFileFields(b: Buffer, at: number, f: FileFields): void {
  b.writeUInt16LE(NEEDED, at);
  b.writeUInt16LE(f.flags, at + 2);
  b.writeUInt16LE(f.method, at + 4);
  b.writeUInt16LE(DOS_TIME, at + 6);
  b.writeUInt16LE(DOS_DATE, at + 8);
  b.writeUInt32LE(f.crc, at + 10);
  b.writeUInt32LE(f.size, at + 14);
  b.writeUInt32LE(f.rawSize, at + 18);
  b.writeUInt16LE(f.nameLength, at + 22);
}

/**
 * The bytes of entry `name` of a zip (stored or deflated; no zip64, as {@link zip} writes), or null when the
 * archive has no such entry or is no zip. Reads the central directory, so it finds entries of any writer.
 *
 * @example
 *   readZipEntry(readFileSync('layer.zip'), 'share/fpm-bridge/layer.json')
 */
export function readZipEntry(archive: Uint8Array, name: string): Buffer | null {
  const bytes = Buffer.from(archive.buffer, archive.byteOffset, archive.byteLength);
  // The end-of-central-directory record: 22 bytes, plus a comment of up to 65535 bytes after it.
  let end = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 0xffff); i--) {
    if (bytes.readUInt32LE(i) === 0x06054b50) {
      end = i;
      break;
    }
  }
  if (end < 0) return null;
  const count = bytes.readUInt16LE(end + 10);
  let at = bytes.readUInt32LE(end + 16);
  for (let n = 0; n < count && at + 46 <= bytes.length; n++) {
    if (bytes.readUInt32LE(at) !== 0x02014b50) return null;
    const method = bytes.readUInt16LE(at + 10);
    const size = bytes.readUInt32LE(at + 20);
    const nameLength = bytes.readUInt16LE(at + 28);
    const skip = nameLength + bytes.readUInt16LE(at + 30) + bytes.readUInt16LE(at + 32);
    if (bytes.toString('utf8', at + 46, at + 46 + nameLength) === name) {
      const local = bytes.readUInt32LE(at + 42);
      const start = local + 30 + bytes.readUInt16LE(local + 26) + bytes.readUInt16LE(local + 28);
      const data = bytes.subarray(start, start + size);
      return method === 8 ? inflateRawSync(data) : Buffer.from(data);
    }
    at += 46 + skip;
  }
  return null;
}
