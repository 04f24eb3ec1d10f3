/**
 * The PHP frameworks the Lambda handler knows, Laravel and Symfony: where the app is, the environment that
 * moves what they write out of the read-only task root into /tmp, and fpm-bridge's PHP scripts that run an
 * SQS event's records as the app's queue jobs (Laravel) or Messenger messages (Symfony).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../proxy/config.ts';
import { ConfigError } from '../proxy/errors.ts';

export type Framework = 'laravel' | 'symfony';

/** The files that make a folder a framework's app, as their own skeletons lay them out. */
const MARKERS: Readonly<Record<Framework, readonly string[]>> = {
  laravel: ['artisan', 'bootstrap/app.php'],
  symfony: ['bin/console', 'config/bundles.php'],
};

export interface FrameworkApp {
  framework: Framework | null;
  /** The app's folder (the one holding artisan or bin/console); the task root when there is no framework. */
  root: string;
}

/** The folders from the docroot up to the task root (both included), nearest first. */
function candidates(docroot: string, taskRoot: string): string[] {
  const out = [docroot];
  const inside = (dir: string) => {
    const rel = relative(taskRoot, dir);
    return rel !== '' && !rel.startsWith('..') && !rel.startsWith(sep);
  };
  for (let dir = docroot; inside(dir); ) {
    dir = dirname(dir);
    out.push(dir);
  }
  // A docroot outside the task root: its own folder and the one above, as `public/` sits in an app.
  if (!out.includes(taskRoot) && relative(taskRoot, docroot).startsWith('..')) out.push(dirname(docroot));
  return out;
}

function isApp(dir: string, framework: Framework): boolean {
  return MARKERS[framework].every((f) => existsSync(join(dir, f)));
}

/**
 * The app and its framework for the `framework` setting: `auto` looks for Laravel's and Symfony's files
 * from the docroot up to the task root, so that `public/` finds its app, whether the app is the task root
 * (`/var/task/public`) or a folder in it (`/var/task/examples/laravel/public`). A framework named
 * explicitly must be found.
 *
 * @example
 *   findApp({ framework: 'auto', docroot: '/var/task/public' }, '/var/task')
 *   // { framework: 'laravel', root: '/var/task' } when /var/task has artisan and bootstrap/app.php
 */
export function findApp(config: Pick<Config, 'framework' | 'docroot'>, taskRoot: string): FrameworkApp {
  if (config.framework === 'none') return { framework: null, root: taskRoot };
  const wanted: readonly Framework[] =
    config.framework === 'auto' ? ['laravel', 'symfony'] : [config.framework];
  const dirs = candidates(config.docroot, taskRoot);
  for (const dir of dirs) {
    const framework = wanted.find((f) => isApp(dir, f));
    if (framework !== undefined) return { framework, root: dir };
  }
  if (config.framework !== 'auto') {
    throw new ConfigError(
      `"framework" is ${config.framework}, but none of ${dirs.join(', ')} holds ${MARKERS[config.framework].join(' and ')} — set "docroot" to the app's public folder, or "framework: auto"`,
    );
  }
  return { framework: null, root: taskRoot };
}

/** Laravel's bootstrap cache files, each moved by its own variable (Application::normalizeCachePath). */
const LARAVEL_CACHES: readonly (readonly [string, string])[] = [
  ['APP_SERVICES_CACHE', 'services.php'],
  ['APP_PACKAGES_CACHE', 'packages.php'],
  ['APP_CONFIG_CACHE', 'config.php'],
  ['APP_ROUTES_CACHE', 'routes-v7.php'],
  ['APP_EVENTS_CACHE', 'events.php'],
];

/** The names a `.env` file sets (`NAME=…`, `export NAME=…`); values are not read. */
export function dotenvNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/^[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.]*)[ \t]*=/gm))
    names.add(m[1]!);
  return names;
}

