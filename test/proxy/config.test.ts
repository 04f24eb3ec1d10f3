import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../proxy/config.ts';
import { ConfigError } from '../../proxy/errors.ts';

const made: string[] = [];
after(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

function app(files: Record<string, string> = {}, withPublic = true): string {
  const dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-config-'));
  made.push(dir);
  if (withPublic) mkdirSync(join(dir, 'public'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

function configError(fn: () => Promise<unknown>, message: string): Promise<void> {
  return assert.rejects(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, 'FPM_BRIDGE_ERR_CONFIG');
    assert.equal(err.message, message);
    return true;
  });
}

describe('loadConfig', () => {
  it('defaults docroot to public/ of the working directory and serves static files in serve mode', async () => {
    const base = app();
    const { config, file } = await loadConfig({ mode: 'serve', base, env: {} });
    assert.equal(file, null);
    assert.equal(config.docroot, join(base, 'public'));
    assert.equal(config.staticFiles, true);
    assert.equal(config.fpm, 'spawn');
    assert.equal(config.index, 'index.php');
    assert.deepEqual(config.pathInfo.exec('/a.php/b.php/c')?.slice(1), ['/a.php', '/b.php/c']);
  });

  it('uses one worker and no static files in Lambda mode, and the base itself without public/', async () => {
    const base = app({}, false);
    const { config } = await loadConfig({ mode: 'lambda', base, env: {} });
    assert.equal(config.docroot, base);
    assert.equal(config.workers, 1);
    assert.equal(config.staticFiles, false);
  });

  it('reads fpm-bridge.yml from the base and resolves relative paths against the file', async () => {
    const base = app({
      'fpm-bridge.yml': 'docroot: public\nworkers: 3\nsetParams:\n  APP_ENV: prod\n  N: 7\n',
    });
    const { config, file } = await loadConfig({
      mode: 'serve',
      base: tmpdir(),
      file: join(base, 'fpm-bridge.yml'),
      env: {},
    });
    assert.equal(file, join(base, 'fpm-bridge.yml'));
    assert.equal(config.docroot, join(base, 'public'));
    assert.equal(config.workers, 3);
    assert.deepEqual(config.setParams, { APP_ENV: 'prod', N: '7' });
  });

  it('lets environment variables override the file and the command line override both', async () => {
    const base = app({ 'fpm-bridge.json': '{"workers": 3, "timeout": 1000}' });
    const { config } = await loadConfig({
      mode: 'serve',
      base,
      env: {
        FPM_BRIDGE_WORKERS: '5',
        FPM_BRIDGE_TIMEOUT: '2000',
        FPM_BRIDGE_FPM: 'unix:/a.sock,tcp://h:9000',
      },
      overrides: { timeout: '3000' },
    });
    assert.equal(config.workers, 5);
    assert.equal(config.timeout, 3000);
    assert.deepEqual(config.fpm, ['unix:/a.sock', 'tcp://h:9000']);
  });

  it('rejects an unknown key and suggests the setting it resembles', async () => {
    const base = app({ 'fpm-bridge.yml': 'docRoot: public\n' });
    await configError(
      () => loadConfig({ mode: 'serve', base, env: {} }),
      `unknown setting "docRoot" in ${join(base, 'fpm-bridge.yml')} — did you mean "docroot"? (settings are listed in the README)`,
    );
  });

  it('rejects an invalid value naming the key, the value, its source and what is allowed', async () => {
    const base = app();
    await configError(
      () => loadConfig({ mode: 'serve', base, env: { FPM_BRIDGE_WORKERS: 'many' } }),
      'invalid "workers" "many" from environment variable FPM_BRIDGE_WORKERS — expected a whole number ≥ 1',
    );
    await configError(
      () => loadConfig({ mode: 'serve', base, env: {}, overrides: { symlinks: 'sometimes' } }),
      'invalid "symlinks" "sometimes" from the command line — expected follow or within-docroot',
    );
    await configError(
      () => loadConfig({ mode: 'serve', base, env: {}, overrides: { pathInfo: '^/.+\\.php$' } }),
      'invalid "pathInfo" "^/.+\\\\.php$" from the command line — expected a regular expression with one or two capture groups',
    );
  });

  it('rejects a docroot that is not a directory and a config file that is not a mapping', async () => {
    const base = app({ 'fpm-bridge.yml': '- a\n- b\n' });
    await configError(
      () => loadConfig({ mode: 'serve', base, env: {} }),
      `config file ${join(base, 'fpm-bridge.yml')} must hold a mapping of settings, e.g. "docroot: public"`,
    );
    await configError(
      () => loadConfig({ mode: 'serve', base: app(), env: {}, overrides: { docroot: '/nonexistent/www' } }),
      '"docroot" /nonexistent/www is not a directory — point it at your app\'s public folder',
    );
  });

  it("reports a config file that does not parse with the parser's first line", async () => {
    const base = app({ 'fpm-bridge.json': '{"workers": }' });
    await assert.rejects(
      () => loadConfig({ mode: 'serve', base, env: {} }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, new RegExp(`^cannot read config file ${join(base, 'fpm-bridge.json')}: `));
        return true;
      },
    );
  });

  it('refuses symlinks: within-docroot with checkFiles off, which could not enforce it', async () => {
    await configError(
      () =>
        loadConfig({
          mode: 'serve',
          base: app(),
          env: {},
          overrides: { symlinks: 'within-docroot', checkFiles: false },
        }),
      '"symlinks: within-docroot" needs "checkFiles: true": with checkFiles off fpm-bridge never looks at the files, so it could not refuse a symlink that leaves the docroot',
    );
  });

  it('refuses a basePath that is not a path', async () => {
    await configError(
      () => loadConfig({ mode: 'lambda', base: app(), env: { FPM_BRIDGE_BASE_PATH: 'api' } }),
      'invalid "basePath" "api" from environment variable FPM_BRIDGE_BASE_PATH — expected a path starting with / (no query), e.g. /api, or "" for none',
    );
  });

  it('reports a YAML mistake with its line and column, and reads YAML 1.2 (`yes` stays a string)', async () => {
    const indented = app({ 'fpm-bridge.yml': 'docroot: public\n  workers: 3\n' });
    await configError(
      () => loadConfig({ mode: 'serve', base: indented, env: {} }),
      `cannot read config file ${join(indented, 'fpm-bridge.yml')}: bad indentation of a mapping entry (2:10)`,
    );
    const twice = app({ 'fpm-bridge.yml': 'workers: 3\nworkers: 4\n' });
    await configError(
      () => loadConfig({ mode: 'serve', base: twice, env: {} }),
      `cannot read config file ${join(twice, 'fpm-bridge.yml')}: duplicated mapping key (2:1)`,
    );
    const { config } = await loadConfig({
      mode: 'serve',
      base: app({ 'fpm-bridge.yml': 'setParams:\n  FLAG: yes\n' }),
      env: {},
    });
    assert.deepEqual(config.setParams, { FLAG: 'yes' });
  });
});
