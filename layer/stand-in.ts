import { LayerError } from '../proxy/errors.ts';
import { type ElfExport, EM_AARCH64, EM_X86_64 } from './elf.ts';

/**
 * What every function of a stand-in does when called:
 * - `fail`: writes `message` to stderr and ends the process with status 127 (as the loader does on a
 *   missing symbol), for code no PHP function reaches: if it ever is, the log says which library and why,
 *   instead of the process running on with made-up results;
 * - a number: returns it, for a library whose callers handle that answer as "not available" (libcurl
 *   treats a NULL `RTMP_Alloc()` as out of memory and fails that one transfer).
 */
export type StandInBehaviour = { fail: string } | { returns: 0 | -1 };

export interface StandInSpec {
  soname: string;
  machine: number;
  /** The real library's exports, mirrored name for name and version for version. */
  exports: readonly ElfExport[];
  behaviour: StandInBehaviour;
  /** Bytes to export as one data symbol instead (a replacement data blob, such as ICU's common data). */
  data?: { name: string; bytes: Buffer };
}

/** The instructions every function of a stand-in shares. `message` lies right after them. */
function code(machine: number, behaviour: StandInBehaviour, messageLength: number): Buffer {
  if (machine === EM_X86_64) {
    if ('returns' in behaviour) {
      // xor eax,eax ; ret   /   or rax,-1 ; ret
      return Buffer.from(behaviour.returns === 0 ? [0x31, 0xc0, 0xc3] : [0x48, 0x83, 0xc8, 0xff, 0xc3]);
    }
    const b = Buffer.alloc(36);
    // lea rsi,[rip+29] (the message follows the 36 bytes; rip is the next instruction, at 7)
    b.set([0x48, 0x8d, 0x35], 0);
    b.writeInt32LE(36 - 7, 3);
    b[7] = 0xba; // mov edx,len
    b.writeUInt32LE(messageLength, 8);
    b.set([0xbf, 2, 0, 0, 0], 12); // mov edi,2 (stderr)
    b.set([0xb8, 1, 0, 0, 0], 17); // mov eax,1 (write)
    b.set([0x0f, 0x05], 22); // syscall
    b.set([0xbf, 127, 0, 0, 0], 24); // mov edi,127
    b.set([0xb8, 231, 0, 0, 0], 29); // mov eax,231 (exit_group)
    b.set([0x0f, 0x05], 34); // syscall
    return b;
  }
  if (machine === EM_AARCH64) {
    const words =
      'returns' in behaviour
        ? // movz x0,#0 / movn x0,#0 (-1) ; ret
          [behaviour.returns === 0 ? 0xd2800000 : 0x92800000, 0xd65f03c0]
        : [
            // adr x1,message (8 instructions on, 32 bytes from this one)
            0x10000001 | ((32 & 3) << 29) | ((32 >> 2) << 5),
            0xd2800002 | (messageLength << 5), // movz x2,#len
            0xd2800040, // movz x0,#2 (stderr)
            0xd2800808, // movz x8,#64 (write)
            0xd4000001, // svc #0
            0xd2800fe0, // movz x0,#127
            0xd2800bc8, // movz x8,#94 (exit_group)
            0xd4000001, // svc #0
          ];
    const b = Buffer.alloc(words.length * 4);
    for (const [i, w] of words.entries()) b.writeUInt32LE(w >>> 0, i * 4);
    return b;
  }
  throw new LayerError(`no stand-in code for ELF machine ${machine}`);
}

/** The System V ABI's ELF hash (DT_HASH buckets and Verdef's vd_hash). */
export function elfHash(name: string): number {
  let h = 0;
  for (let i = 0; i < name.length; i++) {
    h = ((h << 4) + name.charCodeAt(i)) >>> 0;
    const g = h & 0xf0000000;
    if (g !== 0) h ^= g >>> 24;
    h &= ~g >>> 0;
  }
  return h >>> 0;
}

