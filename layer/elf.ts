import { readFileSync } from 'node:fs';
import { LayerError } from '../proxy/errors.ts';

/** What the dynamic loader reads from a shared object or executable (the parts a layer build needs). */
export interface ElfDynamicInfo {
  /** `e_machine`: 62 = x86-64, 183 = AArch64. */
  machine: number;
  /** PT_INTERP: the loader an executable asks for, e.g. `/lib64/ld-linux-x86-64.so.2`; null for libraries. */
  interpreter: string | null;
  /** DT_NEEDED entries, in file order (the loader's breadth-first order starts from them). */
  needed: string[];
  soname: string | null;
  /** DT_RPATH (searched before LD_LIBRARY_PATH) and DT_RUNPATH (after it); null when absent. */
  rpath: string | null;
  runpath: string | null;
}

export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0n;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;
const DT_SONAME = 14n;
const DT_RPATH = 15n;
const DT_RUNPATH = 29n;

/** True when the bytes start with the ELF magic `\x7fELF`. */
export function isElf(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46
  );
}

/**
 * Reads the dynamic section of a 64-bit little-endian ELF file (the only kind Lambda runs: x86-64 and
 * AArch64), the way `readelf -d` / `readelf -l` show it, without binutils (which cannot always read a
 * foreign architecture's files). Layout per the System V gABI:
 *
 * ```
 *  ELF header ─ e_phoff ─► program headers ─ PT_DYNAMIC ─► (d_tag, d_val) pairs, DT_NULL-terminated
 *                                           └ PT_LOAD ───► maps DT_STRTAB's address to a file offset
 * ```
 *
 * @example
 *   parseElf(readFileSync('/usr/sbin/php-fpm8.2')).needed  // ['libm.so.6', 'libapparmor.so.1', ...]
 */
export function parseElf(bytes: Buffer, name = 'file'): ElfDynamicInfo {
  if (!isElf(bytes)) throw new LayerError(`${name} is not an ELF file`);
  // EI_CLASS 2 = 64-bit, EI_DATA 1 = little-endian.
  if (bytes[4] !== 2 || bytes[5] !== 1) {
    throw new LayerError(
      `${name} is not a 64-bit little-endian ELF file — Lambda runs only x86_64 and arm64`,
    );
  }
  const machine = bytes.readUInt16LE(18);
  const phoff = Number(bytes.readBigUInt64LE(32));
  const phentsize = bytes.readUInt16LE(54);
  const phnum = bytes.readUInt16LE(56);
  const loads: { vaddr: bigint; offset: bigint; filesz: bigint }[] = [];
  let dynamic: { offset: number; size: number } | null = null;
  let interpreter: string | null = null;
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    const type = bytes.readUInt32LE(at);
    const offset = bytes.readBigUInt64LE(at + 8);
    const vaddr = bytes.readBigUInt64LE(at + 16);
    const filesz = bytes.readBigUInt64LE(at + 32);
    if (type === PT_LOAD) loads.push({ vaddr, offset, filesz });
    else if (type === PT_DYNAMIC) dynamic = { offset: Number(offset), size: Number(filesz) };
    else if (type === PT_INTERP) interpreter = cString(bytes, Number(offset));
  }
  const info: ElfDynamicInfo = { machine, interpreter, needed: [], soname: null, rpath: null, runpath: null };
  if (dynamic === null) return info; // statically linked
  const entries: [bigint, bigint][] = [];
  for (let at = dynamic.offset; at + 16 <= dynamic.offset + dynamic.size; at += 16) {
    const tag = bytes.readBigInt64LE(at);
    if (tag === DT_NULL) break;
    entries.push([tag, bytes.readBigUInt64LE(at + 8)]);
  }
  const strtabAddr = entries.find(([tag]) => tag === DT_STRTAB)?.[1];
  if (strtabAddr === undefined) throw new LayerError(`${name} has a dynamic section without DT_STRTAB`);
  const load = loads.find((l) => strtabAddr >= l.vaddr && strtabAddr < l.vaddr + l.filesz);
  if (load === undefined) throw new LayerError(`${name}: DT_STRTAB lies outside every PT_LOAD segment`);
  const strtab = Number(strtabAddr - load.vaddr + load.offset);
  for (const [tag, value] of entries) {
    const str = () => cString(bytes, strtab + Number(value));
    if (tag === DT_NEEDED) info.needed.push(str());
    else if (tag === DT_SONAME) info.soname = str();
    else if (tag === DT_RPATH) info.rpath = str();
    else if (tag === DT_RUNPATH) info.runpath = str();
  }
  return info;
}

/** {@link parseElf} on a file's contents. */
export function readElf(path: string): ElfDynamicInfo {
  return parseElf(readFileSync(path), path);
}

function cString(bytes: Buffer, at: number): string {
  const end = bytes.indexOf(0, at);
  return bytes.toString('latin1', at, end === -1 ? bytes.length : end);
}

