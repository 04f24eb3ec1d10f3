import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { dotenvNames, findApp, frameworkEnvironment, scheduleCommand } from '../../handler/frameworks.ts';
import { isScheduledEvent, isSqsEvent } from '../../handler/other-events.ts';
import { ConfigError } from '../../proxy/errors.ts';
import { loadEvent } from '../support/events.ts';

const work = mkdtempSync(join(tmpdir(), 'fpm-bridge-frameworks-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** A folder with `files` (empty) in it, as the task root or an app in it. */
function tree(name: string, files: readonly string[]): string {
  const root = join(work, name);
  for (const f of files) {
    mkdirSync(join(root, f, '..'), { recursive: true });
    writeFileSync(join(root, f), '');
  }
  return root;
}

const LARAVEL = ['artisan', 'bootstrap/app.php', 'public/index.php'];
const SYMFONY = ['bin/console', 'config/bundles.php', 'public/index.php'];

describe('findApp', () => {
  it('finds a Laravel app at the task root from its public/ docroot', () => {
    const task = tree('laravel-root', LARAVEL);
    assert.deepEqual(findApp({ framework: 'auto', docroot: join(task, 'public') }, task), {
      framework: 'laravel',
      root: task,
    });
  });

  it('finds a Symfony app in a folder of the task root', () => {
    const task = tree(
      'symfony-inside',
      SYMFONY.map((f) => `apps/shop/${f}`),
    );
    assert.deepEqual(findApp({ framework: 'auto', docroot: join(task, 'apps/shop/public') }, task), {
      framework: 'symfony',
      root: join(task, 'apps/shop'),
    });
  });

  it('finds no framework in a folder of plain scripts, nor with framework: none', () => {
    const task = tree('plain', ['public/index.php', 'artisan']);
    assert.deepEqual(findApp({ framework: 'auto', docroot: join(task, 'public') }, task), {
      framework: null,
      root: task,
    });
    const laravel = tree('laravel-off', LARAVEL);
    assert.deepEqual(findApp({ framework: 'none', docroot: join(laravel, 'public') }, laravel), {
      framework: null,
      root: laravel,
    });
  });

  it('refuses a framework named but not found, saying where it looked', () => {
    const task = tree('not-symfony', LARAVEL);
    assert.throws(
      () => findApp({ framework: 'symfony', docroot: join(task, 'public') }, task),
      (err: Error) =>
        err instanceof ConfigError &&
        err.message ===
          `"framework" is symfony, but none of ${join(task, 'public')}, ${task} holds bin/console and config/bundles.php — set "docroot" to the app's public folder, or "framework: auto"`,
    );
  });
});

describe('frameworkEnvironment', () => {
  it('moves Laravel’s storage, bootstrap caches, compiled views and log to the temp dir, and makes the folders', () => {
    const app = tree('laravel-env', LARAVEL);
    const tmp = join(work, 'tmp-laravel');
    assert.deepEqual(frameworkEnvironment({ framework: 'laravel', root: app }, {}, tmp), {
      LARAVEL_STORAGE_PATH: `${tmp}/storage`,
      APP_SERVICES_CACHE: `${tmp}/storage/bootstrap/cache/services.php`,
      APP_PACKAGES_CACHE: `${tmp}/storage/bootstrap/cache/packages.php`,
      APP_CONFIG_CACHE: `${tmp}/storage/bootstrap/cache/config.php`,
      APP_ROUTES_CACHE: `${tmp}/storage/bootstrap/cache/routes-v7.php`,
      APP_EVENTS_CACHE: `${tmp}/storage/bootstrap/cache/events.php`,
      VIEW_COMPILED_PATH: `${tmp}/storage/framework/views`,
      LOG_CHANNEL: 'errorlog',
    });
    for (const dir of [
      'app',
      'logs',
      'framework/cache/data',
      'framework/sessions',
      'framework/views',
      'bootstrap/cache',
    ]) {
      assert.ok(existsSync(join(tmp, 'storage', dir)), dir);
    }
  });

  it('leaves what the function’s environment or the app’s .env sets, and a cache file deployed with the app', () => {
    const app = tree('laravel-set', [...LARAVEL, 'bootstrap/cache/config.php']);
    writeFileSync(
      join(app, '.env'),
      "# the app's\nAPP_KEY=base64:x\n  export LOG_CHANNEL = stack\nVIEW_COMPILED_PATH=/tmp/v\n",
    );
    const tmp = join(work, 'tmp-set');
    assert.deepEqual(
      frameworkEnvironment({ framework: 'laravel', root: app }, { LARAVEL_STORAGE_PATH: '/mnt/efs' }, tmp),
      {
        APP_SERVICES_CACHE: `${tmp}/storage/bootstrap/cache/services.php`,
        APP_PACKAGES_CACHE: `${tmp}/storage/bootstrap/cache/packages.php`,
        APP_ROUTES_CACHE: `${tmp}/storage/bootstrap/cache/routes-v7.php`,
        APP_EVENTS_CACHE: `${tmp}/storage/bootstrap/cache/events.php`,
      },
    );
    assert.ok(
      !existsSync(join(tmp, 'storage', 'framework')),
      'no storage folders for a storage path set elsewhere',
    );
  });

  it('moves Symfony’s cache and log directories to the temp dir; nothing for an app without framework', () => {
    const app = tree('symfony-env', SYMFONY);
    assert.deepEqual(frameworkEnvironment({ framework: 'symfony', root: app }, {}, '/tmp'), {
      APP_CACHE_DIR: '/tmp/cache',
      APP_LOG_DIR: '/tmp/log',
    });
    assert.deepEqual(frameworkEnvironment({ framework: null, root: app }, {}, '/tmp'), {});
  });

  it('reads the names a .env file sets, not its comments or values', () => {
    assert.deepEqual(
      [...dotenvNames('A=1\n# B=2\nexport C="x=y"\n D_E.F = 3\nG\n"H"=4\nI=multi\nJ=\n')],
      ['A', 'C', 'D_E.F', 'I', 'J'],
    );
  });
});

describe('schedules and queues', () => {
  it('runs `artisan schedule:run` for Laravel, "scheduleCommand" when set, nothing else', () => {
    assert.equal(
      scheduleCommand({ scheduleCommand: '' }, { framework: 'laravel', root: '/' }),
      'artisan schedule:run',
    );
    assert.equal(scheduleCommand({ scheduleCommand: '' }, { framework: 'symfony', root: '/' }), '');
    assert.equal(
      scheduleCommand({ scheduleCommand: 'bin/console app:tick' }, { framework: null, root: '/' }),
      'bin/console app:tick',
    );
  });

  it('knows an SQS event and a schedule rule’s event from the other sources’', () => {
    assert.ok(isSqsEvent(loadEvent('other', 'sqs')));
    assert.ok(isScheduledEvent(loadEvent('other', 'schedule')));
    for (const name of ['sns', 's3', 'eventbridge', 'cli', 'empty-object'] as const) {
      assert.ok(!isSqsEvent(loadEvent('other', name)), name);
      assert.ok(!isScheduledEvent(loadEvent('other', name)), name);
    }
    assert.ok(!isSqsEvent({ Records: [] }));
  });
});
