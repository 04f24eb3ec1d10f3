import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type CgiHead, CgiHeadParser, DEFAULT_MAX_HEADER_SIZE } from '../../../proxy/cgi/response.ts';
import { BadResponseError } from '../../../proxy/errors.ts';

interface Parsed {
  head: CgiHead;
  body: Buffer;
}

/**
 * Feeds `chunks` to a new parser as STDOUT records would arrive; returns the head and every body byte
 * (what followed the head, then the remaining chunks). Fails if the head is not complete at the end.
 */
function parse(chunks: (string | Buffer)[], maxSize?: number): Parsed {
  const parser = new CgiHeadParser(maxSize);
  const body: Buffer[] = [];
  for (const chunk of chunks) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
    if (parser.head !== null) {
      body.push(bytes);
      continue;
    }
    const rest = parser.push(bytes);
    if (rest !== null) body.push(rest);
  }
  assert.ok(parser.head !== null, 'the head is complete');
  return { head: parser.head, body: Buffer.concat(body) };
}

const head = (text: string): CgiHead => parse([text]).head;

const badResponse = { name: 'BadResponseError', code: 'FPM_BRIDGE_ERR_BAD_RESPONSE', statusCode: 502 };

describe('CgiHeadParser: status', () => {
  test('"Status: 404 Not Found" sets code and reason, is removed from the headers, and the body follows (case 38)', () => {
    const { head, body } = parse([
      'Status: 404 Not Found\r\nContent-type: text/html\r\n\r\nFile not found.\n',
    ]);
    assert.deepEqual(head, { status: 404, statusText: 'Not Found', headers: ['Content-type', 'text/html'] });
    assert.equal(body.toString(), 'File not found.\n');
  });

  test('a Status without reason gets the standard reason', () => {
    assert.deepEqual(head('Status: 301\r\n\r\n'), {
      status: 301,
      statusText: 'Moved Permanently',
      headers: [],
    });
  });

  test('a Status with an unregistered code and no reason has an empty reason', () => {
    assert.deepEqual(head('Status: 299\r\n\r\n'), { status: 299, statusText: '', headers: [] });
  });

  test('a Status reason of its own is kept, spaces and all', () => {
    assert.deepEqual(head('Status: 418 Short And Stout\r\n\r\n'), {
      status: 418,
      statusText: 'Short And Stout',
      headers: [],
    });
    assert.equal(head('Status: 404\tGone  Away\r\n\r\n').statusText, 'Gone  Away');
  });

  test('the Status header name is case-insensitive', () => {
    assert.equal(head('status: 201\r\n\r\n').status, 201);
    assert.equal(head('STATUS: 202 Accepted\r\n\r\n').status, 202);
  });

  test('Location without Status means 302 Found, and Location is kept (case 39)', () => {
    assert.deepEqual(head('Location: /login\r\n\r\n'), {
      status: 302,
      statusText: 'Found',
      headers: ['Location', '/login'],
    });
  });

  test('Status wins over Location whatever the order (HAProxy ca79ed5ee)', () => {
    assert.deepEqual(head('Status: 301\r\nLocation: /x\r\n\r\n'), {
      status: 301,
      statusText: 'Moved Permanently',
      headers: ['Location', '/x'],
    });
    assert.deepEqual(head('Location: /x\r\nStatus: 201\r\n\r\n'), {
      status: 201,
      statusText: 'Created',
      headers: ['Location', '/x'],
    });
  });

  test('no Status and no Location means 200 OK (case 41)', () => {
    assert.deepEqual(head('Content-Type: text/plain\r\n\r\n'), {
      status: 200,
      statusText: 'OK',
      headers: ['Content-Type', 'text/plain'],
    });
  });

  test('of two Status headers the last one counts', () => {
    assert.equal(head('Status: 500\r\nStatus: 503 Busy\r\n\r\n').statusText, 'Busy');
  });

  for (const value of ['abc', '99', '099', '1000', '', '200OK', '404Not Found', ' 2 0 0']) {
    test(`an invalid "Status: ${value}" is a BadResponseError (502) (case 40)`, () => {
      assert.throws(() => head(`Status: ${value}\r\n\r\n`), BadResponseError);
      assert.throws(() => head(`Status: ${value}\r\n\r\n`), badResponse);
    });
  }

  for (const value of ['100', '103 Early Hints', '199']) {
    test(`an interim "Status: ${value}" is a BadResponseError (502): a 1xx is never the final status`, () => {
      assert.throws(() => head(`Status: ${value}\r\n\r\n`), {
        ...badResponse,
        message: `PHP sent "Status: ${value.slice(0, 3)}", an interim status, as its response status (expected 200-599)`,
      });
    });
  }
});

