import { createReadStream, type Stats } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream';
import { contentType } from '../proxy/mime.ts';

/**
 * Serves a file the router found in the docroot: GET and HEAD only, with Last-Modified and a weak ETag
 * from size and mtime; a matching If-None-Match / If-Modified-Since answers 304.
 */
export function serveStatic(req: IncomingMessage, res: ServerResponse, filename: string, stats: Stats): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('405 Method Not Allowed\n');
    return;
  }
  const etag = `W/"${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`;
  const lastModified = stats.mtime.toUTCString();
  const inm = req.headers['if-none-match'];
  const ims = req.headers['if-modified-since'];
  const fresh =
    inm !== undefined
      ? inm.split(',').some((t) => t.trim() === etag || t.trim() === '*')
      : ims !== undefined && Date.parse(ims) >= Math.floor(stats.mtimeMs / 1000) * 1000;
  if (fresh) {
    res.writeHead(304, { ETag: etag, 'Last-Modified': lastModified });
    res.end();
    return;
  }
  res.writeHead(200, {
    'Content-Type': contentType(filename),
    'Content-Length': stats.size,
    ETag: etag,
    'Last-Modified': lastModified,
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  pipeline(createReadStream(filename), res, () => {});
}
