/**
 * examples/symfony, a Symfony 6.4 micro-kernel app on Debian 13's packages, through both fronts: `fpm-bridge
 * serve` and the Lambda handler (HTTP API events; every source for what the app sees of HTTPS, host, port and
 * client), with its non-HTTP sides on Lambda: bin/console, Messenger (SQS) and a schedule.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SQSEvent } from 'aws-lambda';
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

const APP = appDir('symfony');
const PNG = readFileSync(join(FIXTURES_DOCROOT, 'pixel.png'));
const PHP = SUITE_PHP.version.replace('.', '\\.');
const FOOTER = new RegExp(`<footer>Symfony 6\\.4\\.\\d+ on PHP ${PHP}\\.\\d+</footer>`);
/** What app:greet prints, and nothing else: Symfony's console warns first when PHP_SAPI is not "cli". */
const GREETING = new RegExp(`^Hello, Zoë, from bin/console on PHP ${PHP}\\.\\d+\\n$`);

await ensureVendor('symfony');
const skip = missingExtensions('symfony') ?? false;

/** An SQS event carrying App\Message\RecordVisit messages as Symfony's SQS transport sends them. */
function messages(...visitors: [id: string, visitor: string][]): SQSEvent {
  const script = join(FIXTURES_DOCROOT, '..', 'apps', 'symfony-message.php');
  const bodies = execFileSync(SUITE_PHP.cli, [script, APP, ...visitors.map(([, v]) => v)], {
    encoding: 'utf8',
  })
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as string);
  const event = loadEvent('other', 'sqs');
  event.Records = visitors.map(([messageId], i) => ({ ...event.Records[0]!, messageId, body: bodies[i]! }));
  return event;
}

