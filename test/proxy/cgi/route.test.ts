import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Route, type RouteOptions, Router } from '../../../proxy/cgi/route.ts';
import { loadConfig } from '../../../proxy/config.ts';
import { NotFoundError } from '../../../proxy/errors.ts';
import { FIXTURES_DOCROOT } from '../../support/bridge.ts';

const D = FIXTURES_DOCROOT;
/** The shipped default split, `^(.+?\.php)(/.*)?$`, taken from the config so the two cannot drift apart. */
const DEFAULT_PATH_INFO = (await loadConfig({ mode: 'serve', base: D, env: {}, overrides: { docroot: D } }))
  .config.pathInfo;

function router(options: Partial<RouteOptions> = {}): Router {
  return new Router({
    docroot: D,
    index: 'index.php',
    frontController: 'index.php',
    frontControllerOnly: false,
    pathInfo: DEFAULT_PATH_INFO,
    scriptExtensions: ['.php'],
    checkFiles: true,
    staticFiles: true,
    symlinksWithinDocroot: false,
    fileCacheTtl: 0,
    ...options,
  });
}

const script = (scriptName: string, pathInfo = ''): Route => ({ kind: 'script', scriptName, pathInfo });
const FRONT = script('/index.php');

/** Compares a route, reducing a static route's Stats to its size. */
function shape(route: Route): unknown {
  return route.kind === 'static'
    ? { kind: 'static', filename: route.filename, size: route.stats.size }
    : route;
}

const notFound = { name: 'NotFoundError', code: 'FPM_BRIDGE_ERR_NOT_FOUND', statusCode: 404 };

