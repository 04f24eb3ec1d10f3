import type { LibraryClosure } from './libraries.ts';
import type { StandInBehaviour } from './stand-in.ts';

/**
 * A library the layer replaces with a stand-in ({@link writeStandIn}) when only `consumers` need it, because
 * what it does is out of PHP's reach there, or fails cleanly without it, and it (with what only it needs) is
 * large. Anything else that needs it — an extension chosen with `--extensions`, say imagick, which really
 * reads TIFF and HEIF — gets the real library.
 */
export interface StandInRule {
  soname: RegExp;
  /** The files (binaries by name, libraries by soname) allowed to need it; any other keeps it real. */
  consumers: RegExp;
  /** `fail` for code no PHP function reaches; a value for callers that take it as "not available". */
  behaviour: 'fail' | 0 | -1;
  /** What is not there without it, as the size report and the manifest say. */
  without: string;
  /** php.ini lines that keep PHP from reaching the stand-in where it otherwise would. */
  ini?: string;
}

const LIBGD = /^libgd\.so\./;

/**
 * The stand-ins of the default layer: about 25 MiB of image codecs, GnuTLS, X11 and Berkeley DB that PHP's
 * gd, curl and php-fpm link (or load) but never use, or use for one rare thing. Each is covered by a test that runs what PHP does
 * with it in the sandbox.
 */
export const STAND_INS: readonly StandInRule[] = [
  {
    soname: /^libaom\.so\./,
    consumers: /^libavif\.so\./,
    behaviour: 'fail',
    without: 'AVIF encoding: imageavif() is disabled (AVIF images still decode, with dav1d)',
    ini: '; libaom is a stand-in in this layer: AVIF images decode (dav1d) but cannot be encoded. A php.ini of the\n; app that sets disable_functions replaces this line: keep imageavif in it.\ndisable_functions = imageavif\n',
  },
  {
    soname: /^librav1e\.so\./,
    consumers: /^libavif\.so\./,
    behaviour: 'fail',
    without:
      'rav1e, an AV1 encoder libavif offers (libgd leaves the choice to libavif, which would take libaom)',
  },
  {
    soname: /^libSvtAv1Enc\.so\./,
    consumers: /^libavif\.so\./,
    behaviour: 'fail',
    without:
      'SVT-AV1, an AV1 encoder libavif offers (libgd leaves the choice to libavif, which would take libaom)',
  },
  {
    soname: /^libgav1\.so\./,
    consumers: /^libavif\.so\./,
    behaviour: 'fail',
    without: 'libgav1, an AV1 decoder libavif offers; it takes dav1d first',
  },
  {
    soname: /^libheif\.so\./,
    consumers: LIBGD,
    behaviour: 'fail',
    without: "HEIF images, for which PHP's gd has no function",
  },
  {
    soname: /^libtiff\.so\./,
    consumers: LIBGD,
    behaviour: 'fail',
    without: "TIFF images, for which PHP's gd has no function",
  },
  {
    soname: /^libfontconfig\.so\./,
    consumers: LIBGD,
    behaviour: 'fail',
    without: "font lookup by name, which PHP's gd never turns on (it takes font files)",
  },
  {
    soname: /^libXpm\.so\./,
    consumers: LIBGD,
    behaviour: -1,
    without: 'XPM images (and with them X11): imagecreatefromxpm() returns false',
  },
  {
    soname: /^librtmp\.so\./,
    consumers: /^libcurl\.so\./,
    behaviour: 0,
    without: 'rtmp:// in curl (and with it GnuTLS): such a transfer fails, as if out of memory',
  },
  {
    soname: /^libdb-5\.3\.so$/,
    consumers: /^libsasldb\.so/,
    behaviour: 'fail',
    without:
      "Berkeley DB, which only Cyrus SASL's sasldb plugin needs, to check passwords a server keeps (a client never does)",
  },
  {
    soname: /^libsystemd\.so\./,
    consumers: /^php-fpm/,
    behaviour: 0,
    without: "php-fpm's systemd notifications (Lambda has no systemd)",
  },
];

export function ruleFor(soname: string): StandInRule | undefined {
  return STAND_INS.find((r) => r.soname.test(soname));
}

/** How a rule's stand-in behaves, saying in its failure message what was left out and why. */
export function behaviourOf(rule: StandInRule, soname: string): StandInBehaviour {
  if (rule.behaviour !== 'fail') return { returns: rule.behaviour };
  return {
    fail: `fpm-bridge layer: ${soname} is a stand-in, left out of this layer (${rule.without}); this code needs the real library — build the layer with an extension that needs it, or see README "What the layer leaves out"`,
  };
}

/**
 * The libraries to replace with stand-ins, and the closure without what only they need. `walk(leaves)` walks
 * DT_NEEDED with those sonames not walked into. A library qualifies when every file that needs it, among
 * those still walked, is one its rule allows; each round can only let more qualify (leaving one out leaves
 * fewer files needing the others), so this ends.
 */
export function chooseStandIns(walk: (leaves: ReadonlySet<string>) => LibraryClosure): {
  closure: LibraryClosure;
  standIns: Map<string, StandInRule>;
} {
  let leaves = new Set<string>();
  let closure = walk(leaves);
  for (;;) {
    const next = new Set<string>();
    for (const [soname, needers] of closure.consumers) {
      const rule = ruleFor(soname);
      if (
        rule !== undefined &&
        closure.libraries.has(soname) &&
        [...needers].every((c) => rule.consumers.test(c))
      )
        next.add(soname);
    }
    if (next.size === leaves.size) break;
    leaves = next;
    closure = walk(leaves);
  }
  return { closure, standIns: new Map([...leaves].map((s) => [s, ruleFor(s)!])) };
}
