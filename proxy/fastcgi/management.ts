import { connect } from 'node:net';
import { ConnectError, type FpmBridgeError, ProtocolError, TimeoutError } from '../errors.ts';
import { connectOptions, type FcgiAddress, formatAddress } from './address.ts';
import { RecordDecoder } from './decoder.ts';
import {
  decodePairs,
  encodePairs,
  encodeRecord,
  GET_VALUES,
  GET_VALUES_RESULT,
  MAX_CONNS,
  MAX_REQS,
  MPXS_CONNS,
  NULL_REQUEST_ID,
  UNKNOWN_TYPE,
} from './records.ts';

/** What a server told us in FCGI_GET_VALUES_RESULT; a variable it did not answer is undefined. */
export interface ServerValues {
  maxConns?: number;
  maxReqs?: number;
  mpxsConns?: boolean;
}

/**
 * Asks a FastCGI server for FCGI_MAX_CONNS, FCGI_MAX_REQS and FCGI_MPXS_CONNS on a connection of its own
 * (php-fpm 8.2 answers only `FCGI_MPXS_CONNS=0` and then closes the connection, so it is never reused).
 * A server that answers UNKNOWN_TYPE yields `{}`. Also serves as an active health check.
 */
export function getValues(address: FcgiAddress, timeout = 2000): Promise<ServerValues> {
  return new Promise((resolve, reject) => {
    const where = formatAddress(address);
    const socket = connect(connectOptions(address));
    let settled = false;
    const finish = (err: FpmBridgeError | null, values?: ServerValues) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err !== null) reject(err);
      else resolve(values!);
    };
    // Bounds the whole probe: a server that ignores GET_VALUES never answers at all.
    const timer = setTimeout(
      () =>
        finish(
          new TimeoutError(`FastCGI server at ${where} did not answer FCGI_GET_VALUES within ${timeout} ms`),
        ),
      timeout,
    );
    const decoder = new RecordDecoder({
      onStream: (type, id) => finish(unexpected(where, type, id)),
      onStreamEnd: (type, id) => finish(unexpected(where, type, id)),
      onRecord: (type, id, content) => {
        if (id !== NULL_REQUEST_ID) return finish(unexpected(where, type, id));
        if (type === UNKNOWN_TYPE) return finish(null, {});
        if (type !== GET_VALUES_RESULT) return finish(unexpected(where, type, id));
        const pairs = decodePairs(content);
        if (pairs === null)
          return finish(new ProtocolError(`malformed FCGI_GET_VALUES_RESULT from ${where}`));
        const values: ServerValues = {};
        for (let i = 0; i < pairs.length; i += 2) {
          const n = Number.parseInt(pairs[i + 1]!, 10);
          if (pairs[i] === MAX_CONNS && n > 0) values.maxConns = n;
          else if (pairs[i] === MAX_REQS && n > 0) values.maxReqs = n;
          else if (pairs[i] === MPXS_CONNS) values.mpxsConns = pairs[i + 1] === '1';
        }
        finish(null, values);
      },
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk);
      } catch (err) {
        finish(err as FpmBridgeError);
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) =>
      finish(
        new ConnectError(`cannot reach FastCGI server at ${where}: ${err.code ?? err.message}`, {
          cause: err,
        }),
      ),
    );
    socket.on('close', () =>
      finish(
        new ProtocolError(
          `FastCGI server at ${where} closed the connection without answering FCGI_GET_VALUES`,
        ),
      ),
    );
    socket.write(
      encodeRecord(GET_VALUES, NULL_REQUEST_ID, encodePairs([MAX_CONNS, '', MAX_REQS, '', MPXS_CONNS, ''])),
    );
  });
}

function unexpected(where: string, type: number, id: number): ProtocolError {
  return new ProtocolError(
    `unexpected FastCGI record type ${type} (request id ${id}) from ${where} in answer to FCGI_GET_VALUES`,
  );
}
