/**
 * Debian's DokuWiki (no database) driven by headless Chromium through both fronts: `fpm-bridge serve` and the
 * Lambda handler behind serverless-offline's HTTP API. The settings are scripts/apps/dokuwiki.yml, the
 * instance comes from scripts/apps/setup.sh.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { lambdaFront, launchChromium, screenshot, serveFront, setup, skipReason } from '../support/apps.ts';

const PAGE_ID = 'fpm-bridge:hello';
const TEXT = 'Saved through fpm-bridge with ümlauts & <angle brackets>';
const LOGO = '/lib/tpl/dokuwiki/images/logo.png';
/** Navigations wait for the document, not for the wiki's indexer and images (the `load` event). */
const DOM_READY = { waitUntil: 'domcontentloaded' } as const;

const fronts = [serveFront('dokuwiki'), lambdaFront('dokuwiki')];

describe('DokuWiki from Debian', { skip: skipReason() }, () => {
  let browser: Browser;

  before(async () => {
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
  });

  for (const front of fronts) {
    describe(`behind ${front.name}`, () => {
      let url = '';
      let stop: () => Promise<unknown> = async () => {};
      let page: Page;

      before(async () => {
        // A fresh wiki for each front.
        setup('dokuwiki');
        ({ url, stop } = await front.start());
        page = await browser.newPage();
      });

      after(async () => {
        await page?.close();
        await stop();
      });

      it('redirects / to the start page and styles it with CSS from lib/exe/css.php', async () => {
        const css = page.waitForResponse((r) => r.url().includes('/lib/exe/css.php'));
        const res = await page.goto(`${url}/`, DOM_READY);
        assert.equal(res?.status(), 200);
        const { pathname, search } = new URL(page.url());
        assert.equal(pathname + search, '/doku.php?id=start');
        assert.equal(await page.title(), 'start [fpm-bridge test wiki]');
        const sheet = await css;
        assert.equal(sheet.status(), 200);
        assert.equal(sheet.headers()['content-type'], 'text/css; charset=utf-8');
        await screenshot(page, `${front.tag}-start`);
      });

      it('serves the template logo as a static file, byte for byte', async () => {
        const logo = await page.request.get(`${url}${LOGO}`);
        assert.equal(logo.status(), 200);
        assert.equal(logo.headers()['content-type'], 'image/png');
        assert.deepEqual(await logo.body(), readFileSync(`/usr/share/dokuwiki${LOGO}`));
      });

      it('edits and saves a new page (session cookie and form token), then shows it to a fresh visitor', async () => {
        await page.goto(`${url}/doku.php?id=${PAGE_ID}&do=edit`, DOM_READY);
        await page.fill('#wiki__text', `====== Hello ======\n\n${TEXT}\n`);
        await screenshot(page, `${front.tag}-edit`);
        await Promise.all([
          page.waitForURL(`${url}/doku.php?id=${PAGE_ID}`, DOM_READY),
          page.click('#edbtn__save'),
        ]);
        assert.equal(await page.textContent('.page h1'), 'Hello');
        assert.equal((await page.textContent('.page p'))?.trim(), TEXT);
        await screenshot(page, `${front.tag}-saved`);

        const visitor = await browser.newPage();
        try {
          await visitor.goto(`${url}/doku.php?id=${PAGE_ID}`, DOM_READY);
          assert.equal((await visitor.textContent('.page p'))?.trim(), TEXT);
        } finally {
          await visitor.close();
        }
      });
    });
  }
});
