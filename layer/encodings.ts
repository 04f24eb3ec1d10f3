// The character sets the layer keeps, of glibc's iconv modules and of ICU's converters: those of the WHATWG
// Encoding Standard — the legacy encodings browsers still send and accept, so what a web app meets — the
// Unicode ones, UTF-7 (IMAP), and the IBM PC code pages 437 and 850–869 (ZIP file names, old CSV exports).
// Left out: EBCDIC, the national ISO 646 variants and the other rare sets — on arm64, where each module is
// padded to 64 KiB pages, glibc's would be 12 MiB.

/**
 * ICU's converters (`.cnv` tables, by ICU's internal name) the layer keeps. UTF-8/16/32, US-ASCII and
 * ISO-8859-1 need no table; ISO-2022-JP is built from Shift_JIS.
 */
export const KEPT_ICU_CONVERTERS: ReadonlySet<string> = new Set([
  'ibm-866_P100-1995',
  'ibm-912_P100-1995',
  'ibm-913_P100-2000',
  'ibm-914_P100-1995',
  'ibm-915_P100-1995',
  'ibm-1089_P100-1995',
  'ibm-9005_X110-2007',
  'ibm-5012_P100-1999',
  'iso-8859_10-1998',
  'ibm-921_P100-1995',
  'iso-8859_14-1998',
  'ibm-923_P100-1998',
  'ibm-878_P100-1996',
  'ibm-1168_P100-2002',
  'macos-0_2-10.2',
  'macos-7_3-10.2',
  'windows-874-2000',
  'ibm-5346_P100-1998',
  'ibm-5347_P100-1998',
  'ibm-5348_P100-1997',
  'ibm-5349_P100-1998',
  'ibm-5350_P100-1998',
  'ibm-9447_P100-2002',
  'ibm-9448_X100-2005',
  'ibm-9449_P100-2002',
  'ibm-5354_P100-1998',
  'windows-936-2000',
  'gb18030',
  'gb18030-2022',
  'windows-950-2000',
  'euc-jp-2007',
  'ibm-33722_P12A_P12A-2009_U2',
  'ibm-943_P15A-2003',
  'ibm-970_P110_P110-2006_U2',
  'windows-949-2000',
  'ibm-437_P100-1995',
  'ibm-850_P100-1995',
  'ibm-851_P100-1995',
  'ibm-852_P100-1995',
  'ibm-855_P100-1995',
  'ibm-856_P100-1995',
  'ibm-857_P100-1995',
  'ibm-858_P100-1997',
  'ibm-860_P100-1995',
  'ibm-861_P100-1995',
  'ibm-862_P100-1995',
  'ibm-863_P100-1995',
  'ibm-864_X110-1999',
  'ibm-865_P100-1995',
  'ibm-866_P100-1995',
  'ibm-867_P100-1998',
  'ibm-868_P100-1995',
  'ibm-869_P100-1995',
]);

/**
 * glibc's iconv modules (`gconv/NAME.so`, by NAME) the layer keeps; the helper libraries they load
 * (`libJIS.so`, …) come with them.
 */
const KEPT_GCONV_MODULES: ReadonlySet<string> = new Set([
  'UNICODE',
  'UTF-16',
  'UTF-32',
  'UTF-7',
  ...['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '13', '14', '15', '16'].map(
    (n) => `ISO8859-${n}`,
  ),
  ...['0', '1', '2', '3', '4', '5', '6', '7', '8'].map((n) => `CP125${n}`),
  'KOI8-R',
  'KOI8-U',
  'MACINTOSH',
  'TIS-620',
  'BIG5',
  'BIG5HKSCS',
  'GBK',
  'GB18030',
  'EUC-CN',
  'EUC-JP',
  'EUC-JP-MS',
  'ISO-2022-JP',
  'SJIS',
  'CP932',
  'EUC-KR',
  'UHC',
  'IBM437',
  ...[
    '850',
    '851',
    '852',
    '855',
    '856',
    '857',
    '858',
    '860',
    '861',
    '862',
    '863',
    '864',
    '865',
    '866',
    '868',
    '869',
  ].map((n) => `IBM${n}`),
]);

/** Whether the layer keeps glibc's iconv module `name` (`SJIS.so`); the module list and cache always. */
export function keepGconvModule(name: string): boolean {
  if (name.startsWith('gconv-modules')) return true;
  return name.endsWith('.so') && KEPT_GCONV_MODULES.has(name.slice(0, -3));
}
