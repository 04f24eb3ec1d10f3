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