/**
 * Variables that point what the app's framework writes at `tmp` (Lambda's /tmp): the task root is
 * read-only there. Laravel: storage/ (`LARAVEL_STORAGE_PATH`: sessions, file cache, compiled views, logs),
 * the bootstrap caches (`APP_*_CACHE`, except a cache file deployed in bootstrap/cache, which is read where
 * it is) and `VIEW_COMPILED_PATH`, with `LOG_CHANNEL=errorlog` so that the log reaches CloudWatch. Symfony:
 * `APP_CACHE_DIR` and `APP_LOG_DIR`, which its MicroKernelTrait reads. A variable the function's
 * environment or the app's `.env` sets is left to them (a variable set wins over `.env` in both frameworks,
 * so a default here would silently replace the app's choice). The folders Laravel expects to exist are
 * created.
 *
 * @example
 *   frameworkEnvironment({ framework: 'symfony', root: '/var/task' }, process.env, '/tmp')
 *   // { APP_CACHE_DIR: '/tmp/cache', APP_LOG_DIR: '/tmp/log' }
 */
export function frameworkEnvironment(
  app: FrameworkApp,
  env: NodeJS.ProcessEnv,
  tmp: string,
): Record<string, string> {
  if (app.framework === null) return {};
  const defaults: Record<string, string> = {};
  if (app.framework === 'laravel') {
    const storage = join(tmp, 'storage');
    defaults.LARAVEL_STORAGE_PATH = storage;
    for (const [name, file] of LARAVEL_CACHES) {
      if (!existsSync(join(app.root, 'bootstrap', 'cache', file))) {
        defaults[name] = join(storage, 'bootstrap', 'cache', file);
      }
    }
    defaults.VIEW_COMPILED_PATH = join(storage, 'framework', 'views');
    // Laravel's skeleton channel: error_log() reaches fpm-bridge over FastCGI with the request it belongs to
    // (its AWS request id in CloudWatch); `stderr` would come through php-fpm's own log, late.
    defaults.LOG_CHANNEL = 'errorlog';
  } else {
    defaults.APP_CACHE_DIR = join(tmp, 'cache');
    defaults.APP_LOG_DIR = join(tmp, 'log');
  }
  let dotenv = new Set<string>();
  try {
    dotenv = dotenvNames(readFileSync(join(app.root, '.env'), 'utf8'));
  } catch {
    // No .env: every default applies.
  }
  const chosen: Record<string, string> = {};
  for (const [name, value] of Object.entries(defaults)) {
    if (env[name] === undefined && !dotenv.has(name)) chosen[name] = value;
  }
  if (chosen.LARAVEL_STORAGE_PATH !== undefined) {
    // What Laravel's own storage/ holds: it creates none of these itself (config/view.php takes the
    // realpath() of the views folder, which is false for a folder that does not exist).
    for (const dir of ['app', 'logs', 'framework/cache/data', 'framework/sessions', 'framework/views']) {
      mkdirSync(join(chosen.LARAVEL_STORAGE_PATH, dir), { recursive: true });
    }
  }
  for (const [name] of LARAVEL_CACHES) {
    if (chosen[name] !== undefined) mkdirSync(dirname(chosen[name]), { recursive: true });
  }
  return chosen;
}

/**
 * fpm-bridge's PHP script that runs an SQS event with the framework's queue (`handler/php/` beside this
 * module; `php/` beside the bundle, where the build and the Serverless plugin put them).
 */
export function queueScript(framework: Framework): string {
  return fileURLToPath(new URL(`./php/${framework}-sqs.php`, import.meta.url));
}

/** The console command an EventBridge schedule runs: `scheduleCommand`, else Laravel's scheduler. */
export function scheduleCommand(config: Pick<Config, 'scheduleCommand'>, app: FrameworkApp): string {
  if (config.scheduleCommand !== '') return config.scheduleCommand;
  return app.framework === 'laravel' ? 'artisan schedule:run' : '';
}
