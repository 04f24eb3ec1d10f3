/**
 * Real applications from Debian packages (scripts/apps/setup.sh) driven by headless Chromium (playwright-core)
 * for the tests in test/apps/.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load as parse } from 'js-yaml';
import { type Browser, chromium, type Page } from 'playwright-core';
import { runSetup } from '../../scripts/apps/setup.ts';
import { ROOT, serve } from './cli.ts';
import { startOffline } from './serverless-offline.ts';
import { TESTED_PHP } from './tested-php.ts';

const CHROMIUM = '/usr/bin/chromium';
/** Screenshots of each flow, kept for a person to look at (gitignored). */
const ARTIFACTS = join(ROOT, 'test-artifacts');
/** The settings each app needs under fpm-bridge, as a user would copy them. */
const appConfig = (app: string) => join(ROOT, 'scripts', 'apps', `${app}.yml`);

/** Runs `setup.sh COMMAND` and returns the KEY=VALUE lines it printed; throws with its stderr if it failed. */
export const setup = (command: string): Record<string, string> => runSetup(command);

/**
 * Why the app tests cannot run here, or undefined when they can: the packages are installed (or were just
 * installed with apt-get) and Chromium is present. Runs at most once per process.
 */
export const skipReason: () => string | undefined = (() => {
  let reason: string | undefined | null = null;
  return () => {
    if (reason !== null) return reason;
    try {
      setup('install');
      reason = existsSync(CHROMIUM) ? undefined : `no ${CHROMIUM} (Debian package chromium)`;
    } catch (error) {
      reason = (error as Error).message;
    }
    return reason;
  };
})();

/**
 * Headless Chromium. Without the background-networking flags Chromium reaches for Google's services at start,
 * which a closed network refuses, and some of its own connections fail with it.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Saves a full-page screenshot as test-artifacts/NAME.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  // Named for the PHP too: test/php-8.4/ runs the same steps again.
  await page.screenshot({ path: join(ARTIFACTS, `php${TESTED_PHP}-${name}.png`), fullPage: true });
}

/** A running front (fpm-bridge serve, or serverless-offline with the Lambda handler) serving one app. */
export interface Front {
  /** How the test names it: "behind NAME". */
  name: string;
  /** Prefix of its screenshots' names. */
  tag: string;
  start(): Promise<{ url: string; stop(): Promise<unknown> }>;
}

const appSettings = (app: string) =>
  parse(readFileSync(appConfig(app), 'utf8')) as { setParams?: Record<string, string> };

/** `fpm-bridge serve --config scripts/apps/APP.yml`. */
export const serveFront = (app: string): Front => ({
  name: 'fpm-bridge serve',
  tag: `${app}-serve`,
  start: () => serve(['--config', appConfig(app)]),
});

/** The Lambda handler (dist/handler.js, built once per process) behind serverless-offline's HTTP API. */
export const lambdaFront = (app: string): Front => ({
  name: 'the Lambda handler behind serverless-offline (HTTP API)',
  tag: `${app}-lambda`,
  start: () => {
    buildOnce();
    return startOffline(join(ROOT, 'scripts', 'apps'), {
      FPM_BRIDGE_CONFIG: appConfig(app),
      // Lambda serves no files by default; the apps' images, CSS and JavaScript are files.
      FPM_BRIDGE_STATIC_FILES: 'true',
      // An HTTP API event means HTTPS (so HTTPS=on, port 443), but serverless-offline answers plain HTTP:
      // apps that build absolute URLs would send the browser to https://127.0.0.1:PORT. The variable
      // replaces the file's setParams, so those are repeated.
      FPM_BRIDGE_SET_PARAMS: JSON.stringify({ ...appSettings(app).setParams, HTTPS: 'off' }),
    });
  },
});

/** The function runs the bundle, as on Lambda: build it from the current sources, once. */
const buildOnce = (() => {
  let built = false;
  return () => {
    if (built) return;
    const build = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}${build.stderr}`);
    built = true;
  };
})();
