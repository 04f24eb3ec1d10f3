// Builds the Lambda layer of each PHP version from Debian's packages (downloads cached under the OS temp dir,
// so re-runs skip them; CI starts without them), then runs its php and php-fpm in a bubblewrap sandbox that
// holds only the layer at /opt, a private /tmp, /proc and /dev — none of the host's /usr, /lib or /etc, and
// no environment at all (no PHPRC, no PHP_INI_SCAN_DIR): the binaries must find their own ini files.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { createLambdaApp } from '../../handler/runtime.ts';
import { buildLayer, PHP_VERSIONS } from '../../layer/build.ts';
import { DEFAULT_EXTENSIONS } from '../../layer/extensions.ts';
import { readZipEntry } from '../../layer/zip.ts';
import { LayerError, UsageError } from '../../proxy/errors.ts';
import { getValues } from '../../proxy/fastcgi/management.ts';
import { recordingLogger, waitFor } from '../support/bridge.ts';
import { loadEvent } from '../support/events.ts';
import { fakeContext } from '../support/lambda-context.ts';
import {
  buildTestLayer,
  expectedModules,
  inSandbox,
  LAYER_CACHE,
  moduleNames,
  sandboxArgs,
  type TestLayer,
} from '../support/layer.ts';

const work = mkdtempSync(join(tmpdir(), 'fpm-bridge-layer-test-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** The issue's bound for the default layer, and Bref v3's php-85 layer is 92 MB. */
const SIZE_GOAL = 90 * 1048576;
const FONT = '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf';
const AVIF = join(import.meta.dirname, '..', 'fixtures', 'images', 'red-8x8.avif');

for (const version of PHP_VERSIONS) {
  describe(`the PHP ${version} layer`, () => {
    let layer: TestLayer;
    /** `php -r CODE` in the sandbox; its stdout, after checking it exited 0 and wrote nothing on stderr. */
    const php = (code: string, extra: readonly string[] = []): string => {
      const r = inSandbox(layer.dir, ['/opt/bin/php', '-r', code], { extra });
      assert.equal(r.stderr, '');
      assert.equal(r.status, 0);
      return r.stdout;
    };

    before(async () => {
      layer = await buildTestLayer(work, { php: version });
    });

    it(`is PHP ${version}, at most 90 MiB unzipped, with a manifest saying what it holds and what it left out`, (t) => {
      const { report, dir } = layer;
      t.diagnostic(
        `build: ${layer.buildSeconds.toFixed(1)} s, ${(report.unzippedBytes / 1048576).toFixed(1)} MiB unzipped, ${(report.zipBytes / 1048576).toFixed(1)} MiB zipped, ${report.packages.length} packages`,
      );
      assert.ok(report.unzippedBytes <= SIZE_GOAL, `${report.unzippedBytes} bytes unzipped`);
      assert.equal(report.php, version);
      for (const file of ['bin/php', 'bin/php-fpm', 'lib/ld-linux-x86-64.so.2', 'lib/libc.so.6']) {
        assert.ok(existsSync(join(dir, file)), `${file} is in the layer`);
      }
      const manifest = JSON.parse(readFileSync(join(dir, 'share/fpm-bridge/layer.json'), 'utf8'));
      assert.equal(manifest.php, version);
      assert.deepEqual(manifest.extensions, report.modules);
      assert.deepEqual(manifest.packages, report.packages);
      assert.deepEqual(
        manifest.leftOut.map((l: { soname: string }) => l.soname.replace(/\.so(\..*)?$/, '')),
        [
          'libSvtAv1Enc',
          'libXpm',
          'libaom',
          'libdb-5.3',
          'libfontconfig',
          'libgav1',
          'libheif',
          'libicudata',
          'librav1e',
          'librtmp',
          'libsystemd',
          'libtiff',
        ],
      );
      // What `layer publish` and the Serverless plugin read, straight from the zip.
      const fromZip = readZipEntry(readFileSync(report.zip), 'share/fpm-bridge/layer.json');
      assert.deepEqual(JSON.parse(fromZip!.toString('utf8')), manifest);
      // Licences only of packages the layer carries files of: none for a library replaced by a stand-in.
      const docs = readdirSync(join(dir, 'share/doc'));
      assert.ok(docs.includes(`php${version}-fpm`) && docs.includes('libc6') && docs.includes('tzdata'));
      assert.ok(!docs.some((d) => /^libx11-|^libtiff|^libheif|^libsvtav1/.test(d)), docs.join(' '));
    });

    it('sees no host /usr, /lib or /etc', () => {
      assert.equal(
        php('var_export([is_dir("/usr"), is_dir("/lib"), is_dir("/etc")]);'),
        'array (\n  0 => false,\n  1 => false,\n  2 => false,\n)',
      );
    });

    it('php -m lists the chosen extensions and the built-in ones with no environment set', () => {
      const r = inSandbox(layer.dir, ['/opt/bin/php', '-m']);
      assert.equal(r.stderr, '');
      assert.deepEqual(moduleNames(r.stdout), expectedModules(layer.report, 'cli'));
    });

    it('php-fpm -m lists them too, without the CLI-only ones', () => {
      const r = inSandbox(layer.dir, ['/opt/bin/php-fpm', '-m']);
      assert.equal(r.stderr, '');
      assert.deepEqual(moduleNames(r.stdout), expectedModules(layer.report, 'fpm'));
    });

    it(`reads /opt/php/${version}/cli/php.ini and its conf.d by itself, and runs as /opt/bin/php, SAPI cli`, () => {
      assert.equal(
        php(
          'echo PHP_MAJOR_VERSION, ".", PHP_MINOR_VERSION, " ", php_sapi_name(), " ", php_ini_loaded_file(), " ", PHP_CONFIG_FILE_SCAN_DIR, " ", PHP_BINARY, " ", ini_get("extension_dir"), " ", ini_get("display_errors");',
        ),
        `${version} cli /opt/php/${version}/cli/php.ini /opt/php/${version}/cli/conf.d /opt/bin/php /opt/lib/php/extensions `,
      );
    });

    it('knows the time zones (tzdata in the layer) and defaults to UTC', () => {
      assert.equal(
        php(
          'echo date_default_timezone_get(), " ", (new DateTime("2024-07-01 12:00:00", new DateTimeZone("Europe/Paris")))->format(DATE_ATOM), " ", in_array("America/New_York", timezone_identifiers_list(), true) ? "listed" : "missing";',
        ),
        'UTC 2024-07-01T12:00:00+02:00 listed',
      );
    });

    it('converts the web’s character sets with iconv (glibc’s gconv modules in the layer), not EBCDIC, and has C.UTF-8', () => {
      assert.equal(
        php(
          'echo bin2hex(iconv("UTF-8", "ISO-8859-1", "é")), " ", bin2hex(iconv("UTF-8", "SJIS", "日本")), " ", bin2hex(iconv("UTF-8", "CP850", "é")), " ", bin2hex(iconv("UTF-8", "ISO-2022-JP", "日")), " ", bin2hex(iconv("UTF-8", "EUC-KR", "한")), " ", var_export(@iconv("UTF-8", "EBCDIC-US", "a"), true), " ", setlocale(LC_ALL, "C.UTF-8");',
        ),
        'e9 93fa967b 82 1b2442467c1b2842 c7d1 false C.UTF-8',
      );
    });

    it('formats, collates, transliterates and normalizes with intl on the ICU data the layer keeps', () => {
      assert.equal(
        php(
          [
            'echo (new NumberFormatter("de_DE", NumberFormatter::CURRENCY))->formatCurrency(1234.5, "EUR"), "|";',
            'echo (new NumberFormatter("fr", NumberFormatter::SPELLOUT))->format(42), "|";',
            'echo (new IntlDateFormatter("en_US", IntlDateFormatter::FULL, IntlDateFormatter::FULL, "Europe/Paris"))->format(0), "|";',
            '$a = ["ö", "z", "a"]; (new Collator("sv_SE"))->sort($a); echo implode(",", $a), "|";',
            'echo Transliterator::create("Any-Latin; Latin-ASCII")->transliterate("Привет"), "|";',
            'echo bin2hex(Normalizer::normalize("e\\u{301}")), "|", idn_to_ascii("bücher.de"), "|", IntlChar::charName("€"), "|";',
            'echo MessageFormatter::formatMessage("en", "{0, plural, one{# file} other{# files}}", [3]), "|";',
            'echo UConverter::transcode("caf\\xe9", "utf-8", "cp1252"), "|", @UConverter::transcode("x", "utf-8", "ibm-037") === false ? "no EBCDIC" : "EBCDIC", "|";',
            // Left out: display names of languages and regions; intl answers with the codes.
            'echo Locale::getDisplayLanguage("de", "en"), ",", Locale::getDisplayRegion("de_AT", "fr");',
          ].join(' '),
        ).replace(/\u202f|\u00a0/g, ' '),
        '1.234,50 €|quarante-deux|Thursday, January 1, 1970 at 1:00:00 AM Central European Standard Time|a,z,ö|Privet|c3a9|xn--bcher-kva.de|EURO SIGN|3 files|café|no EBCDIC|de,AT',
      );
    });

    it('reads and writes PNG, JPEG, WebP, GIF and BMP with gd, decodes AVIF, and draws TrueType text', () => {
      const code = [
        '$i = imagecreatetruecolor(8, 8); $out = [];',
        'foreach (["png", "jpeg", "webp", "gif", "bmp"] as $f) { ob_start(); ("image$f")($i); $b = ob_get_clean(); $out[] = $f . "=" . imagesx(imagecreatefromstring($b)); }',
        '$a = file_get_contents("/fixtures/red-8x8.avif"); $out[] = "avif=" . imagesx(imagecreatefromstring($a)) . "," . imagesx(imagecreatefromavif("/fixtures/red-8x8.avif"));',
        '$box = imagettftext($i, 6, 0, 0, 7, 0, "/fixtures/font.ttf", "Hi"); $out[] = "ttf=" . (is_array($box) ? "yes" : "no");',
        'echo implode(" ", $out);',
      ].join(' ');
      const mounts = ['--ro-bind', AVIF, '/fixtures/red-8x8.avif', '--ro-bind', FONT, '/fixtures/font.ttf'];
      assert.equal(php(code, mounts), 'png=8 jpeg=8 webp=8 gif=8 bmp=8 avif=8,8 ttf=yes');
    });

    it('leaves AVIF encoding out: imageavif() is disabled, not a call into a stand-in', () => {
      assert.equal(
        php('var_export([function_exists("imageavif"), function_exists("imagecreatefromavif")]);'),
        'array (\n  0 => false,\n  1 => true,\n)',
      );
    });

    it('answers imagecreatefromxpm() with false and curl’s rtmp:// with an error, and goes on running', () => {
      const r = inSandbox(layer.dir, [
        '/opt/bin/php',
        '-r',
        'file_put_contents("/tmp/a.xpm", "/* XPM */\\nstatic char *x[] = {\\"1 1 1 1\\", \\". c #000000\\", \\".\\"};"); var_export(@imagecreatefromxpm("/tmp/a.xpm")); $c = curl_init("rtmp://127.0.0.1/x"); var_export(curl_exec($c)); echo " ", curl_errno($c) !== 0 ? "curl error" : "no error", " still here";',
      ]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, 'falsefalse curl error still here');
    });

    it('php-fpm finds its own php-fpm.conf (-t) and, as a non-root user, answers FastCGI on /tmp/php-fpm.sock', async () => {
      const test = inSandbox(layer.dir, ['/opt/bin/php-fpm', '-t', '-R']);
      assert.equal(test.status, 0, test.stderr);
      assert.match(
        test.stderr,
        new RegExp(`configuration file /opt/php/${version}/fpm/php-fpm\\.conf test is successful\\n`),
      );
      // The sandbox's /tmp is a host directory here, so that the socket can be reached from outside.
      const shared = mkdtempSync(join(work, 'tmp-'));
      chmodSync(shared, 0o777);
      const args = sandboxArgs(layer.dir, ['--bind', shared, '/tmp', '--uid', '993', '--gid', '993']);
      const fpm = spawn('bwrap', [...args, '/opt/bin/php-fpm', '--nodaemonize', '--force-stderr'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let log = '';
      fpm.stderr!.on('data', (d) => (log += d));
      try {
        await waitFor(() => log.includes('ready to handle connections') || fpm.exitCode !== null, 'php-fpm');
        assert.match(log, /ready to handle connections/);
        chmodSync(join(shared, 'php-fpm.sock'), 0o666);
        // php-fpm answers FCGI_MPXS_CONNS=0 to a GET_VALUES request (see proxy/fastcgi/management.ts).
        assert.deepEqual(await getValues({ kind: 'unix', path: join(shared, 'php-fpm.sock') }), {
          mpxsConns: false,
        });
      } finally {
        await stop(fpm);
      }
    });

    it('serves a request through the Lambda handler, with the layer’s settings and the app’s php/conf.d', async () => {
      const task = mkdtempSync(join(work, 'task-'));
      const view = mkdtempSync(join(work, 'view-'));
      mkdirSync(join(task, 'public'), { recursive: true });
      mkdirSync(join(task, 'php', 'conf.d'), { recursive: true });
      writeFileSync(
        join(task, 'public', 'index.php'),
        `<?php
header('Content-Type: application/json');
echo json_encode([
  'version' => PHP_MAJOR_VERSION . '.' . PHP_MINOR_VERSION,
  'ini' => php_ini_loaded_file(),
  'scanned' => array_map('trim', explode(',', php_ini_scanned_files())),
  'memory_limit' => ini_get('memory_limit'),
  'binary' => PHP_BINARY,
  'sapi' => PHP_SAPI,
  'intl' => extension_loaded('intl'),
  'usr' => is_dir('/usr'),
  'date' => (new DateTime('2024-01-15 08:00', new DateTimeZone('Asia/Tokyo')))->format(DATE_ATOM),
]);
`,
      );
      // The app's own ini (Bref's convention): read after the layer's, so it wins over the layer's 10240M.
      writeFileSync(join(task, 'php', 'conf.d', 'app.ini'), 'memory_limit = 256M\n');
      // The handler is given this wrapper as its php-fpm. It stands where the layer would be (its etc/ and
      // share/ are the layer's), so that the handler treats it as the layer's binary; the wrapper then starts
      // the real one in the sandbox, with the layer at /opt and the paths the handler chose mapped there.
      mkdirSync(join(view, 'bin'), { recursive: true });
      symlinkSync(join(layer.dir, 'etc'), join(view, 'etc'));
      symlinkSync(join(layer.dir, 'share'), join(view, 'share'));
      const wrapper = join(view, 'bin', 'php-fpm');
      writeFileSync(
        wrapper,
        `#!/bin/bash
set -euo pipefail
printf '%s\\n' "PHPRC=\${PHPRC-}" "PHP_INI_SCAN_DIR=$PHP_INI_SCAN_DIR" > '${view}/launch.txt'
# The supervisor's socket and config are in a private directory under the host's /tmp: shared with the sandbox.
config=
for ((i = 1; i <= $#; i++)); do
  if [ "\${!i}" = --fpm-config ]; then j=$((i + 1)); config=\${!j}; fi
done
run_dir=$(dirname "$config")
exec bwrap ${sandboxArgs(layer.dir, [
          '--bind',
          '"$run_dir"',
          '"$run_dir"',
          '--ro-bind',
          task,
          task,
          '--setenv',
          'PHP_INI_SCAN_DIR',
          `"\${PHP_INI_SCAN_DIR//'${view}'//opt}"`,
        ])
          .map((a) => (a.startsWith('"') ? a : `'${a}'`))
          .join(' ')} /opt/bin/php-fpm "$@"
`,
      );
      chmodSync(wrapper, 0o755);
      const app = await createLambdaApp({
        taskRoot: task,
        env: {},
        overrides: { phpFpmBinary: wrapper },
        log: recordingLogger([]),
      });
      try {
        const result = (await app.handler(
          loadEvent('apigw-http', 'get-root'),
          fakeContext(),
        )) as APIGatewayProxyStructuredResultV2;
        assert.equal(result.statusCode, 200, String(result.body));
        const confD = `/opt/php/${version}/fpm/conf.d`;
        assert.deepEqual(JSON.parse(String(result.body)), {
          version,
          ini: `/opt/php/${version}/fpm/php.ini`,
          scanned: [
            ...readdirSync(join(layer.dir, confD.slice('/opt/'.length)))
              .sort()
              .map((f) => `${confD}/${f}`),
            join(task, 'php/conf.d/app.ini'),
          ],
          memory_limit: '256M',
          binary: '/opt/bin/php-fpm',
          sapi: 'fpm-fcgi',
          intl: true,
          usr: false,
          date: '2024-01-15T08:00:00+09:00',
        });
        // What the handler gave the layer's binary (phpEnv): no PHPRC, the layer's conf.d then the app's.
        assert.equal(
          readFileSync(join(view, 'launch.txt'), 'utf8'),
          `PHPRC=\nPHP_INI_SCAN_DIR=${view}${confD.slice(4)}:${task}/php/conf.d\n`,
        );
      } finally {
        await app.close();
      }
    });
  });
}

describe('fpm-bridge layer build', () => {
  it('gives the same zip, byte for byte, when built again from the same packages', async () => {
    const build = (offline: boolean) =>
      buildLayer({
        out: mkdtempSync(join(work, 'again-')),
        php: PHP_VERSIONS[0]!,
        extensions: [...DEFAULT_EXTENSIONS],
        arch: 'x86_64',
        cacheDir: LAYER_CACHE,
        offline,
      });
    const first = await build(false);
    const again = await build(true);
    assert.equal(again.sha256, first.sha256);
    assert.ok(readFileSync(again.zip).equals(readFileSync(first.zip)));
  });

  it('ships any Debian php<version>-<name> package with the extension packages it needs', async (t) => {
    const wanted = ['redis', 'apcu', 'imagick', 'mongodb'];
    const extra = await buildTestLayer(work, { php: PHP_VERSIONS[0]!, extensions: ['opcache', ...wanted] });
    t.diagnostic(`${(extra.report.unzippedBytes / 1048576).toFixed(1)} MiB unzipped`);
    // php8.4-redis depends on php8.4-igbinary: it comes too, and loads before redis.
    assert.deepEqual(extra.report.modules, ['apcu', 'igbinary', 'imagick', 'mongodb', 'opcache', 'redis']);
    const r = inSandbox(extra.dir, ['/opt/bin/php', '-m']);
    assert.equal(r.stderr, '');
    assert.deepEqual(moduleNames(r.stdout), expectedModules(extra.report, 'cli'));
    // Imagick needs the real TIFF and HEIF libraries: no stand-in for them here.
    const leftOut = extra.report.leftOut.map((l) => l.soname.replace(/\.so(\..*)?$/, ''));
    assert.ok(!leftOut.includes('libtiff'), leftOut.join(' '));
    const formats = inSandbox(extra.dir, [
      '/opt/bin/php',
      '-r',
      'echo implode(",", array_intersect(["PNG", "TIFF", "WEBP"], Imagick::queryFormats()));',
    ]);
    assert.equal(formats.stdout, 'PNG,TIFF,WEBP');
  });

  it('refuses a name that is neither PHP’s own extension nor a Debian package, naming both', async () => {
    await assert.rejects(
      buildLayer({
        out: join(work, 'nope'),
        php: PHP_VERSIONS[0]!,
        extensions: ['opcache', 'nope'],
        arch: 'x86_64',
        cacheDir: LAYER_CACHE,
        offline: true,
      }),
      (err: unknown) => {
        assert.ok(err instanceof UsageError);
        assert.match(
          err.message,
          /^unknown extension "nope" in --extensions — neither one of PHP's own \(bcmath, .*\) nor a Debian 13 package php8\.4-nope$/,
        );
        return true;
      },
    );
  });

  it('fails past the unzipped size limit, naming the size and the limit, and writes no zip', async () => {
    const out = join(work, 'too-big');
    await assert.rejects(
      // One small extension: the limit is checked before compressing, the smaller build is quicker to fail.
      buildLayer({
        out,
        php: PHP_VERSIONS[0]!,
        extensions: ['opcache'],
        arch: 'x86_64',
        cacheDir: LAYER_CACHE,
        offline: true,
        limit: 10_000_000,
      }),
      (err: unknown) => {
        assert.ok(err instanceof LayerError);
        assert.equal(err.code, 'FPM_BRIDGE_ERR_LAYER');
        assert.match(
          err.message,
          /^the layer would be \d+\.\d MiB \([\d,]+ bytes\) unzipped, over the limit of 9\.5 MiB \(10,000,000 bytes\) — Lambda allows 250\.0 MiB \(262,144,000 bytes\) for a function and all its layers together; choose fewer --extensions$/,
        );
        return true;
      },
    );
    assert.equal(existsSync(join(out, 'layer.zip')), false);
  });
});

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}
