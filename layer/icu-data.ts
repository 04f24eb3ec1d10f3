import { LayerError } from '../proxy/errors.ts';
import { KEPT_ICU_CONVERTERS } from './encodings.ts';

/**
 * What the layer leaves out of ICU's data (about 13 MiB of 30), each part reachable from PHP only through
 * the functions named:
 * - `lang/`, `region/`: names of languages, scripts and regions in every language —
 *   `Locale::getDisplayLanguage()`, `getDisplayRegion()`, `getDisplayName()` answer with the codes;
 * - `unit/`: names of measurement units — only MessageFormatter skeletons `{n, number, ::unit/…}`;
 * - `brkitr/*.dict`: word dictionaries for Chinese, Japanese, Thai, Lao, Khmer and Burmese —
 *   `IntlBreakIterator::createWordInstance()` splits those scripts per character or per run instead;
 * - converters other than {@link KEPT_ICU_CONVERTERS} — `UConverter` for EBCDIC and other rare encodings.
 * Kept: every locale's formats, collation, currencies, time zone names, plural and spell-out rules,
 * transliteration, normalization, IDNA, character names, confusables.
 */
export function keepIcuItem(name: string): boolean {
  // `icudt76l/lang/de.res` → `lang/de.res`
  const item = name.slice(name.indexOf('/') + 1);
  if (/^(lang|region|unit)\//.test(item)) return false;
  if (/^brkitr\/.*\.dict$/.test(item)) return false;
  if (item.endsWith('.cnv')) return KEPT_ICU_CONVERTERS.has(item.slice(0, -4));
  return true;
}

/**
 * ICU's common data package (the `icudtNN_dat` blob of libicudata) with only the items `keep` accepts.
 * Format (ICU's `ucmndata.h`, `pkgdata`):
 *
 * ```
 *  header (headerSize bytes: u16 headerSize, 0xda 0x27, UDataInfo with dataFormat "CmnD")
 *  u32 count · count × (u32 nameOffset, u32 dataOffset)      ← offsets from here
 *  names, NUL-terminated, sorted · items, each at a 16-byte boundary (an item ends where the next begins)
 * ```
 */
export function filterIcuData(blob: Buffer, keep: (name: string) => boolean): Buffer {
  const headerSize = blob.readUInt16LE(0);
  if (blob[2] !== 0xda || blob[3] !== 0x27 || blob.toString('latin1', 12, 16) !== 'CmnD') {
    throw new LayerError('libicudata holds no ICU common data package ("CmnD") where expected');
  }
  const toc = blob.subarray(headerSize);
  const count = toc.readUInt32LE(0);
  const items: { name: string; data: Buffer }[] = [];
  for (let i = 0; i < count; i++) {
    const nameAt = toc.readUInt32LE(4 + i * 8);
    const start = toc.readUInt32LE(8 + i * 8);
    const end = i + 1 < count ? toc.readUInt32LE(8 + (i + 1) * 8) : toc.length;
    const name = toc.toString('latin1', nameAt, toc.indexOf(0, nameAt));
    if (keep(name)) items.push({ name, data: toc.subarray(start, end) });
  }
  const names = Buffer.concat(items.map((it) => Buffer.from(`${it.name}\0`, 'latin1')));
  const tocSize = 4 + items.length * 8;
  let at = Math.ceil((tocSize + names.length) / 16) * 16;
  const offsets = items.map((it) => {
    const here = at;
    at = Math.ceil((at + it.data.length) / 16) * 16;
    return here;
  });
  const out = Buffer.alloc(
    headerSize + (offsets.length === 0 ? at : offsets.at(-1)! + items.at(-1)!.data.length),
  );
  blob.copy(out, 0, 0, headerSize);
  const body = out.subarray(headerSize);
  body.writeUInt32LE(items.length, 0);
  let nameAt = tocSize;
  items.forEach((it, i) => {
    body.writeUInt32LE(nameAt, 4 + i * 8);
    body.writeUInt32LE(offsets[i]!, 8 + i * 8);
    nameAt += it.name.length + 1;
    it.data.copy(body, offsets[i]!);
  });
  names.copy(body, tocSize);
  return out;
}