describe('CgiHeadParser: headers the front frames or owns', () => {
  test('a status past 599 is a BadResponseError (502): no HTTP status', () => {
    assert.throws(() => head('Status: 600\r\n\r\n'), {
      ...badResponse,
      message: 'PHP sent "Status: 600", which is no HTTP status (expected 200-599)',
    });
  });

  test('Content-Length is kept once when PHP repeats the same value', () => {
    assert.deepEqual(head('Content-Length: 10\r\nContent-Length: 10\r\n\r\n').headers, [
      'Content-Length',
      '10',
    ]);
  });

  test('two different Content-Length values are a BadResponseError (502) (RFC 9112 §6.3)', () => {
    assert.throws(() => head('Content-Length: 3\r\nContent-Length: 10\r\n\r\n'), {
      ...badResponse,
      message: 'PHP sent two different Content-Length headers (3 and 10)',
    });
  });

  for (const value of ['abc', '-1', '3, 3', '1e3']) {
    test(`"Content-Length: ${value}" is a BadResponseError (502)`, () => {
      assert.throws(() => head(`Content-Length: ${value}\r\n\r\n`), {
        ...badResponse,
        message: `PHP sent an invalid "Content-Length: ${value}" (expected a number of bytes)`,
      });
    });
  }

  test('a 204 loses the Content-Length PHP gave it (RFC 9110 §8.6)', () => {
    assert.deepEqual(head('Status: 204\r\nContent-Length: 14\r\nX-A: 1\r\n\r\n').headers, ['X-A', '1']);
  });

  test('Connection and Keep-Alive from PHP are dropped: they are hop-by-hop', () => {
    assert.deepEqual(head('Connection: close\r\nKeep-Alive: timeout=999\r\nX-A: 1\r\n\r\n').headers, [
      'X-A',
      '1',
    ]);
  });
});

describe('CgiHeadParser: framing', () => {
  test('LF-only line ends are accepted (case 42)', () => {
    const { head, body } = parse(['Status: 201 Created\nX-A: 1\n\nbody']);
    assert.deepEqual(head, { status: 201, statusText: 'Created', headers: ['X-A', '1'] });
    assert.equal(body.toString(), 'body');
  });

  test('mixed CRLF and LF line ends are accepted', () => {
    const { head, body } = parse(['X-A: 1\r\nX-B: 2\n\r\nbody']);
    assert.deepEqual(head.headers, ['X-A', '1', 'X-B', '2']);
    assert.equal(body.toString(), 'body');
  });

  test('an output that starts with the empty line has no headers and is all body', () => {
    assert.deepEqual(parse(['\r\nbody']), {
      head: { status: 200, statusText: 'OK', headers: [] },
      body: Buffer.from('body'),
    });
    assert.deepEqual(parse(['\nbody']), {
      head: { status: 200, statusText: 'OK', headers: [] },
      body: Buffer.from('body'),
    });
  });

  test('push returns null until the head is complete, then the body bytes of that chunk', () => {
    const parser = new CgiHeadParser();
    assert.equal(parser.push(Buffer.from('X-A: 1\r\n')), null);
    assert.equal(parser.head, null);
    assert.equal(parser.buffered, 8);
    const rest = parser.push(Buffer.from('\r\n'));
    assert.deepEqual(rest, Buffer.alloc(0));
    assert.deepEqual(parser.head, { status: 200, statusText: 'OK', headers: ['X-A', '1'] });
    assert.equal(parser.buffered, 0);
  });

  test('body bytes after the head pass byte for byte, including CR, LF and bytes that are not UTF-8', () => {
    const bytes = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff, 0x0a, 0x0a]);
    const { body } = parse([Buffer.concat([Buffer.from('Content-Type: image/png\r\n\r\n'), bytes])]);
    assert.deepEqual(body, bytes);
  });

  const samples: [what: string, text: string][] = [
    [
      'CRLF',
      'Status: 404 Not Found\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nLocation: /x\r\n\r\nbody\r\n\r\nmore',
    ],
    ['LF', 'Status: 404 Not Found\nSet-Cookie: a=1\nSet-Cookie: b=2\nLocation: /x\n\nbody\n\nmore'],
    ['LF then CRLF', 'Status: 404 Not Found\nSet-Cookie: a=1\nSet-Cookie: b=2\nLocation: /x\n\r\nbody'],
    ['no headers', '\r\nbody'],
  ];
  for (const [what, text] of samples) {
    test(`a head split at every byte boundary, or fed byte by byte, parses the same (${what}; h2o#958)`, () => {
      const whole = parse([text]);
      for (let at = 0; at <= text.length; at++) {
        assert.deepEqual(parse([text.slice(0, at), text.slice(at)]), whole, `split at ${at}`);
      }
      for (let a = 1; a < text.length; a++) {
        for (let b = a + 1; b < Math.min(text.length, a + 6); b++) {
          assert.deepEqual(
            parse([text.slice(0, a), text.slice(a, b), text.slice(b)]),
            whole,
            `split at ${a}, ${b}`,
          );
        }
      }
      assert.deepEqual(parse([...text]), whole, 'byte by byte');
    });
  }
});

