import type { Stats } from 'node:fs';
import { parseHttpDate, trimOws } from './header-fields.ts';
import { contentType } from './mime.ts';

/** What a front sends for a static file: the status, the headers, and which bytes of the file (if any). */
export interface StaticAnswer {
  status: number;
  headers: Record<string, string | number>;
  /** Inclusive byte range of the file to send, or null for none (a text answer, or 304). */
  range: [number, number] | null;
  /** The body of an answer that is not the file (412, 416), else null. */
  text: string | null;
}

/**
 * The answer to a request for a file the router found in the docroot, the same for both fronts: GET and
 * HEAD only (405 with Allow otherwise), Last-Modified and a weak ETag from size and mtime, the preconditions of RFC 9110 §13 in the order of
 * §13.2.2 (a failing If-Match / If-Unmodified-Since answers 412, a matching If-None-Match /
 * If-Modified-Since 304), and single byte ranges (RFC 9110 §14: 206 with Content-Range, 416 when
 * unsatisfiable; If-Range honoured). A request for several ranges gets the whole file, which RFC 9110
 * allows. `header` reads a request header by its lower-case name.
 */
export function staticAnswer(
  method: string,
  header: (lower: string) => string | undefined,
  filename: string,
  stats: Stats,
): StaticAnswer {
  if (method !== 'GET' && method !== 'HEAD') {
    return text(405, { Allow: 'GET, HEAD' }, '405 Method Not Allowed\n');
  }
  const size = stats.size;
  // The tag is weak because size and mtime do not prove byte-for-byte identity (a rewrite within the same
  // millisecond keeps both); `opaque` is the quoted part that weak comparison looks at.
  const opaque = `"${size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`;
  const validators = {
    ETag: `W/${opaque}`,
    'Last-Modified': stats.mtime.toUTCString(),
    'Accept-Ranges': 'bytes',
  };
  // HTTP-dates have whole seconds, so every date comparison is against the mtime truncated to its second.
  // A value that is not a date parses to NaN, and every comparison with NaN is false: that is how an invalid
  // If-Modified-Since / If-Unmodified-Since / If-Range date is ignored, as RFC 9110 §13.1.3-§13.1.5 require.
  const modifiedSecond = Math.floor(stats.mtimeMs / 1000) * 1000;

  // RFC 9110 §13.2.2 steps 1-2: If-Match, or If-Unmodified-Since only when If-Match is absent.
  const ifMatch = header('if-match');
  const ius = header('if-unmodified-since');
  const preconditionFailed =
    ifMatch !== undefined
      ? !entityTagListMatches(ifMatch, opaque, 'strong')
      : ius !== undefined && parseHttpDate(ius) < modifiedSecond;
  if (preconditionFailed) {
    return text(412, validators, '412 Precondition Failed\n');
  }

  // Steps 3-4: If-None-Match, or If-Modified-Since only when If-None-Match is absent (§13.1.3); both answer
  // 304 here because only GET and HEAD get this far.
  const inm = header('if-none-match');
  const ims = header('if-modified-since');
  const fresh =
    inm !== undefined
      ? entityTagListMatches(inm, opaque, 'weak')
      : ims !== undefined && parseHttpDate(ims) >= modifiedSecond;
  if (fresh) return { status: 304, headers: validators, range: null, text: null };

  // Step 5: If-Range. §13.1.5 lets an entity-tag count only when it is strong and matches by strong
  // comparison; every tag made here is weak, so an entity-tag (quoted, or W/-prefixed) never matches and the
  // whole file is sent. An HTTP-date counts when it is exactly the Last-Modified second.
  const ifRange = header('if-range');
  const rangeApplies =
    ifRange === undefined || (!isEntityTag(ifRange) && parseHttpDate(ifRange) === modifiedSecond);
  const type = contentType(filename);
  const range = rangeApplies ? parseRange(header('range'), size) : null;
  if (range === 'unsatisfiable') {
    return text(416, { ...validators, 'Content-Range': `bytes */${size}` }, '416 Range Not Satisfiable\n');
  }
  if (range !== null) {
    const [start, end] = range;
    return {
      status: 206,
      headers: {
        ...validators,
        'Content-Type': type,
        'Content-Length': end - start + 1,
        'Content-Range': `bytes ${start}-${end}/${size}`,
      },
      range,
      text: null,
    };
  }
  return {
    status: 200,
    headers: { ...validators, 'Content-Type': type, 'Content-Length': size },
    // An empty file has no byte to send.
    range: size === 0 ? null : [0, size - 1],
    text: null,
  };
}

function text(status: number, headers: Record<string, string>, body: string): StaticAnswer {
  return {
    status,
    headers: { ...headers, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length },
    range: null,
    text: body,
  };
}

/**
 * One `bytes=` range as inclusive [start, end], 'unsatisfiable', or null for no (or an ignored) Range:
 * malformed headers and multi-range requests are ignored, as RFC 9110 §14.2 permits.
 *
 * @example
 *   parseRange('bytes=-2', 10) // [8, 9]
 *   parseRange('bytes=10-', 10) // 'unsatisfiable'
 */
export function parseRange(
  header: string | undefined,
  size: number,
): [number, number] | 'unsatisfiable' | null {
  if (header === undefined) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(trimOws(header));
  if (m === null || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    // RFC 9110 §14.1.2: on a zero-length representation a non-zero suffix-range is the one *satisfiable*
    // range-spec, so 416 (§15.5.17: no range satisfiable) would be wrong, yet a 206 cannot carry it: it
    // covers no byte, and Content-Range has no form for an empty range. So the Range is ignored, as §14.2
    // permits, and the empty file goes out whole with 200.
    if (size === 0) return null;
    return [Math.max(0, size - suffix), size - 1];
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  // This also answers every int-range on an empty file with 416 `bytes */0`: no first-pos is less than a
  // length of 0.
  if (start >= size) return 'unsatisfiable';
  if (end < start) return null;
  return [start, end];
}

/**
 * One member of an entity-tag list (RFC 9110 §8.8.3), possibly empty, and the comma or the end after it;
 * group 1 is the opaque-tag.
 */
const ENTITY_TAG_MEMBER = /[ \t]*(?:(?:W\/)?("[\x21\x23-\x7e\x80-\xff]*"))?[ \t]*(?:,|$)/y;

/**
 * Whether an If-Match / If-None-Match field value matches the file whose weak tag is `W/<opaque>`.
 * `*` matches any existing file (§13.1.1, §13.1.2). Weak comparison (§8.8.3.2) matches a listed tag with the
 * same opaque-tag, `W/` or not; strong comparison needs both tags strong, so it never matches ours. A value
 * that is neither `*` alone nor a list of entity-tags matches nothing, as for nginx: a `*` found inside
 * other text is no wildcard.
 */
function entityTagListMatches(field: string, opaque: string, comparison: 'strong' | 'weak'): boolean {
  if (trimOws(field) === '*') return true;
  let matched = false;
  ENTITY_TAG_MEMBER.lastIndex = 0;
  while (ENTITY_TAG_MEMBER.lastIndex < field.length) {
    const member = ENTITY_TAG_MEMBER.exec(field);
    if (member === null) return false;
    if (comparison === 'weak' && member[1] === opaque) matched = true;
  }
  return matched;
}

/** Whether an If-Range value is an entity-tag rather than an HTTP-date (RFC 9110 §13.1.5). */
function isEntityTag(value: string): boolean {
  const v = trimOws(value);
  return v.startsWith('"') || v.startsWith('W/');
}