describe('the Symfony example', { skip }, () => {
  for (const front of [serveFront, lambdaFront('apigw-http')]) {
    describe(`behind ${front.name}`, () => {
      let app: RunningApp;
      before(async () => {
        app = await front.start('symfony');
      });
      after(() => app?.stop());

      it('routes a UTF-8 parameter to its Twig template', async () => {
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

      it('answers a path no route has with Symfony’s 404 page', async () => {
        const res = await app.send({ target: '/no/such/page' });
        assert.equal(res.status, 404);
        assert.match(text(res), /The server returned a "404 Not Found"\./);
      });

      it('answers HEAD as GET, without the body', async () => {
        const res = await app.send({ method: 'HEAD', target: '/' });
        assert.equal(res.status, 200);
        assert.equal(res.headers['content-type']?.[0], 'text/html; charset=UTF-8');
        assert.equal(res.body.length, 0);
      });

      it('reads back on the next request the cookie it set', async () => {
        const set = await app.send({ target: '/flavour/pistachio' });
        assert.equal(set.status, 200);
        assert.ok(set.headers['set-cookie']?.some((c) => c.startsWith('flavour=pistachio;')));
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
          query: { x: '1', y: ' ', z: ['2'], café: 'crème' },
          path: '/request/a%20b',
          url: `${app.origin}/request/a%20b?caf%C3%A9=cr%C3%A8me&x=1&y=%20&z%5B0%5D=2`,
          secure: app.origin.startsWith('https:'),
          host: new URL(app.origin).hostname,
          port: app.port,
          ip: app.clientIp,
        });
      });

      it('saves a note through the form with its CSRF token, and answers 422 "invalid CSRF token" without', async () => {
        const form = await app.send({ target: '/notes' });
        assert.equal(form.status, 200);
        const token = /name="form\[_token\]" value="([^"]+)"/.exec(text(form))?.[1];
        assert.ok(token, text(form));
        const saved = await app.send({
          method: 'POST',
          target: '/notes',
          ...formBody({ 'form[text]': 'Crème brûlée', 'form[_token]': token }),
        });
        assert.equal(saved.status, 302);
        assert.deepEqual(saved.headers.location, ['/notes']);
        const page = await app.send({ target: '/notes' });
        assert.match(text(page), /<p class="status">Note saved\.<\/p>/);
        assert.match(text(page), /<li>Crème brûlée<\/li>/);

        const refused = await app.send({
          method: 'POST',
          target: '/notes',
          ...formBody({ 'form[text]': 'forged' }),
        });
        assert.equal(refused.status, 422);
        assert.match(
          text(refused),
          /<li>The CSRF token is invalid\. Please try to resubmit the form\.<\/li>/,
        );
        assert.doesNotMatch(text(await app.send({ target: '/notes' })), /<li>forged<\/li>/);
      });

      it('answers the JSON API with 201, and with 422 and the validator’s violations', async () => {
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
        const problem = JSON.parse(text(invalid));
        assert.deepEqual(
          {
            title: problem.title,
            status: problem.status,
            violations: problem.violations.map((v: { propertyPath: string; title: string }) => [
              v.propertyPath,
              v.title,
            ]),
          },
          {
            title: 'Validation Failed',
            status: 422,
            violations: [
              ['item', 'This value should not be blank.'],
              ['quantity', 'This value should be positive.'],
            ],
          },
        );
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
        assert.match(text(res), /The server returned a "500 Internal Server Error"\./);
        assert.doesNotMatch(text(res), /failed on purpose|RuntimeException|#0|vendor\//);
        await app.logged(
          /app\.CRITICAL: Uncaught PHP Exception RuntimeException: "the example app failed on purpose"/,
        );
        assert.match(app.log(), /#0 [^ ]+\/vendor\/Symfony\/Component\/HttpKernel\/HttpKernel\.php/);
      });
    });
  }

  describe('on Lambda', () => {
    let app: RunningApp;
    before(async () => {
      app = await lambdaFront('apigw-http', { scheduleCommand: 'bin/console app:greet Zoë' }).start(
        'symfony',
      );
    });
    after(() => app?.stop());

    itSeesTheClientBehindEachSource('symfony');

    itRunsConsoleEvents('bin/console', () => app, GREETING);

    it('hands each SQS message to its Messenger handler, and reports only the one whose handler threw', async () => {
      const event = messages(['good-1', 'Zoë'], ['bad-2', 'crash']);
      const result = await app.lambda!.handler(event, app.context());
      assert.deepEqual(result, { batchItemFailures: [{ itemIdentifier: 'bad-2' }] });
      assert.equal(readFileSync(join(app.tmp, 'log', 'visits.log'), 'utf8'), 'Zoë\n');
      await app.logged(
        /SQS message bad-2 failed: Symfony\\Component\\Messenger\\Exception\\HandlerFailedException: Handling "App\\Message\\RecordVisit" failed: cannot record a visit for "crash"/,
      );
    });

    it('drops a message it cannot decode, as Symfony’s worker does, and logs why', async () => {
      const event = messages(['good-3', 'Zoë']);
      event.Records.push({ ...event.Records[0]!, messageId: 'garbled-4', body: 'not a message' });
      assert.deepEqual(await app.lambda!.handler(event, app.context()), { batchItemFailures: [] });
      await app.logged(
        /SQS message garbled-4 failed for good: Symfony\\Component\\Messenger\\Exception\\MessageDecodingFailedException: Could not decode Envelope/,
      );
    });

    it('runs "scheduleCommand" for an EventBridge schedule', async () => {
      const result = (await app.lambda!.handler(loadEvent('other', 'schedule'), app.context())) as CliResult;
      assert.equal(result.exitCode, 0);
      assert.match(result.output, GREETING);
    });

    it('fails the invocation when "scheduleCommand" exits with an error, giving its exit code and output', async () => {
      const failing = await lambdaFront('apigw-http', {
        scheduleCommand: 'bin/console app:greet Zoë --fail',
      }).start('symfony');
      try {
        await assert.rejects(failing.lambda!.handler(loadEvent('other', 'schedule'), failing.context()), {
          message:
            /^"scheduleCommand" bin\/console app:greet Zoë --fail exited with 3: (.*\n)*Hello, Zoë, from bin\/console/,
        });
      } finally {
        await failing.stop();
      }
    });

    it('writes the cache and the logs under /tmp (TMPDIR here), nothing in the app', async () => {
      assert.equal((await app.send({ target: '/' })).status, 200);
      assert.ok(readdirSync(join(app.tmp, 'cache', 'prod')).includes('App_KernelProdContainer.php'));
      assert.ok(!existsSync(join(APP, 'var')));
    });
  });
});