describe('Router with the default options (try_files $uri $uri/ /index.php)', () => {
  const r = router();
  const cases: [what: string, path: string, query: string, expected: Route][] = [
    ['an existing script runs', '/dump.php', '', script('/dump.php')],
    ['a script in a sub directory runs', '/sub/page.php', '', script('/sub/page.php')],
    ['a script name with a space runs', '/with space.php', '', script('/with space.php')],
    ['the path after the script becomes PATH_INFO', '/dump.php/foo/bar', '', script('/dump.php', '/foo/bar')],
    ['the split is at the first ".php"', '/dump.php/b.php/c', '', script('/dump.php', '/b.php/c')],
    ['"/" runs the root index', '/', '', script('/index.php')],
    ['a directory with a slash runs its index', '/sub/', '', script('/sub/index.php')],
    [
      'a script under /upload/ runs (frontControllerOnly is off)',
      '/upload/evil.php',
      '',
      script('/upload/evil.php'),
    ],
    ['a missing script runs the front controller', '/missing.php', '', FRONT],
    ['a missing script with path info runs the front controller', '/missing.php/x', '', FRONT],
    ['a path that names nothing runs the front controller', '/no/such/page', 'a=1', FRONT],
    ['a directory without index runs the front controller', '/assets/', '', FRONT],
    ['a directory without index and without slash runs the front controller', '/assets', '', FRONT],
    [
      '".php" is matched case-sensitively: /x.PHP/y is no script and runs the front controller',
      '/x.PHP/y',
      '',
      FRONT,
    ],
    [
      'a path through a file runs the front controller (regression: ENOTDIR escaped)',
      '/hello.txt/x',
      '',
      FRONT,
    ],
    [
      'a split naming a script below a file runs the front controller (regression: ENOTDIR escaped)',
      '/hello.txt/a.php',
      '',
      FRONT,
    ],
    [
      'a segment longer than NAME_MAX runs the front controller (regression: ENAMETOOLONG escaped)',
      `/${'a'.repeat(300)}`,
      '',
      FRONT,
    ],
    [
      'a directory with an index, without slash, redirects to the slash',
      '/sub',
      '',
      { kind: 'redirect', location: '/sub/' },
    ],
    [
      'the redirect keeps the raw query',
      '/sub',
      'p=2&q=%20',
      { kind: 'redirect', location: '/sub/?p=2&q=%20' },
    ],
  ];
  test('nothing under a dot-name runs or is served, scripts and directories included; /.well-known/ is', () => {
    for (const path of ['/.git/x.php', '/.git/x.php/foo', '/.hidden/', '/.env.php', '/sub/.x/y']) {
      assert.throws(() => r.route(path, ''), {
        name: 'NotFoundError',
        message: `"${path}" is not served: nothing under a dot-name is`,
      });
    }
    assert.deepEqual(r.route('/.well-known/nothing', ''), FRONT);
  });

  test('a symlink to a script or a dotfile is not served as a static file, whatever its own name', () => {
    const docroot = mkdtempSync(join(tmpdir(), 'fpm-bridge-route-'));
    try {
      writeFileSync(join(docroot, 'config.php'), '<?php $password = 1;');
      writeFileSync(join(docroot, '.env'), 'SECRET=1');
      writeFileSync(join(docroot, 'real.txt'), 'text');
      symlinkSync('config.php', join(docroot, 'config.txt'));
      symlinkSync('.env', join(docroot, 'env.txt'));
      symlinkSync('real.txt', join(docroot, 'alias.txt'));
      const links = router({ docroot });
      assert.throws(() => links.route('/config.txt', ''), {
        name: 'NotFoundError',
        message: '"/config.txt" is not served: it is a symlink to a script or a dotfile (config.php)',
      });
      assert.throws(() => links.route('/env.txt', ''), NotFoundError);
      assert.equal(links.route('/alias.txt', '').kind, 'static');
    } finally {
      rmSync(docroot, { recursive: true, force: true });
    }
  });

  test("the redirect's Location is the normalised path, percent-encoded", () => {
    const docroot = mkdtempSync(join(tmpdir(), 'fpm-bridge-route-'));
    try {
      for (const dir of ['q?x', 'sp ace', 'é']) {
        mkdirSync(join(docroot, dir));
        writeFileSync(join(docroot, dir, 'index.php'), '');
      }
      const odd = router({ docroot });
      // Decoded `?` would start a query, a space is no URI, and the raw form could start with `//`.
      assert.deepEqual(odd.route('/q?x', ''), { kind: 'redirect', location: '/q%3Fx/' });
      assert.deepEqual(odd.route('/sp ace', 'a=1'), { kind: 'redirect', location: '/sp%20ace/?a=1' });
      assert.deepEqual(odd.route('/é', ''), { kind: 'redirect', location: '/%C3%A9/' });
    } finally {
      rmSync(docroot, { recursive: true, force: true });
    }
  });
  for (const [what, path, query, expected] of cases) {
    test(`${what}: ${JSON.stringify(path)}`, () => {
      assert.deepEqual(r.route(path, query), expected);
    });
  }

  const statics: [what: string, path: string, file: string, size: number][] = [
    ['an existing non-script file is served', '/hello.txt', 'hello.txt', 25],
    ['a file in a directory without index is served', '/assets/app.css', 'assets/app.css', 21],
    ['a binary file is served', '/pixel.png', 'pixel.png', 70],
    [
      '/.well-known/ is the one dot directory served',
      '/.well-known/security.txt',
      '.well-known/security.txt',
      37,
    ],
  ];
  for (const [what, path, file, size] of statics) {
    test(`${what}: ${JSON.stringify(path)}`, () => {
      assert.deepEqual(shape(r.route(path, '')), { kind: 'static', filename: join(D, file), size });
    });
  }

  const refused: [what: string, path: string][] = [
    ['a dotfile is never served', '/.env'],
    ['x.PHP is neither run (case-sensitive split) nor served as source', '/x.PHP'],
  ];
  for (const [what, path] of refused) {
    test(`${what}: ${JSON.stringify(path)} → NotFoundError`, () => {
      assert.throws(() => r.route(path, ''), NotFoundError);
      assert.throws(() => r.route(path, ''), notFound);
    });
  }

  test('filename() joins the docroot and a path', () => {
    assert.equal(r.filename('/a/b.txt'), `${D}/a/b.txt`);
    assert.equal(router({ docroot: '/' }).filename('/etc/hostname'), '/etc/hostname');
  });
});

describe('Router with frontControllerOnly (nothing uploaded can ever run)', () => {
  const r = router({ frontControllerOnly: true });
  for (const path of [
    '/upload/evil.php',
    '/dump.php',
    '/dump.php/x',
    '/hello.txt',
    '/sub/',
    '/sub',
    '/x.PHP',
    '/.env',
  ]) {
    test(`${JSON.stringify(path)} runs the front controller`, () => {
      assert.deepEqual(r.route(path, ''), FRONT);
    });
  }
});

