import { createReadStream, type Stats } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream';
import { staticAnswer } from '../proxy/static-answer.ts';

/**
 * Serves a file the router found in the docroot as {@link staticAnswer} says (methods, validators,
 * preconditions, ranges); the file streams with backpressure.
 */
export function serveStatic(req: IncomingMessage, res: ServerResponse, filename: string, stats: Stats): void {
  const answer = staticAnswer(
    req.method!,
    (name) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value.join(', ') : value;
    },
    filename,
    stats,
  );
  res.writeHead(answer.status, answer.headers);
  if (req.method === 'HEAD') res.end();
  else if (answer.text !== null) res.end(answer.text);
  else if (answer.range === null) res.end();
  else {
    const [start, end] = answer.range;
    pipeline(createReadStream(filename, { start, end }), res, () => {});
  }
}
