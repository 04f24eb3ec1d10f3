/**
 * Real applications for `bench/fronts.ts`: each entry says where the app lives, what every front must pass
 * it, which page is measured and how to tell that page from an error, and prepares the app (database,
 * install) before the runs. Adding an app is adding an entry to {@link APPS}.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findApp, frameworkEnvironment } from '../handler/frameworks.ts';
import { runSetup } from '../scripts/apps/setup.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** An app ready to be measured. */
export interface AppSite {
  docroot: string;
  /**
   * FastCGI params every front passes besides the CGI ones (serve's `setParams`, nginx's `fastcgi_param`,
   * HAProxy's `set-param`): the app's settings.
   */
  params: Readonly<Record<string, string>>;
  /** The Host header of every request: apps build their links from it and may redirect to their own. */
  host: string;
  /** The page measured. */
  path: string;
  /** Null when `body` (status 200) is the page, else what is wrong with it. */
  check(body: string): string | null;
  /** Processes the app runs on besides php-fpm (its database server): their CPU time is the workload's. */
  pids: readonly number[];
  /** Undoes what preparing started (a database server). */
  stop(): void;
}

export interface BenchApp {
  name: string;
  title: string;
  /** Concurrency levels measured unless the command line names others. */
  levels: readonly number[];
  /** Seconds measured per run at least: a real page takes milliseconds, and a p99 needs samples. */
  minSeconds: number;
  /** Gets the app ready; returns why it cannot be measured here instead when it cannot. */
  prepare(): AppSite | string;
}

/**
 * The bench's own instance of the apps' setup (scripts/apps/setup.sh): its own MariaDB, database and
 * WordPress config, because the test suites drop and recreate theirs while they run.
 */
const INSTANCE = 'fpm-bridge-bench';
/** Where setup.sh keeps that instance's MariaDB (its pid file). */
const MARIADB = `/var/lib/${INSTANCE}/mariadb`;
const WP_HOST = 'wp.bench';
const WP_TITLE = 'fpm-bridge bench';

function setup(command: string): Record<string, string> {
  return runSetup(command, { ...process.env, FPM_BRIDGE_APPS_INSTANCE: INSTANCE });
}

/**
 * Installs WordPress into the fresh database `setup.sh wordpress` made, as the install wizard would, with
 * its address http://wp.bench: every front is sent that Host, so each serves the same page.
 */
const WP_INSTALL = `<?php
$_SERVER['WORDPRESS_CONFIG'] = getenv('WORDPRESS_CONFIG');
$_SERVER['HTTP_HOST'] = getenv('WP_HOST');
$_SERVER['REQUEST_URI'] = '/';
define('WP_INSTALLING', true);
require '/usr/share/wordpress/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
wp_install(getenv('WP_TITLE'), 'bench', 'bench@example.com', false, '', wp_generate_password());
update_option('siteurl', 'http://' . getenv('WP_HOST'));
update_option('home', 'http://' . getenv('WP_HOST'));
`;

const wordpress: BenchApp = {
  name: 'wordpress',
  title: "WordPress's front page (Debian's wordpress 6.1, MariaDB, theme Twenty Twenty-Three)",
  levels: [8, 32],
  minSeconds: 20,
  prepare() {
    let started = false;
    try {
      setup('install');
      started = setup('mariadb-start').started === '1';
      const wp = setup('wordpress');
      const dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-bench-wp-'));
      writeFileSync(join(dir, 'install.php'), WP_INSTALL);
      const install = spawnSync('php', [join(dir, 'install.php')], {
        encoding: 'utf8',
        env: { ...process.env, WORDPRESS_CONFIG: wp.config, WP_HOST, WP_TITLE },
      });
      rmSync(dir, { recursive: true, force: true });
      if (install.status !== 0)
        throw new Error(
          `installing WordPress with php failed: ${`${install.stdout}${install.stderr}`.trim()}`,
        );
      return {
        docroot: wp.docroot!,
        params: { WORDPRESS_CONFIG: wp.config! },
        host: WP_HOST,
        path: '/',
        check: (body) =>
          body.includes(`<title>${WP_TITLE}`) && body.trimEnd().endsWith('</html>')
            ? null
            : `not the front page: ${JSON.stringify(body.slice(0, 200))}`,
        pids: [Number(readFileSync(join(MARIADB, 'mariadbd.pid'), 'utf8'))],
        stop: () => {
          if (started) setup('mariadb-stop');
        },
      };
    } catch (err) {
      if (started) setup('mariadb-stop');
      return (err as Error).message;
    }
  },
};

const LARAVEL = join(ROOT, 'examples', 'laravel');

const laravel: BenchApp = {
  name: 'laravel',
  title: "the Laravel example's home page (examples/laravel)",
  levels: [8, 32],
  minSeconds: 20,
  prepare() {
    if (!existsSync(join(LARAVEL, 'public', 'index.php')))
      return 'examples/laravel is missing from this checkout';
    if (!existsSync(join(LARAVEL, 'vendor', 'autoload.php')))
      return 'examples/laravel/vendor is missing: fetch the framework packages as examples/laravel says first';
    // Compiled views and caches go where the Lambda handler puts them, not into the checkout's storage/ and
    // bootstrap/cache (where the example's own tests expect none).
    const tmp = mkdtempSync(join(tmpdir(), 'fpm-bridge-bench-laravel-'));
    const docroot = join(LARAVEL, 'public');
    const storage = frameworkEnvironment(findApp({ framework: 'auto', docroot }, LARAVEL), {}, tmp);
    return {
      docroot,
      // Sessions in memory: a session file per request would pile up in storage/.
      params: { SESSION_DRIVER: 'array', ...storage },
      host: 'localhost',
      path: '/',
      check: (body) =>
        body.includes('</html>') ? null : `no HTML page: ${JSON.stringify(body.slice(0, 200))}`,
      pids: [],
      stop: () => rmSync(tmp, { recursive: true, force: true }),
    };
  },
};

export const APPS: readonly BenchApp[] = [wordpress, laravel];
