/**
 * Debian's Adminer and WordPress on one private MariaDB server, each behind `fpm-bridge serve` and driven by
 * headless Chromium. Settings: scripts/apps/{adminer,wordpress}.yml; instances: scripts/apps/setup.sh. One
 * file for both, so that one server is started and stopped once, by whoever needs it first and last.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { lambdaFront, launchChromium, screenshot, serveFront, setup, skipReason } from '../support/apps.ts';

/** A real PNG from a Debian package (1200×900): big enough that WordPress makes resized copies with gd. */
const IMAGE = '/usr/share/wordpress/wp-content/themes/twentytwentythree/screenshot.png';
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('real applications on MariaDB', { skip: skipReason() }, () => {
  let browser: Browser;
  let startedMariadb = false;

  before(async () => {
    startedMariadb = setup('mariadb-start').started === '1';
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    // A server that was already running belongs to someone else.
    if (startedMariadb) setup('mariadb-stop');
  });

  for (const front of [serveFront('adminer'), lambdaFront('adminer')])
    describe(`Adminer from Debian behind ${front.name}`, () => {
      let url = '';
      let stop: () => Promise<unknown> = async () => {};
      let login: Record<string, string>;
      let page: Page;

      before(async () => {
        login = setup('adminer');
        ({ url, stop } = await front.start());
        page = await browser.newPage();
      });

      after(async () => {
        await page?.close();
        await stop();
      });

      it('shows its login form at / (conf.php as the index)', async () => {
        const res = await page.goto(`${url}/`);
        assert.equal(res?.status(), 200);
        assert.match(await page.title(), /^Login - Adminer$/);
        await screenshot(page, `${front.tag}-login`);
      });

      it('logs into MariaDB, lists the databases and opens one with its table', async () => {
        await page.fill('input[name="auth[server]"]', login.dbServer!);
        await page.fill('input[name="auth[username]"]', login.dbUser!);
        await page.fill('input[name="auth[password]"]', login.dbPassword!);
        await Promise.all([page.waitForNavigation(), page.click('input[type=submit][value=Login]')]);
        const databases = await page.$$eval('#content table td:nth-child(2) a, #dbs option', (els) =>
          els.map((e) => e.textContent),
        );
        assert.ok(databases.includes(login.dbName!), `databases: ${databases.join(', ')}`);
        await screenshot(page, `${front.tag}-databases`);

        await Promise.all([page.waitForNavigation(), page.click(`#content a:text-is("${login.dbName}")`)]);
        assert.ok(await page.isVisible('#tables a:text-is("greetings")'));
        await screenshot(page, `${front.tag}-database`);
      });
    });

  // Behind serverless-offline only with its trailing-slash stripping turned off (test/support/keep-trailing-slash.mjs):
  // `/wp-admin/` would otherwise reach the function as `/wp-admin` and be redirected to itself for ever.
  for (const front of [serveFront('wordpress'), lambdaFront('wordpress')])
    describe(`WordPress from Debian behind ${front.name}`, () => {
      const admin = { user: 'admin', password: 'fpm-bridge Test #2026 pass', email: 'admin@example.com' };
      let url = '';
      let stop: () => Promise<unknown> = async () => {};
      let context: BrowserContext;
      let page: Page;
      let uploads = '';
      /** The uploaded file's path under uploads/, removed at the end (the directory is the package's). */
      let uploaded = '';

      before(async () => {
        uploads = setup('wordpress').uploads!;
        ({ url, stop } = await front.start());
        context = await browser.newContext();
        page = await context.newPage();
      });

      after(async () => {
        await context?.close();
        await stop();
        if (uploaded !== '') {
          // The original and the resized copies WordPress wrote beside it (NAME-WxH.png).
          const dir = join(uploads, dirname(uploaded));
          const name = basename(uploaded, '.png');
          for (const file of readdirSync(dir))
            if (file === `${name}.png` || new RegExp(`^${name}-\\d+x\\d+\\.png$`).test(file))
              rmSync(join(dir, file));
        }
      });

      it('runs the install wizard', async () => {
        await page.goto(`${url}/wp-admin/install.php`);
        // WordPress's user-profile.js puts a generated password in #pass1 once zxcvbn has loaded, which it
        // does after the page (on a loaded machine, after our fill: the install then used its password, and
        // the log-in below failed). Wait for that, then fill the form.
        await page.waitForFunction(
          "typeof zxcvbn === 'function' && document.querySelector('#pass1').value !== ''",
        );
        await fillForm(page, {
          '#weblog_title': 'fpm-bridge blog',
          '#user_login': admin.user,
          '#pass1': admin.password,
          '#admin_email': admin.email,
        });
        await screenshot(page, `${front.tag}-install`);
        await Promise.all([page.waitForNavigation(), page.click('#submit')]);
        assert.equal(await page.textContent('h1'), 'Success!');
        await screenshot(page, `${front.tag}-installed`);
      });

      it('logs in', async () => {
        await page.goto(`${url}/wp-login.php`);
        await fillForm(page, { '#user_login': admin.user, '#user_pass': admin.password });
        await Promise.all([
          page.waitForURL(/\/wp-admin\/$/).catch(async (err: Error) => {
            // Say where the browser ended up and what WordPress said, not only that the wait timed out.
            await screenshot(page, `${front.tag}-login-failed`);
            const said = await page.textContent('#login_error', { timeout: 1000 }).catch(() => null);
            throw new Error(`log-in did not reach /wp-admin/: at ${page.url()}; WordPress said: ${said}`, {
              cause: err,
            });
          }),
          page.click('#wp-submit'),
        ]);
        assert.equal(await page.textContent('#wpbody h1'), 'Dashboard');
        await screenshot(page, `${front.tag}-dashboard`);
      });

      let attachment = { id: 0, url: '' };

      it('uploads an image with the browser uploader (multipart POST)', async () => {
        await page.goto(`${url}/wp-admin/media-new.php?browser-uploader`);
        await page.setInputFiles('#async-upload', IMAGE);
        await Promise.all([page.waitForURL(/\/wp-admin\/upload\.php/), page.click('#html-upload')]);
        await screenshot(page, `${front.tag}-media`);
        // The REST API as the logged-in user, with the nonce WordPress hands its own scripts.
        const nonce = await (
          await page.request.get(`${url}/wp-admin/admin-ajax.php?action=rest-nonce`)
        ).text();
        const media = await page.request.get(`${url}/?rest_route=/wp/v2/media`, {
          headers: { 'X-WP-Nonce': nonce },
        });
        assert.equal(media.status(), 200);
        const [item] = (await media.json()) as { id: number; source_url: string; mime_type: string }[];
        assert.equal(item?.mime_type, 'image/png');
        attachment = { id: item!.id, url: item!.source_url };
        uploaded = attachment.url.replace(/^.*\/wp-content\/uploads\//, '');
        assert.match(uploaded, /^\d{4}\/\d{2}\/screenshot(-\d+)?\.png$/);
      });

      let postUrl = '';

      it('publishes a post showing the image', async () => {
        const nonce = await (
          await page.request.get(`${url}/wp-admin/admin-ajax.php?action=rest-nonce`)
        ).text();
        const res = await page.request.post(`${url}/?rest_route=/wp/v2/posts`, {
          headers: { 'X-WP-Nonce': nonce },
          data: {
            title: 'Hello from fpm-bridge',
            status: 'publish',
            featured_media: attachment.id,
            content: `<!-- wp:image {"id":${attachment.id}} --><figure class="wp-block-image"><img src="${attachment.url}" alt="a screenshot" class="wp-image-${attachment.id}"/></figure><!-- /wp:image -->`,
          },
        });
        assert.equal(res.status(), 201);
        postUrl = ((await res.json()) as { link: string }).link;
      });

      it('shows the post with the image, whose bytes are those uploaded', async () => {
        await page.goto(postUrl);
        assert.equal(await page.textContent('h1.wp-block-post-title'), 'Hello from fpm-bridge');
        const img = page.locator('img[alt="a screenshot"]');
        await img.waitFor();
        // Decoded by the browser: complete, 1200 px wide. (The DOM's types are not in this project's lib.)
        type Img = { complete: boolean; naturalWidth: number };
        assert.equal(
          await img.evaluate((e) => (e as unknown as Img).complete && (e as unknown as Img).naturalWidth),
          1200,
        );
        await screenshot(page, `${front.tag}-post`);
        const bytes = await (await page.request.get(attachment.url)).body();
        assert.equal(sha256(bytes), sha256(readFileSync(IMAGE)));
      });

      it('logs out', async () => {
        const logout = await page.getAttribute('#wp-admin-bar-logout a', 'href');
        assert.ok(logout !== null);
        await page.goto(logout);
        assert.match(page.url(), /\/wp-login\.php\?loggedout=true/);
        await page.goto(`${url}/wp-admin/`);
        assert.match(page.url(), /\/wp-login\.php\?redirect_to=/);
        await screenshot(page, `${front.tag}-logged-out`);
      });
    });
});

/**
 * Fills form fields and sends nothing until each still holds its value a moment later: on a loaded machine
 * WordPress's pages were seen to lose a filled-in value (an empty Username on the install form, the install
 * then refused) while their scripts started. A field that lost its value is filled again, a few times at most.
 */
async function fillForm(page: Page, fields: Record<string, string>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    for (const [selector, value] of Object.entries(fields)) {
      if ((await page.inputValue(selector)) !== value) await page.fill(selector, value);
    }
    await page.waitForTimeout(300);
    const lost: string[] = [];
    for (const [selector, value] of Object.entries(fields)) {
      if ((await page.inputValue(selector)) !== value) lost.push(selector);
    }
    if (lost.length === 0) return;
    if (attempt === 5) throw new Error(`${lost.join(', ')} kept losing the value filled in`);
  }
}
