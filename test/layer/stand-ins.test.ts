// Stand-in shared objects and trimmed ICU data, checked against this host's own loader and libraries: a
// stand-in must satisfy a BIND_NOW library's versioned needs, and do what its behaviour says when called.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { EM_X86_64, parseElf, parseExports } from '../../layer/elf.ts';
import { filterIcuData, keepIcuItem } from '../../layer/icu-data.ts';
import type { LibraryClosure } from '../../layer/libraries.ts';
import { elfHash, writeStandIn } from '../../layer/stand-in.ts';
import { chooseStandIns } from '../../layer/stand-ins.ts';

const work = mkdtempSync(join(tmpdir(), 'fpm-bridge-stand-in-'));
after(() => rmSync(work, { recursive: true, force: true }));

// libpng, which Python does not load itself, stood in for; FreeType (BIND_NOW) needs it under PNG16_0.
const LIBPNG = '/usr/lib/x86_64-linux-gnu/libpng16.so.16';
const LIBFREETYPE = '/usr/lib/x86_64-linux-gnu/libfreetype.so.6';
const skip =
  process.arch !== 'x64'
    ? 'the loader checks run x86-64 stand-ins'
    : !existsSync(LIBPNG) || !existsSync(LIBFREETYPE)
      ? `${LIBPNG} and ${LIBFREETYPE} are needed (apt-get install libfreetype6)`
      : false;

/** Runs Python's ctypes in a process whose loader finds the stand-ins in `dir` first. */
function python(dir: string, code: string) {
  return spawnSync('python3', ['-c', code], {
    encoding: 'utf8',
    env: { ...process.env, LD_LIBRARY_PATH: dir },
  });
}

describe('writeStandIn', { skip }, () => {
  const exports = parseExports(readFileSync(LIBPNG), LIBPNG);
  const SONAME = 'libpng16.so.16';
  const load = `import ctypes\npng = ctypes.CDLL("${SONAME}")\n`;

  it('mirrors a library’s exports and versions, so that a BIND_NOW library needing it loads', () => {
    const dir = mkdtempSync(join(work, 'returns-'));
    const standIn = writeStandIn({ soname: SONAME, machine: EM_X86_64, exports, behaviour: { returns: -1 } });
    writeFileSync(join(dir, SONAME), standIn);
    assert.equal(parseElf(standIn).soname, SONAME);
    assert.deepEqual(parseElf(standIn).needed, []);
    // FreeType needs libpng's functions under version PNG16_0, and binds them all as it loads.
    assert.ok(exports.some((e) => e.version === 'PNG16_0' && e.name === 'png_create_read_struct'));
    const r = python(
      dir,
      `import ctypes\nft = ctypes.CDLL("${LIBFREETYPE}")\n${load}print(png.png_access_version_number(), png.png_get_io_ptr(None))`,
    );
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, '-1 -1\n');
  });

  it('returns 0 for every function when told to', () => {
    const dir = mkdtempSync(join(work, 'zero-'));
    const standIn = writeStandIn({ soname: SONAME, machine: EM_X86_64, exports, behaviour: { returns: 0 } });
    writeFileSync(join(dir, SONAME), standIn);
    const r = python(dir, `${load}print(png.png_access_version_number(), png.png_get_io_ptr(None))`);
    assert.equal(r.stdout, '0 0\n');
  });

  it('ends the process with status 127 and its message when a failing stand-in is called', () => {
    const dir = mkdtempSync(join(work, 'fail-'));
    const message = `fpm-bridge layer: ${SONAME} is a stand-in`;
    const standIn = writeStandIn({
      soname: SONAME,
      machine: EM_X86_64,
      exports,
      behaviour: { fail: message },
    });
    writeFileSync(join(dir, SONAME), standIn);
    const r = python(
      dir,
      `${load}print("loaded", flush=True)\npng.png_access_version_number()\nprint("not reached")`,
    );
    assert.equal(r.stdout, 'loaded\n');
    assert.equal(r.stderr, `${message}\n`);
    assert.equal(r.status, 127);
  });

  it('hashes names as the System V ABI does', () => {
    assert.equal(elfHash(''), 0);
    assert.equal(elfHash('printf'), 0x077905a6);
    // The vna_hash every x86-64 program's Verneed carries for glibc's base version.
    assert.equal(elfHash('GLIBC_2.2.5'), 0x09691a75);
  });
});

/** An ICU common data package of `items`, laid out as ICU's pkgdata writes one. */
function icuPackage(items: [string, string][]): Buffer {
  const header = Buffer.alloc(32);
  header.writeUInt16LE(32, 0);
  header.set([0xda, 0x27], 2);
  header.write('CmnD', 12, 'latin1');
  const toc = Buffer.alloc(4 + items.length * 8);
  toc.writeUInt32LE(items.length, 0);
  const names = Buffer.concat(items.map(([n]) => Buffer.from(`${n}\0`)));
  let at = Math.ceil((toc.length + names.length) / 16) * 16;
  const body: Buffer[] = [];
  let nameAt = toc.length;
  items.forEach(([n, data], i) => {
    toc.writeUInt32LE(nameAt, 4 + i * 8);
    toc.writeUInt32LE(at, 8 + i * 8);
    nameAt += n.length + 1;
    const padded = Buffer.alloc(Math.ceil(data.length / 16) * 16);
    padded.write(data, 'latin1');
    body.push(padded);
    at += padded.length;
  });
  const head = Buffer.concat([toc, names]);
  return Buffer.concat([header, head, Buffer.alloc(Math.ceil(head.length / 16) * 16 - head.length), ...body]);
}

