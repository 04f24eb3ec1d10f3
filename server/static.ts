import { createReadStream, type Stats } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream';
import { contentType } from '../proxy/mime.ts';

/**
 * Serves a file the router found in the docroot: GET and HEAD only, with Last-Modified and a weak ETag from
 * size and mtime (a matching If-None-Match / If-Modified-Since answers 304), and single byte ranges
 * (RFC 9110 §14: 206 with Content-Range, 416 when unsatisfiable; If-Range honoured). A request for several
 * ranges gets the whole file, which RFC 9110 allows.
 */
export function serveStatic(req: IncomingMessage, res: ServerResponse, filename: string, stats: Stats): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('405 Method Not Allowed\n');
    return;
  }
  const size = stats.size;
  const etag = `W/"${size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`;
  const lastModified = stats.mtime.toUTCString();
  const modifiedSecond = Math.floor(stats.mtimeMs / 1000) * 1000;
  const inm = req.headers['if-none-match'];
  const ims = req.headers['if-modified-since'];
  const fresh =
    inm !== undefined
      ? inm.split(',').some((t) => t.trim() === etag || t.trim() === '*')
      : ims !== undefined && Date.parse(ims) >= modifiedSecond;
  const validators = { ETag: etag, 'Last-Modified': lastModified, 'Accept-Ranges': 'bytes' };
  if (fresh) {
    res.writeHead(304, validators);
    res.end();
    return;
  }
  const type = contentType(filename);
  const ifRange = req.headers['if-range'];
  const rangeApplies =
    typeof ifRange !== 'string' || ifRange === etag || Date.parse(ifRange) === modifiedSecond;
  const range = rangeApplies ? parseRange(req.headers.range, size) : null;
  if (range === 'unsatisfiable') {
    res.writeHead(416, {
      ...validators,
      'Content-Range': `bytes */${size}`,
      'Content-Type': 'text/plain; charset=utf-8',
    });
    res.end('416 Range Not Satisfiable\n');
    return;
  }
  if (range !== null) {
    const [start, end] = range;
    res.writeHead(206, {
      ...validators,
      'Content-Type': type,
      'Content-Length': end - start + 1,
      'Content-Range': `bytes ${start}-${end}/${size}`,
    });
    if (req.method === 'HEAD') res.end();
    else pipeline(createReadStream(filename, { start, end }), res, () => {});
    return;
  }
  res.writeHead(200, { ...validators, 'Content-Type': type, 'Content-Length': size });
  if (req.method === 'HEAD') res.end();
  else pipeline(createReadStream(filename), res, () => {});
}

/**
 * One `bytes=` range as inclusive [start, end], 'unsatisfiable', or null for no (or an ignored) Range:
 * malformed headers and multi-range requests are ignored, as RFC 9110 §14.2 permits.
 */
export function parseRange(
  header: string | undefined,
  size: number,
): [number, number] | 'unsatisfiable' | null {
  if (header === undefined) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (m === null || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    return [Math.max(0, size - suffix), size - 1];
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size) return 'unsatisfiable';
  if (end < start) return null;
  return [start, end];
}
