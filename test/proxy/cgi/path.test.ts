import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodePath, printable } from '../../../proxy/cgi/path.ts';
import { BadRequestError, NotFoundError } from '../../../proxy/errors.ts';

const badRequest = { name: 'BadRequestError', code: 'FPM_BRIDGE_ERR_BAD_REQUEST', statusCode: 400 };
const notFound = { name: 'NotFoundError', code: 'FPM_BRIDGE_ERR_NOT_FOUND', statusCode: 404 };

describe('decodePath', () => {
  describe('returns the decoded, normalised path', () => {
    const cases: [raw: string, decoded: string][] = [
      ['/', '/'],
      ['/index.php', '/index.php'],
      ['/blog/', '/blog/'],
      ['/info.php/foo/bar', '/info.php/foo/bar'],
      ['/p%20q.php', '/p q.php'],
      ['/caf%C3%A9/', '/café/'],
      ['/caf%c3%a9', '/café'],
      // The path is bytes, one character each: raw UTF-8 decodes as its percent-encoding does.
      ['/caf\xc3\xa9', '/café'],
      ['/caf\xc3%A9', '/café'],
      // An encoded slash is a slash once decoded, as in HAProxy, which decodes the whole path.
      ['/a%2Fb.php', '/a/b.php'],
      ['/a/./b/../c%20d.php', '/a/c d.php'],
      ['/a/b/..', '/a/'],
      ['/a/..', '/'],
      ['/a/.', '/a/'],
      ['//a///b', '/a/b'],
      ['//', '/'],
      ['/a/%2e%2e/b', '/b'],
      ['/%2e/x', '/x'],
      ['/a%2F..%2Fb', '/b'],
      // Dot segments are normalised away; dotfiles are kept (the router refuses them).
      ['/.env', '/.env'],
      ['/.well-known/security.txt', '/.well-known/security.txt'],
      ['/..foo/x', '/..foo/x'],
    ];
    for (const [raw, decoded] of cases) {
      test(`${JSON.stringify(raw)} → ${JSON.stringify(decoded)}`, () => {
        assert.equal(decodePath(raw), decoded);
      });
    }
  });

  test('a character outside the BMP, raw or percent-encoded, next to a percent-encoding decodes to itself', () => {
    assert.equal(decodePath('/\xf0\x9f\x98\x80%20x'), '/😀 x');
    assert.equal(decodePath('/%F0%9F%98%80%20x'), '/😀 x');
  });

  describe('refuses CR, LF and NUL, raw or encoded, with BadRequestError (CVE-2019-11043)', () => {
    for (const raw of [
      '/index.php/%0Afoo',
      '/index.php/%0afoo',
      '/%0D',
      '/x%0d%0aSet-Cookie:%20a=1',
      '/index.php%00.jpg',
      '/a\nb',
      '/a\rb',
      '/a\u0000b',
    ]) {
      test(JSON.stringify(raw), () => {
        assert.throws(() => decodePath(raw), BadRequestError);
        assert.throws(() => decodePath(raw), badRequest);
      });
    }
  });

  describe('refuses bad percent-encoding and bytes that are not UTF-8 with BadRequestError', () => {
    for (const raw of [
      '/%',
      '/%2',
      '/a%zz',
      '/%G0',
      '/%ff',
      '/%C3',
      '/%C0%AF',
      '/%ED%A0%80',
      '/\xff',
      '/caf\xe9',
    ]) {
      test(JSON.stringify(raw), () => {
        assert.throws(() => decodePath(raw), badRequest);
      });
    }
  });

  describe('refuses a target that does not start with "/" with BadRequestError', () => {
    for (const raw of ['', 'index.php', '*', 'http://example.com/x.php']) {
      test(JSON.stringify(raw), () => {
        assert.throws(() => decodePath(raw), badRequest);
      });
    }
  });

  describe('answers NotFoundError for a path that climbs above the root', () => {
    for (const raw of [
      '/..',
      '/../etc/passwd',
      '/../../etc/passwd.php',
      '/%2e%2e/x.php',
      '/%2E%2E%2Fetc%2Fpasswd',
      '/a/../../x',
      '/a/%2e%2e/%2e%2e/x',
    ]) {
      test(JSON.stringify(raw), () => {
        assert.throws(() => decodePath(raw), NotFoundError);
        assert.throws(() => decodePath(raw), notFound);
      });
    }
  });

  describe('answers NotFoundError for a backslash, raw or encoded', () => {
    for (const raw of ['/a\\b', '/..\\x', '/%5c..%5cx', '/x.php%5C']) {
      test(JSON.stringify(raw), () => {
        assert.throws(() => decodePath(raw), notFound);
      });
    }
  });

  test('error messages show control characters escaped, never raw (no log injection)', () => {
    assert.throws(
      () => decodePath('/a\nb'),
      (err: Error) => {
        assert.match(err.message, /"\/a\\x0ab"/);
        assert.doesNotMatch(err.message, /\n/);
        return true;
      },
    );
  });
});

describe('printable', () => {
  test('escapes C0 controls and DEL as \\xNN and leaves everything else alone', () => {
    assert.equal(printable('a\nb\r\u0000\u007f\tc é'), 'a\\x0ab\\x0d\\x00\\x7f\\x09c é');
  });
});