/** The items of a package, by name, with their bytes up to the next item (padding included). */
function icuItems(blob: Buffer): Map<string, string> {
  const toc = blob.subarray(blob.readUInt16LE(0));
  const count = toc.readUInt32LE(0);
  const out = new Map<string, string>();
  for (let i = 0; i < count; i++) {
    const nameAt = toc.readUInt32LE(4 + i * 8);
    const end = i + 1 < count ? toc.readUInt32LE(8 + (i + 1) * 8) : toc.length;
    out.set(
      toc.toString('latin1', nameAt, toc.indexOf(0, nameAt)),
      toc.toString('latin1', toc.readUInt32LE(8 + i * 8), end).replace(/\0+$/, ''),
    );
  }
  return out;
}

describe('filterIcuData', () => {
  it('keeps formats, collation, zones and the web’s converters; drops display names, dictionaries and rare converters', () => {
    const blob = icuPackage([
      ['icudt76l/brkitr/cjdict.dict', 'dictionary'],
      ['icudt76l/brkitr/word.brk', 'rules'],
      ['icudt76l/coll/de.res', 'collation'],
      ['icudt76l/de.res', 'formats'],
      ['icudt76l/ibm-037_P100-1995.cnv', 'ebcdic'],
      ['icudt76l/ibm-5348_P100-1997.cnv', 'windows-1252'],
      ['icudt76l/lang/de.res', 'Deutsch'],
      ['icudt76l/region/de.res', 'Deutschland'],
      ['icudt76l/unit/de.res', 'Meter'],
      ['icudt76l/zone/de.res', 'Mitteleuropäische Zeit'],
    ]);
    const kept = filterIcuData(blob, keepIcuItem);
    assert.deepEqual(
      [...icuItems(kept)],
      [
        ['icudt76l/brkitr/word.brk', 'rules'],
        ['icudt76l/coll/de.res', 'collation'],
        ['icudt76l/de.res', 'formats'],
        ['icudt76l/ibm-5348_P100-1997.cnv', 'windows-1252'],
        ['icudt76l/zone/de.res', 'Mitteleuropäische Zeit'],
      ],
    );
    // Every item starts at a 16-byte boundary of the package, as ICU's own packages do.
    const toc = kept.subarray(32);
    for (let i = 0; i < toc.readUInt32LE(0); i++) assert.equal(toc.readUInt32LE(8 + i * 8) % 16, 0);
  });

  it('refuses bytes that are no ICU common data package', () => {
    assert.throws(() => filterIcuData(Buffer.alloc(64), () => true), /holds no ICU common data package/);
  });
});

describe('chooseStandIns', () => {
  /** A DT_NEEDED graph: `edges` from each file to what it needs; the walk skips what `leaves` names. */
  function walker(edges: Record<string, string[]>) {
    return (leaves: ReadonlySet<string>): LibraryClosure => {
      const libraries = new Map<string, string>();
      const consumers = new Map<string, Set<string>>();
      const queue = ['php-fpm8.4', 'gd.so', 'imagick.so'].filter((r) => r in edges);
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
        for (const soname of edges[next] ?? []) {
          consumers.set(soname, (consumers.get(soname) ?? new Set()).add(next));
          if (libraries.has(soname)) continue;
          libraries.set(soname, `/stage/${soname}`);
          if (!leaves.has(soname)) queue.push(soname);
        }
      }
      return { libraries, consumers, loader: { name: 'ld-linux-x86-64.so.2', file: '/stage/ld' } };
    };
  }

  it('replaces what only its allowed consumers need, and leaves out what only the replaced ones need', () => {
    const { closure, standIns } = chooseStandIns(
      walker({
        'php-fpm8.4': ['libsystemd.so.0', 'libc.so.6'],
        'gd.so': ['libgd.so.3'],
        'libgd.so.3': ['libtiff.so.6', 'libXpm.so.4', 'libc.so.6'],
        'libtiff.so.6': ['libLerc.so.4'],
        'libXpm.so.4': ['libX11.so.6'],
        'libsystemd.so.0': ['libcap.so.2'],
      }),
    );
    assert.deepEqual([...standIns.keys()].sort(), ['libXpm.so.4', 'libsystemd.so.0', 'libtiff.so.6']);
    assert.deepEqual([...closure.libraries.keys()].sort(), [
      'libXpm.so.4',
      'libc.so.6',
      'libgd.so.3',
      'libsystemd.so.0',
      'libtiff.so.6',
    ]);
  });

  it('keeps a library real when anything else needs it (imagick reads TIFF)', () => {
    const { closure, standIns } = chooseStandIns(
      walker({
        'gd.so': ['libgd.so.3'],
        'imagick.so': ['libMagickCore-7.Q16.so.10'],
        'libgd.so.3': ['libtiff.so.6'],
        'libMagickCore-7.Q16.so.10': ['libtiff.so.6'],
        'libtiff.so.6': ['libLerc.so.4'],
      }),
    );
    assert.deepEqual([...standIns.keys()], []);
    assert.ok(closure.libraries.has('libLerc.so.4'));
  });
});
