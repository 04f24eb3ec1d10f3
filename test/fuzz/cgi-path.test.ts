// Property: whatever path a client sends, decodePath + Router give a route or the documented refusal
// (BadRequestError 400, NotFoundError 404), and no route ever names a file outside the docroot: not the
// SCRIPT_FILENAME PHP gets, not a static file, not a redirect to another host.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { byteString } from '../../proxy/byte-strings.ts';
import { ParamsBuilder } from '../../proxy/cgi/params.ts';
import { decodePath } from '../../proxy/cgi/path.ts';
import { type RouteOptions, Router } from '../../proxy/cgi/route.ts';
import { BadRequestError, NotFoundError } from '../../proxy/errors.ts';
import { CLIENT } from '../support/bridge.ts';
import { fuzz } from '../support/fuzz.ts';

const base = mkdtempSync(join(tmpdir(), 'fpm-bridge-fuzz-path-'));
const docroot = join(base, 'public');
mkdirSync(join(docroot, 'sub'), { recursive: true });
mkdirSync(join(docroot, 'uploads'));
mkdirSync(join(base, 'outside'));
for (const f of ['index.php', 'sub/index.php', 'uploads/evil.php', 'file.txt', '.env']) {
  writeFileSync(join(docroot, f), '<?php\n');
}
writeFileSync(join(base, 'outside', 'secret.php'), '<?php\n');
symlinkSync(join(base, 'outside'), join(docroot, 'linked'));

/** Pieces of paths that have broken path handling somewhere, and plain names that exist here. */
const piece = fc.oneof(
  fc.constantFrom(
    '..',
    '.',
    '',
    '%2e%2e',
    '%2E%2e',
    '.%2e',
    '%2e',
    '%2f',
    '%2F',
    '%5c',
    '\\',
    '%00',
    '%0a',
    '%0D',
    '\n',
    '%',
    '%z',
    '%zz',
    '%c0%ae',
    '%252e%252e',
    'é',
    '%C3%A9',
    '%e9',
    '\u{1F600}',
    '%F0%9F%98%80',
    ';',
    '?',
    'index.php',
    'sub',
    'uploads',
    'evil.php',
    'linked',
    'secret.php',
    'outside',
    'file.txt',
    '.env',
    'x.php',
    'public',
    'index.php%2f',
    'evil.php.jpg',
  ),
  fc.string({ maxLength: 6 }),
);
/** As a client sends it: the UTF-8 bytes of the text, one character each. */
const rawPath = fc
  .oneof(
    { weight: 9, arbitrary: fc.array(piece, { maxLength: 8 }).map((parts) => `/${parts.join('/')}`) },
    { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  )
  .map(byteString);

const VARIANTS: Record<string, Partial<RouteOptions>> = {
  default: {},
  'symlinks within docroot': { symlinksWithinDocroot: true },
  frontControllerOnly: { frontControllerOnly: true },
  'frontController: false': { frontController: false },
  'checkFiles: false': { checkFiles: false },
};

const within = (root: string, file: string) => file.startsWith(`${root}/`);

describe('path decoding and routing on arbitrary paths (fast-check)', () => {
  after(() => rmSync(base, { recursive: true, force: true }));
  const params = new ParamsBuilder({
    docroot,
    serverSoftware: 'fpm-bridge/test',
    setParams: [],
    passHeaders: [],
    hideHeaders: [],
  });
  const realDocroot = realpathSync(docroot);

  for (const [variant, overrides] of Object.entries(VARIANTS)) {
    it(`${variant}: a route inside the docroot, or 400/404`, () => {
      const o: RouteOptions = {
        docroot,
        index: 'index.php',
        frontController: 'index.php',
        frontControllerOnly: false,
        pathInfo: /^(.+?\.php)(\/.*)?$/s,
        scriptExtensions: ['.php'],
        checkFiles: true,
        staticFiles: true,
        symlinksWithinDocroot: false,
        fileCacheTtl: 0,
        ...overrides,
      };
      const router = new Router(o);
      fc.assert(
        fc.property(rawPath, (raw) => {
          let route: ReturnType<Router['route']>;
          try {
            route = router.route(decodePath(raw), '');
          } catch (err) {
            assert.ok(err instanceof BadRequestError || err instanceof NotFoundError, `threw ${String(err)}`);
            return;
          }
          if (route.kind === 'redirect') {
            // Never "//host/…": a protocol-relative Location is a redirect to another site.
            assert.match(route.location, /^\/(?!\/)/);
            return;
          }
          const file =
            route.kind === 'static'
              ? route.filename
              : textOf(
                  paramValue(
                    params.build(
                      {
                        ...CLIENT,
                        method: 'GET',
                        uri: raw,
                        path: raw,
                        query: '',
                        headers: [],
                        https: false,
                        contentLength: null,
                      },
                      route,
                    ),
                    'SCRIPT_FILENAME',
                  ),
                );
          // Lexically: no "..", "." or "//" left for php-fpm's own path handling to interpret.
          assert.equal(resolve(file), file);
          assert.ok(within(docroot, file), `${file} is outside ${docroot}`);
          if (o.symlinksWithinDocroot)
            assert.ok(within(realDocroot, realpathSync(file)), `${file} leaves the docroot`);
        }),
        fuzz(1000),
      );
    });
  }
});

/** A param's bytes as the file name they are. */
const textOf = (bytes: string) => Buffer.from(bytes, 'latin1').toString('utf8');

function paramValue(p: readonly string[], name: string): string {
  for (let i = 0; i < p.length; i += 2) if (p[i] === name) return p[i + 1]!;
  throw new Error(`no ${name} param`);
}