class Strings {
  private readonly parts: Buffer[] = [Buffer.alloc(1)];
  private readonly offsets = new Map<string, number>();
  private size = 1;
  add(s: string): number {
    const known = this.offsets.get(s);
    if (known !== undefined) return known;
    const at = this.size;
    const bytes = Buffer.from(`${s}\0`, 'latin1');
    this.parts.push(bytes);
    this.size += bytes.length;
    this.offsets.set(s, at);
    return at;
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;
/** Segment alignment: 64 KiB suits every page size an arm64 or x86-64 kernel uses. */
const PAGE = 0x10000;

/**
 * A shared object that the dynamic loader accepts in place of `spec.soname`: the same exported symbols
 * under the same versions (so that BIND_NOW objects needing it load), and nothing behind them but
 * {@link StandInBehaviour}. Built here rather than compiled, so a layer build needs no C toolchain for
 * either architecture. Layout (no section headers; the loader reads only segments and the dynamic table):
 *
 * ```
 *  R X  ELF header · program headers · .hash · .dynsym · .dynstr · .gnu.version · .gnu.version_d
 *       · code + message · data blob
 *  RW   .dynamic (glibc adjusts its entries in place) · zeroed space for the data symbols
 * ```
 */
export function writeStandIn(spec: StandInSpec): Buffer {
  const { machine, behaviour } = spec;
  const message = 'fail' in behaviour ? Buffer.from(`${behaviour.fail}\n`) : Buffer.alloc(0);
  const text = Buffer.concat([code(machine, behaviour, message.length), message]);

  const strings = new Strings();
  const soname = strings.add(spec.soname);
  // Version indexes: 0 local, 1 global (the base definition, named for the file), then each version.
  const versionNames = [...new Set(spec.exports.map((e) => e.version).filter((v) => v !== null))];
  const versionIndex = new Map(versionNames.map((v, i) => [v, i + 2]));
  const symbols = spec.exports.map((e) => ({ ...e, nameAt: strings.add(e.name) }));
  const dataSymbol = spec.data === undefined ? null : { nameAt: strings.add(spec.data.name) };
  const versionNameAt = versionNames.map((v) => strings.add(v));
  const dynstr = strings.bytes();

  const count = 1 + symbols.length + (dataSymbol === null ? 0 : 1);
  const phnum = 4;
  const hashAt = 64 + phnum * 56;
  const nbucket = Math.max(1, Math.ceil(count / 2));
  const hashSize = (2 + nbucket + count) * 4;
  const dynsymAt = align(hashAt + hashSize, 8);
  const dynstrAt = dynsymAt + count * 24;
  const versymAt = align(dynstrAt + dynstr.length, 2);
  const verdefAt = align(versymAt + count * 2, 4);
  const verdefCount = 1 + versionNames.length;
  const textAt = align(verdefAt + verdefCount * 28, 16);
  const blobAt = align(textAt + text.length, 16);
  const rxEnd = blobAt + (spec.data?.bytes.length ?? 0);
  // The RW segment starts in the file right after, and in memory on the next page at the same page offset.
  const dynamicAt = align(rxEnd, 8);
  const dynamicVaddr = align(rxEnd, PAGE) + (dynamicAt % PAGE);
  // The dynamic table, DT_NULL last; its addresses are in the R X segment, where address = file offset.
  const dynamic: [number, number][] = [
    [14, soname], // DT_SONAME
    [4, hashAt], // DT_HASH
    [5, dynstrAt], // DT_STRTAB
    [6, dynsymAt], // DT_SYMTAB
    [10, dynstr.length], // DT_STRSZ
    [11, 24], // DT_SYMENT
    [0x6ffffff0, versymAt], // DT_VERSYM
    [0x6ffffffc, verdefAt], // DT_VERDEF
    [0x6ffffffd, verdefCount], // DT_VERDEFNUM
    [0, 0], // DT_NULL
  ];
  const dynamicEntries = dynamic.length;
  const bssVaddr = dynamicVaddr + dynamicEntries * 16;
  const dataSizes = symbols.map((s) => (s.kind === 'data' ? align(Math.max(s.size, 8), 16) : 0));
  const bssSize = dataSizes.reduce((a, b) => a + b, 0);
  const fileSize = dynamicAt + dynamicEntries * 16;

  const out = Buffer.alloc(fileSize);
  // ELF header: 64-bit, little-endian, System V ABI, ET_DYN.
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0);
  out.writeUInt16LE(3, 16); // ET_DYN
  out.writeUInt16LE(machine, 18);
  out.writeUInt32LE(1, 20); // EV_CURRENT
  out.writeBigUInt64LE(64n, 32); // e_phoff
  out.writeUInt16LE(64, 52); // e_ehsize
  out.writeUInt16LE(56, 54); // e_phentsize
  out.writeUInt16LE(phnum, 56);
  out.writeUInt16LE(64, 58); // e_shentsize, with no sections

  const phdr = (
    i: number,
    type: number,
    flags: number,
    offset: number,
    vaddr: number,
    filesz: number,
    memsz: number,
    palign: number,
  ) => {
    const at = 64 + i * 56;
    out.writeUInt32LE(type, at);
    out.writeUInt32LE(flags, at + 4);
    out.writeBigUInt64LE(BigInt(offset), at + 8);
    out.writeBigUInt64LE(BigInt(vaddr), at + 16);
    out.writeBigUInt64LE(BigInt(vaddr), at + 24);
    out.writeBigUInt64LE(BigInt(filesz), at + 32);
    out.writeBigUInt64LE(BigInt(memsz), at + 40);
    out.writeBigUInt64LE(BigInt(palign), at + 48);
  };
  const R = 4;
  const W = 2;
  const X = 1;
  phdr(0, 1, R | X, 0, 0, rxEnd, rxEnd, PAGE); // PT_LOAD
  phdr(1, 1, R | W, dynamicAt, dynamicVaddr, dynamicEntries * 16, dynamicEntries * 16 + bssSize, PAGE);
  phdr(2, 2, R | W, dynamicAt, dynamicVaddr, dynamicEntries * 16, dynamicEntries * 16, 8); // PT_DYNAMIC
  // PT_GNU_STACK without X: the object does not ask for an executable stack (glibc refuses one in dlopen).
  phdr(3, 0x6474e551, R | W, 0, 0, 0, 0, 16);

  // .dynsym: the null symbol, the exports, the data blob.
  const values: number[] = [];
  let bss = bssVaddr;
  symbols.forEach((s, i) => {
    values.push(s.kind === 'code' ? textAt : bss);
    bss += dataSizes[i]!;
  });
  const sym = (i: number, nameAt: number, type: number, value: number, size: number) => {
    const at = dynsymAt + i * 24;
    out.writeUInt32LE(nameAt, at);
    out[at + 4] = (1 << 4) | type; // STB_GLOBAL
    out.writeUInt16LE(1, at + 6); // any defined section index: the loader only tests for SHN_UNDEF
    out.writeBigUInt64LE(BigInt(value), at + 8);
    out.writeBigUInt64LE(BigInt(size), at + 16);
  };
  const names: string[] = [''];
  symbols.forEach((s, i) => {
    sym(i + 1, s.nameAt, s.kind === 'code' ? 2 : 1, values[i]!, s.kind === 'code' ? text.length : s.size);
    names.push(s.name);
    const v = s.version === null ? 1 : versionIndex.get(s.version)!;
    out.writeUInt16LE(v | (s.hidden ? 0x8000 : 0), versymAt + (i + 1) * 2);
  });
  if (dataSymbol !== null && spec.data !== undefined) {
    sym(count - 1, dataSymbol.nameAt, 1, blobAt, spec.data.bytes.length);
    names.push(spec.data.name);
    out.writeUInt16LE(1, versymAt + (count - 1) * 2);
    spec.data.bytes.copy(out, blobAt);
  }
  dynstr.copy(out, dynstrAt);
  text.copy(out, textAt);

  // .hash: buckets hold the last symbol of each chain, chains link to the previous one.
  out.writeUInt32LE(nbucket, hashAt);
  out.writeUInt32LE(count, hashAt + 4);
  for (let i = 1; i < count; i++) {
    const bucket = hashAt + 8 + (elfHash(names[i]!) % nbucket) * 4;
    out.writeUInt32LE(out.readUInt32LE(bucket), hashAt + 8 + nbucket * 4 + i * 4);
    out.writeUInt32LE(i, bucket);
  }

  // .gnu.version_d: the base definition, then one per version, each Verdef (20 bytes) + one Verdaux (8).
  const defs = [
    { flags: 1, nameAt: soname, name: spec.soname },
    ...versionNames.map((v, i) => ({ flags: 0, nameAt: versionNameAt[i]!, name: v })),
  ];
  defs.forEach((d, i) => {
    const at = verdefAt + i * 28;
    out.writeUInt16LE(1, at); // vd_version
    out.writeUInt16LE(d.flags, at + 2);
    out.writeUInt16LE(i + 1, at + 4); // vd_ndx
    out.writeUInt16LE(1, at + 6); // vd_cnt
    out.writeUInt32LE(elfHash(d.name), at + 8);
    out.writeUInt32LE(20, at + 12); // vd_aux
    out.writeUInt32LE(i === defs.length - 1 ? 0 : 28, at + 16); // vd_next
    out.writeUInt32LE(d.nameAt, at + 20); // vda_name
  });

  dynamic.forEach(([tag, value], i) => {
    out.writeBigInt64LE(BigInt(tag), dynamicAt + i * 16);
    out.writeBigUInt64LE(BigInt(value), dynamicAt + i * 16 + 8);
  });
  return out;
}

export { EM_AARCH64, EM_X86_64 };