/** One symbol a shared object exports, as the dynamic loader matches it. */
export interface ElfExport {
  name: string;
  /** Code (FUNC, IFUNC) or data (OBJECT, NOTYPE); TLS and absolute symbols are not exports a stand-in mirrors. */
  kind: 'code' | 'data';
  /** st_size: bytes a data symbol spans (what a copy relocation would copy). */
  size: number;
  /** st_value: its address in the object. */
  address: number;
  /** The version it is defined under (`LIBSYSTEMD_209`), or null when unversioned. */
  version: string | null;
  /** Defined as `name@VERSION` (an older, non-default version) rather than `name@@VERSION`. */
  hidden: boolean;
}

const SHT_DYNSYM = 11;
const SHT_GNU_VERDEF = 0x6ffffffd;
const SHT_GNU_VERSYM = 0x6fffffff;
const STT_OBJECT = 1;
const STT_FUNC = 2;
const STT_TLS = 6;
const STT_GNU_IFUNC = 10;
const STB_GLOBAL = 1;
const STB_WEAK = 2;
const SHN_UNDEF = 0;
const SHN_ABS = 0xfff1;
const VER_FLG_BASE = 1;

/**
 * The symbols a shared object exports (defined, global or weak, default visibility), with their versions,
 * read through its section headers as `readelf --dyn-syms -V` does. Throws when it exports thread-local
 * data, which a stand-in cannot offer.
 */
export function parseExports(bytes: Buffer, name = 'file'): ElfExport[] {
  parseElf(bytes, name);
  const shoff = Number(bytes.readBigUInt64LE(40));
  const shentsize = bytes.readUInt16LE(58);
  const shnum = bytes.readUInt16LE(60);
  const sections = Array.from({ length: shnum }, (_, i) => {
    const at = shoff + i * shentsize;
    return {
      type: bytes.readUInt32LE(at + 4),
      offset: Number(bytes.readBigUInt64LE(at + 24)),
      size: Number(bytes.readBigUInt64LE(at + 32)),
      link: bytes.readUInt32LE(at + 40),
      info: bytes.readUInt32LE(at + 44),
    };
  });
  const dynsym = sections.find((s) => s.type === SHT_DYNSYM);
  if (dynsym === undefined) throw new LayerError(`${name} has no dynamic symbol table`);
  const strtab = sections[dynsym.link]!.offset;
  const versym = sections.find((s) => s.type === SHT_GNU_VERSYM);
  const verdef = sections.find((s) => s.type === SHT_GNU_VERDEF);
  // Version index → name, from the definitions this object makes (index 1, its base, names the file).
  const versions = new Map<number, string>();
  if (verdef !== undefined) {
    const names = sections[verdef.link]!.offset;
    for (let at = verdef.offset, i = 0; i < verdef.info; i++) {
      const flags = bytes.readUInt16LE(at + 2);
      const index = bytes.readUInt16LE(at + 4);
      const aux = bytes.readUInt32LE(at + 12);
      if ((flags & VER_FLG_BASE) === 0)
        versions.set(index, cString(bytes, names + bytes.readUInt32LE(at + aux)));
      at += bytes.readUInt32LE(at + 16);
    }
  }
  const out: ElfExport[] = [];
  for (let i = 1; i < dynsym.size / 24; i++) {
    const at = dynsym.offset + i * 24;
    const info = bytes[at + 4]!;
    const bind = info >> 4;
    const type = info & 0xf;
    const visibility = bytes[at + 5]! & 3;
    const shndx = bytes.readUInt16LE(at + 6);
    if ((bind !== STB_GLOBAL && bind !== STB_WEAK) || visibility !== 0) continue;
    if (shndx === SHN_UNDEF || shndx === SHN_ABS) continue;
    const symbol = cString(bytes, strtab + bytes.readUInt32LE(at));
    if (type === STT_TLS)
      throw new LayerError(`${name} exports thread-local ${symbol}: it cannot be stood in for`);
    const v = versym === undefined ? 0 : bytes.readUInt16LE(versym.offset + i * 2);
    out.push({
      name: symbol,
      kind: type === STT_FUNC || type === STT_GNU_IFUNC ? 'code' : 'data',
      size: type === STT_OBJECT ? Number(bytes.readBigUInt64LE(at + 16)) : 0,
      address: Number(bytes.readBigUInt64LE(at + 8)),
      version: versions.get(v & 0x7fff) ?? null,
      hidden: (v & 0x8000) !== 0,
    });
  }
  return out;
}

/** The bytes of a data symbol, `exported` by `parseExports` from the same file. */
export function symbolBytes(bytes: Buffer, exported: ElfExport, name = 'file'): Buffer {
  const phoff = Number(bytes.readBigUInt64LE(32));
  const phentsize = bytes.readUInt16LE(54);
  for (let i = 0; i < bytes.readUInt16LE(56); i++) {
    const at = phoff + i * phentsize;
    if (bytes.readUInt32LE(at) !== PT_LOAD) continue;
    const offset = Number(bytes.readBigUInt64LE(at + 8));
    const vaddr = Number(bytes.readBigUInt64LE(at + 16));
    const filesz = Number(bytes.readBigUInt64LE(at + 32));
    if (exported.address >= vaddr && exported.address + exported.size <= vaddr + filesz) {
      const start = exported.address - vaddr + offset;
      return bytes.subarray(start, start + exported.size);
    }
  }
  throw new LayerError(`${name}: ${exported.name} lies outside every PT_LOAD segment`);
}
