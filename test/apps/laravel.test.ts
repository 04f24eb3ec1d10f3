/**
 * examples/laravel, a Laravel 10 app on Debian 13's packages, through both fronts: `fpm-bridge serve` and the
 * Lambda handler (HTTP API events; every source for what the app sees of HTTPS, host, port and client),
 * with its non-HTTP sides on Lambda: artisan, the queue (SQS) and the scheduler (EventBridge).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { frameworkEnvironment } from '../../handler/frameworks.ts';
import type { CliResult } from '../../handler/other-events.ts';
import { FIXTURES_DOCROOT } from '../support/bridge.ts';
import { loadEvent } from '../support/events.ts';
import {
  appDir,
  ensureVendor,
  formBody,
  itRunsConsoleEvents,
  itSeesTheClientBehindEachSource,
  lambdaFront,
  missingExtensions,
  multipart,
  type RunningApp,
  SUITE_PHP,
  serveFront,
  text,
} from '../support/example-apps.ts';

const APP = appDir('laravel');
const PNG = readFileSync(join(FIXTURES_DOCROOT, 'pixel.png'));
const GREETING = new RegExp(
  `^Hello, Zoë, from artisan on PHP ${SUITE_PHP.version.replace('.', '\\.')}\\.\\d+\\n$`,
);
const FOOTER = new RegExp(
  `<footer>Laravel 10\\.48\\.\\d+ on PHP ${SUITE_PHP.version.replace('.', '\\.')}\\.\\d+</footer>`,
);

await ensureVendor('laravel');
const skip = missingExtensions('laravel') ?? false;

/** The SQS message bodies Laravel's queue would send for App\Jobs\RecordVisit, one per visitor. */
function jobBodies(tmp: string, ...visitors: string[]): string[] {
  // Laravel writes its bootstrap caches as it boots: into the temp dir, as on Lambda.
  const env = { ...process.env, ...frameworkEnvironment({ framework: 'laravel', root: APP }, {}, tmp) };
  const script = join(FIXTURES_DOCROOT, '..', 'apps', 'laravel-job.php');
  return execFileSync(SUITE_PHP.cli, [script, APP, ...visitors], { encoding: 'utf8', env })
    .trim()
    .split('\n');
}