describe('Router with frontController: false (direct-script mode)', () => {
  const r = router({ frontController: false });
  for (const path of ['/no/such/page', '/missing.php', '/assets/', '/x.PHP/y']) {
    test(`${JSON.stringify(path)} → NotFoundError`, () => {
      assert.throws(() => r.route(path, ''), notFound);
    });
  }
  test('existing scripts and indexes still run', () => {
    assert.deepEqual(r.route('/dump.php/x', ''), script('/dump.php', '/x'));
    assert.deepEqual(r.route('/', ''), script('/index.php'));
    assert.deepEqual(r.route('/sub/', ''), script('/sub/index.php'));
  });
});

describe('Router with another front controller', () => {
  test('the front controller is named relative to the docroot, with or without a leading slash', () => {
    assert.deepEqual(
      router({ frontController: 'sub/index.php' }).route('/nothing', ''),
      script('/sub/index.php'),
    );
    assert.deepEqual(
      router({ frontController: '/sub/index.php' }).route('/nothing', ''),
      script('/sub/index.php'),
    );
  });
});

describe('Router with staticFiles: false (Lambda default)', () => {
  const r = router({ staticFiles: false });
  test('an existing non-script file runs the front controller', () => {
    assert.deepEqual(r.route('/hello.txt', ''), FRONT);
  });
  test('dotfiles and x.PHP are still refused', () => {
    assert.throws(() => r.route('/.env', ''), notFound);
    assert.throws(() => r.route('/x.PHP', ''), notFound);
  });
});

