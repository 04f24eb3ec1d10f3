import { createReadStream, type Stats } from 'node:fs';
import { staticAnswer } from '../proxy/static-answer.ts';
import type { FrontRequest, FrontResponse } from './http1/exchange.ts';
import { pump } from './pump.ts';

/**
 * Serves a file the router found in the docroot as {@link staticAnswer} says (methods, validators,
 * preconditions, ranges); the file streams with backpressure, and a read error cuts the connection.
 */
export function serveStatic(
  req: FrontRequest,
  res: FrontResponse,
  filename: string,
  stats: Stats,
  onError: (err: Error) => void,
): void {
  const answer = staticAnswer(req.method, (name) => req.header(name), filename, stats);
  res.writeHead(answer.status, answer.headers);
  if (req.method === 'HEAD') res.end();
  else if (answer.text !== null) res.end(answer.text);
  else if (answer.range === null) res.end();
  else {
    const [start, end] = answer.range;
    pump(createReadStream(filename, { start, end }), res, end - start + 1, onError);
  }
}