describe('the Laravel example', { skip }, () => {
  for (const front of [serveFront, lambdaFront('apigw-http')]) {
    describe(`behind ${front.name}`, () => {
      let app: RunningApp;
      before(async () => {
        app = await front.start('laravel');
      });
      after(() => app?.stop());

      it('routes a UTF-8 parameter to its Blade view', async () => {
        const res = await app.send({ target: '/hello/Zo%C3%AB' });
        assert.equal(res.status, 200);
        assert.equal(res.headers['content-type']?.[0], 'text/html; charset=UTF-8');
        assert.match(text(res), /<h1>Hello, Zoë!<\/h1>/);
        assert.match(text(res), FOOTER);
      });

      it('redirects an old address with 302 to the new one, the parameter carried over', async () => {
        const res = await app.send({ target: '/hi/Zo%C3%AB' });
        assert.equal(res.status, 302);
        assert.deepEqual(res.headers.location, ['/hello/Zo%C3%AB']);
      });

      it('answers a path no route has with Laravel’s 404 page', async () => {
        const res = await app.send({ target: '/no/such/page' });
        assert.equal(res.status, 404);
        assert.match(text(res), /Not Found/);
      });

      it('answers HEAD as GET, without the body', async () => {
        const res = await app.send({ method: 'HEAD', target: '/' });
        assert.equal(res.status, 200);
        assert.equal(res.headers['content-type']?.[0], 'text/html; charset=UTF-8');
        assert.equal(res.body.length, 0);
      });

      it('reads back on the next request the cookie it set (encrypted by EncryptCookies)', async () => {
        const set = await app.send({ target: '/flavour/pistachio' });
        assert.equal(set.status, 200);
        assert.ok(set.headers['set-cookie']?.some((c) => c.startsWith('flavour=')));
        assert.ok(!set.headers['set-cookie']?.some((c) => c.startsWith('flavour=pistachio')));
        const read = await app.send({ target: '/flavour' });
        assert.deepEqual(JSON.parse(text(read)), { flavour: 'pistachio' });
      });

      it('gets the request URI and the query string exactly as sent, and the host, port and client', async () => {
        const res = await app.send({ target: '/request/a%20b?x=1&y=%20&z[]=2&caf%C3%A9=cr%C3%A8me' });
        assert.equal(res.status, 200);
        assert.deepEqual(JSON.parse(text(res)), {
          method: 'GET',
          uri: '/request/a%20b?x=1&y=%20&z[]=2&caf%C3%A9=cr%C3%A8me',
          query_string: 'x=1&y=%20&z[]=2&caf%C3%A9=cr%C3%A8me',
          // TrimStrings and ConvertEmptyStringsToNull make " " null.
          query: { x: '1', y: null, z: ['2'], café: 'crème' },
          path: 'request/a%20b',
          url: `${app.origin}/request/a%20b?caf%C3%A9=cr%C3%A8me&x=1&y=%20&z%5B0%5D=2`,
          secure: app.origin.startsWith('https:'),
          host: new URL(app.origin).hostname,
          port: app.port,
          ip: app.clientIp,
        });
      });

      it('saves a note through the form with the session’s CSRF token, and answers 419 without it', async () => {
        const form = await app.send({ target: '/notes' });
        assert.equal(form.status, 200);
        const token = /name="_token" value="([^"]+)"/.exec(text(form))?.[1];
        assert.ok(token, text(form));
        const saved = await app.send({
          method: 'POST',
          target: '/notes',
          ...formBody({ _token: token, text: 'Crème brûlée' }),
        });
        assert.equal(saved.status, 302);
        assert.deepEqual(saved.headers.location, [`${app.origin}/notes`]);
        const page = await app.send({ target: '/notes' });
        assert.match(text(page), /<p class="status">Note saved\.<\/p>/);
        assert.match(text(page), /<li>Crème brûlée<\/li>/);

        const refused = await app.send({ method: 'POST', target: '/notes', ...formBody({ text: 'forged' }) });
        assert.equal(refused.status, 419);
        assert.match(text(refused), /Page Expired/);
        assert.doesNotMatch(text(await app.send({ target: '/notes' })), /forged/);
      });

      it('answers the JSON API with 201, and with 422 and the validation errors', async () => {
        const json = (body: unknown) => ({
          method: 'POST',
          target: '/api/orders',
          headers: [
            ['Content-Type', 'application/json'],
            ['Accept', 'application/json'],
          ] as [string, string][],
          body: Buffer.from(JSON.stringify(body)),
        });
        const created = await app.send(json({ item: 'Earl Grey', quantity: 2 }));
        assert.equal(created.status, 201);
        assert.deepEqual(JSON.parse(text(created)), { ordered: { item: 'Earl Grey', quantity: 2 } });
        const invalid = await app.send(json({ item: '', quantity: 0 }));
        assert.equal(invalid.status, 422);
        assert.equal(invalid.headers['content-type']?.[0], 'application/json');
        assert.deepEqual(JSON.parse(text(invalid)), {
          message: 'The item field is required. (and 1 more error)',
          errors: {
            item: ['The item field is required.'],
            quantity: ['The quantity field must be at least 1.'],
          },
        });
      });

      it('takes a multipart upload byte for byte, with the form’s text fields', async () => {
        const res = await app.send({
          method: 'POST',
          target: '/api/uploads',
          ...(await multipart({
            comment: 'ümlaut',
            document: { name: 'pixel.png', type: 'image/png', data: PNG },
          })),
        });
        assert.equal(res.status, 200, text(res));
        assert.deepEqual(JSON.parse(text(res)), {
          name: 'pixel.png',
          type: 'image/png',
          size: PNG.length,
          sha256: createHash('sha256').update(PNG).digest('hex'),
          comment: 'ümlaut',
        });
      });

      it('answers an exception with a 500 page that shows no trace, and logs the trace', async () => {
        const res = await app.send({ target: '/boom' });
        assert.equal(res.status, 500);
        assert.match(text(res), /Server Error/);
        assert.doesNotMatch(text(res), /failed on purpose|RuntimeException|#0|vendor\//);
        await app.logged(/production\.ERROR: the example app failed on purpose/);
        await app.logged(/#0 [^ ]+\/vendor\/Illuminate\/Routing\/CallableDispatcher\.php/);
      });
    });
  }

  describe('on Lambda', () => {
    let app: RunningApp;
    before(async () => {
      app = await lambdaFront('apigw-http').start('laravel');
    });
    after(() => app?.stop());

    itSeesTheClientBehindEachSource('laravel');

    itRunsConsoleEvents('artisan', () => app, GREETING);

    it('runs each SQS record as a queue job, and reports only the record whose job threw', async () => {
      const event = loadEvent('other', 'sqs');
      const [ok, crash] = jobBodies(app.tmp, 'Zoë', 'crash');
      event.Records = [
        { ...event.Records[0]!, messageId: 'good-1', body: ok! },
        { ...event.Records[0]!, messageId: 'bad-2', body: crash! },
      ];
      const result = await app.lambda!.handler(event, app.context());
      assert.deepEqual(result, { batchItemFailures: [{ itemIdentifier: 'bad-2' }] });
      assert.equal(readFileSync(join(app.tmp, 'storage', 'app', 'visits.log'), 'utf8'), 'Zoë\n');
      await app.logged(/production\.ERROR: cannot record a visit for "crash"/);
    });

    it('sends an SQS event to "eventsScript" instead when there is one', async () => {
      const scripted = await lambdaFront('apigw-http', { eventsScript: 'index.php' }).start('laravel');
      try {
        // Laravel's front controller has no POST route for /.
        await assert.rejects(scripted.lambda!.handler(loadEvent('other', 'sqs'), scripted.context()), {
          message: /^"eventsScript" \/index\.php answered 405 Method Not Allowed: /,
        });
      } finally {
        await scripted.stop();
      }
    });

    it('runs `artisan schedule:run` for an EventBridge schedule', async () => {
      const result = (await app.lambda!.handler(loadEvent('other', 'schedule'), app.context())) as CliResult;
      assert.equal(result.exitCode, 0);
      assert.match(result.output, /Running \[tick\]/);
      assert.equal(readFileSync(join(app.tmp, 'storage', 'app', 'ticks.log'), 'utf8').split('\n').length, 2);
    });

    it('writes storage, compiled views and the bootstrap caches under /tmp (TMPDIR here), nothing in the app', async () => {
      assert.equal((await app.send({ target: '/' })).status, 200);
      assert.ok(readdirSync(join(app.tmp, 'storage', 'framework', 'views')).some((f) => f.endsWith('.php')));
      assert.ok(existsSync(join(app.tmp, 'storage', 'bootstrap', 'cache', 'services.php')));
      for (const dir of ['storage/app', 'storage/logs', 'storage/framework/views', 'bootstrap/cache']) {
        assert.deepEqual(readdirSync(join(APP, dir)), ['.gitignore'], dir);
      }
    });
  });
});