describe('Router with checkFiles: false (HAProxy fcgi-app semantics, files not local)', () => {
  const r = router({ checkFiles: false, docroot: '/srv/remote' });
  const cases: [path: string, expected: Route][] = [
    ['/missing.php', script('/missing.php')],
    ['/app.php/x/y', script('/app.php', '/x/y')],
    ['/', script('/index.php')],
    ['/dir/', script('/dir/index.php')],
    ['/dir', FRONT],
    ['/style.css', FRONT],
  ];
  for (const [path, expected] of cases) {
    test(`${JSON.stringify(path)} → ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(r.route(path, ''), expected);
    });
  }
});

describe('Router on a docroot with symlinks and look-alike names', () => {
  let base = '';
  let root = '';
  before(() => {
    base = mkdtempSync(join(tmpdir(), 'fpm-bridge-route-'));
    root = join(base, 'public');
    mkdirSync(join(base, 'outside'));
    mkdirSync(root);
    writeFileSync(join(base, 'outside', 'secret.txt'), 'secret\n');
    writeFileSync(join(root, 'real.txt'), 'real\n');
    writeFileSync(join(root, 'index.php'), '<?php\n');
    writeFileSync(join(root, 'page.phtml'), '<?php\n');
    // Fullwidth "ｐ" (U+FF50): looks like ".php", is not (Caddy fb324331f).
    writeFileSync(join(root, 'shell.\uff50hp'), '<?php\n');
    symlinkSync(join(base, 'outside', 'secret.txt'), join(root, 'link.txt'));
    symlinkSync(join(base, 'outside'), join(root, 'linkdir'));
    symlinkSync(join(root, 'real.txt'), join(root, 'inside.txt'));
    symlinkSync(join(root, 'loop'), join(root, 'loop'));
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  test('symlinks are followed by default, as nginx does', () => {
    const r = router({ docroot: root });
    assert.deepEqual(shape(r.route('/link.txt', '')), {
      kind: 'static',
      filename: join(root, 'link.txt'),
      size: 7,
    });
    assert.deepEqual(shape(r.route('/linkdir/secret.txt', '')), {
      kind: 'static',
      filename: join(root, 'linkdir/secret.txt'),
      size: 7,
    });
  });

  test('with symlinksWithinDocroot, a link that leaves the docroot names nothing (front controller)', () => {
    const r = router({ docroot: root, symlinksWithinDocroot: true });
    assert.deepEqual(r.route('/link.txt', ''), FRONT);
    assert.deepEqual(r.route('/linkdir/secret.txt', ''), FRONT);
    assert.deepEqual(shape(r.route('/inside.txt', '')), {
      kind: 'static',
      filename: join(root, 'inside.txt'),
      size: 5,
    });
  });

  test('a symlink loop names nothing (regression: ELOOP escaped)', () => {
    assert.deepEqual(router({ docroot: root }).route('/loop', ''), FRONT);
  });

  test('a Unicode look-alike of ".php" is not a script: served as a file, never run', () => {
    const r = router({ docroot: root });
    const name = '/shell.\uff50hp';
    assert.deepEqual(shape(r.route(name, '')), { kind: 'static', filename: join(root, name), size: 6 });
    assert.deepEqual(r.route(`${name}/x`, ''), FRONT);
  });

  test('a file with a script extension the split does not recognise is refused, never served as source', () => {
    const r = router({ docroot: root, scriptExtensions: ['.php', '.phtml'] });
    assert.throws(() => r.route('/page.phtml', ''), notFound);
  });

  test('a split that names no script extension is not run', () => {
    const r = router({ docroot: root, pathInfo: /^(.+?\.txt)(\/.*)?$/s });
    assert.deepEqual(shape(r.route('/real.txt', '')), {
      kind: 'static',
      filename: join(root, 'real.txt'),
      size: 5,
    });
    assert.deepEqual(r.route('/real.txt/x', ''), FRONT);
  });
});

describe('Router with fileCacheTtl: docroot lookups remembered for a while, as nginx open_file_cache', () => {
  let root = '';
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'fpm-bridge-route-cache-'));
    writeFileSync(join(root, 'index.php'), '<?php\n');
  });
  after(() => rmSync(root, { recursive: true, force: true }));
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  test('a script deleted after its first lookup still routes to itself until the ttl passed', async () => {
    writeFileSync(join(root, 'gone.php'), '<?php\n');
    const r = router({ docroot: root, fileCacheTtl: 30 });
    assert.deepEqual(r.route('/gone.php', ''), script('/gone.php'));
    rmSync(join(root, 'gone.php'));
    assert.deepEqual(r.route('/gone.php', ''), script('/gone.php'));
    await sleep(60);
    assert.deepEqual(r.route('/gone.php', ''), FRONT);
  });

  test('a script created after a miss is found once the ttl passed', async () => {
    const r = router({ docroot: root, fileCacheTtl: 30 });
    assert.deepEqual(r.route('/new.php', ''), FRONT);
    writeFileSync(join(root, 'new.php'), '<?php\n');
    assert.deepEqual(r.route('/new.php', ''), FRONT);
    await sleep(60);
    assert.deepEqual(r.route('/new.php', ''), script('/new.php'));
  });

  test("a static file's size comes from a fresh look, never from the cache", () => {
    const r = router({ docroot: root, fileCacheTtl: 60_000 });
    writeFileSync(join(root, 'grows.txt'), 'a');
    assert.deepEqual(shape(r.route('/grows.txt', '')), {
      kind: 'static',
      filename: join(root, 'grows.txt'),
      size: 1,
    });
    writeFileSync(join(root, 'grows.txt'), 'abc');
    assert.deepEqual(shape(r.route('/grows.txt', '')), {
      kind: 'static',
      filename: join(root, 'grows.txt'),
      size: 3,
    });
  });

  test('a static file deleted while still remembered goes to the front controller, not to a read error', () => {
    const r = router({ docroot: root, fileCacheTtl: 60_000 });
    writeFileSync(join(root, 'brief.txt'), 'a');
    assert.equal(r.route('/brief.txt', '').kind, 'static');
    rmSync(join(root, 'brief.txt'));
    assert.deepEqual(r.route('/brief.txt', ''), FRONT);
  });

  test('with fileCacheTtl 0 every request looks again', () => {
    const r = router({ docroot: root, fileCacheTtl: 0 });
    writeFileSync(join(root, 'live.php'), '<?php\n');
    assert.deepEqual(r.route('/live.php', ''), script('/live.php'));
    rmSync(join(root, 'live.php'));
    assert.deepEqual(r.route('/live.php', ''), FRONT);
  });
});
