import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isToken, listItems, parseHttpDate, trimOws } from '../../proxy/header-fields.ts';

describe('trimOws and listItems: only SP and HTAB are whitespace (RFC 9110 §5.6.3)', () => {
  it('trims SP and HTAB and keeps NBSP, NEL, VT, FF and Unicode spaces, which String.prototype.trim strips', () => {
    assert.equal(trimOws(' \tchunked\t '), 'chunked');
    for (const space of ['\xa0', '\x85', '\x0b', '\x0c', '\u2000', '\u3000', '\ufeff']) {
      assert.equal(trimOws(` chunked${space} `), `chunked${space}`, JSON.stringify(space));
    }
  });

  it('splits a list at commas, trims each item of SP and HTAB, and drops the empty ones', () => {
    assert.deepEqual(listItems(' gzip ,, chunked\t,'), ['gzip', 'chunked']);
    assert.deepEqual(listItems('chunked, \xa0'), ['chunked', '\xa0']);
    assert.deepEqual(listItems(''), []);
    assert.deepEqual(listItems(undefined), []);
  });

  it('takes a token for ASCII token characters only', () => {
    assert.equal(isToken("!#$%&'*+-.^_`|~09azAZ"), true);
    for (const bad of ['', 'a b', 'a:b', 'chunked\xa0', 'K\u212a', 'é'])
      assert.equal(isToken(bad), false, bad);
  });
});

describe('parseHttpDate (RFC 9110 §5.6.7)', () => {
  const sunday = Date.UTC(1994, 10, 6, 8, 49, 37);

  it('reads IMF-fixdate and the obsolete RFC 850 and asctime forms', () => {
    assert.deepEqual(
      [
        'Sun, 06 Nov 1994 08:49:37 GMT',
        ' Sun, 06 Nov 1994 08:49:37 GMT\t',
        'Sunday, 06-Nov-94 08:49:37 GMT',
        'Sun Nov  6 08:49:37 1994',
      ].map(parseHttpDate),
      [sunday, sunday, sunday, sunday],
    );
  });

  it('reads no date from what Date.parse would, nor from impossible dates', () => {
    for (const value of [
      '1',
      '2030',
      '2001-01-01',
      'Jan 1 2001',
      'Sun, 06 Nov 1994 08:49:37 PST',
      'sun, 06 nov 1994 08:49:37 gmt',
      'Sun, 06 Nov 1994 08:49:37 GMT\xa0',
      'Sun, 31 Feb 1994 08:49:37 GMT',
      'Sun, 06 Nov 1994 24:00:00 GMT',
      'Sun, 06 Nov 1994 08:49:60 GMT',
      'Sun, 6 Nov 1994 08:49:37 GMT',
    ]) {
      assert.ok(Number.isNaN(parseHttpDate(value)), value);
    }
  });
});