describe('CgiHeadParser: size limit (case 43)', () => {
  test('the default limit is 64 KiB', () => {
    assert.equal(DEFAULT_MAX_HEADER_SIZE, 65536);
  });

  test('a head that does not end within the limit is a BadResponseError, also when it arrives in pieces', () => {
    const parser = new CgiHeadParser();
    const line = Buffer.from(`X-Filler: ${'x'.repeat(8180)}\r\n`);
    assert.throws(() => {
      for (let i = 0; i < 10; i++) parser.push(line);
    }, badResponse);
  });

  test('a head of exactly the limit is accepted; one byte more is refused', () => {
    const limit = 1024;
    const exact = `X-A: ${'x'.repeat(limit - 'X-A: '.length - 4)}\r\n\r\n`;
    assert.equal(exact.length, limit);
    assert.equal(parse([exact], limit).head.headers[1]!.length, limit - 9);
    const over = `X-A: ${'x'.repeat(limit - 'X-A: '.length - 3)}\r\n\r\n`;
    assert.throws(() => parse([over], limit), badResponse);
    assert.throws(() => parse([over.slice(0, 600), over.slice(600)], limit), badResponse);
  });
});

describe('CgiHeadParser: malformed heads', () => {
  const malformed: [what: string, text: string][] = [
    ['a line without a colon', 'NoColonHere\r\n\r\n'],
    ['a line without a name', ': value\r\n\r\n'],
    ['a space in the name', 'Bad Name: x\r\n\r\n'],
    ['a space before the colon', 'X-A : x\r\n\r\n'],
    ['a control character in the name', 'X-\u0001A: x\r\n\r\n'],
  ];
  for (const [what, text] of malformed) {
    test(`${what} is a BadResponseError`, () => {
      assert.throws(() => head(text), badResponse);
    });
  }

  test('an obs-fold continuation line (space or tab) is a BadResponseError', () => {
    assert.throws(() => head('X-A: 1\r\n  continued\r\n\r\n'), badResponse);
    assert.throws(() => head('X-A: 1\r\n\tcontinued\r\n\r\n'), badResponse);
  });

  test('Transfer-Encoding from PHP is a BadResponseError: the front frames the body itself (case 44)', () => {
    assert.throws(() => head('Transfer-Encoding: chunked\r\n\r\n'), badResponse);
    assert.throws(() => head('transfer-encoding: gzip\r\n\r\n'), badResponse);
  });

  test('the error message shows a malformed line with control characters escaped', () => {
    assert.throws(() => head('Bad\u001bLine\r\n\r\n'), { message: /"Bad\\x1bLine"/ });
  });
});

describe('CgiHeadParser: header values', () => {
  test('a value with CR, a control character or DEL is dropped; the other headers stay', () => {
    const { headers } = head(
      'X-A: a\rb\r\nX-B: ok\r\nX-C: nul\u0000\r\nX-D: bell\u0007\r\nX-E: del\u007f\r\nX-F: fine\r\n\r\n',
    );
    assert.deepEqual(headers, ['X-B', 'ok', 'X-F', 'fine']);
  });

  test('a Location with a CR is dropped, so it makes no redirect', () => {
    assert.deepEqual(head('Location: /a\rSet-Cookie: x=1\r\n\r\n'), {
      status: 200,
      statusText: 'OK',
      headers: [],
    });
  });

  test('a tab inside a value is kept; spaces and tabs around it are trimmed; an empty value is kept', () => {
    assert.deepEqual(head('X-A: \t a\tb \t\r\nX-Empty:\r\nX-Spaces:   \r\n\r\n').headers, [
      'X-A',
      'a\tb',
      'X-Empty',
      '',
      'X-Spaces',
      '',
    ]);
  });

  test('repeated Set-Cookie headers are kept apart, in order, never joined (case 45)', () => {
    assert.deepEqual(
      head('Set-Cookie: a=1; Path=/\r\nX-Other: x\r\nSet-Cookie: b=2, c=3\r\nset-cookie: d=4\r\n\r\n')
        .headers,
      ['Set-Cookie', 'a=1; Path=/', 'X-Other', 'x', 'Set-Cookie', 'b=2, c=3', 'set-cookie', 'd=4'],
    );
  });

  test('names keep their case and values keep their bytes (latin1), so UTF-8 passes through unchanged', () => {
    const raw = Buffer.concat([
      Buffer.from('content-DISPOSITION: attachment; filename="'),
      Buffer.from('café.txt"'),
      Buffer.from('\r\n\r\n'),
    ]);
    const { headers } = parse([raw]).head;
    assert.equal(headers[0], 'content-DISPOSITION');
    assert.deepEqual(Buffer.from(headers[1]!, 'latin1'), Buffer.from('attachment; filename="café.txt"'));
  });
});
