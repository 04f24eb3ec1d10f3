import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT, rawGet, runCli, type Served, serve } from '../support/cli.ts';
import { DEMO_HEADING, TESTED_PHP } from '../support/tested-php.ts';

/** php-fpm processes whose command line names this run directory (none may outlive their fpm-bridge). */
function fpmProcessesUnder(dir: string): string[] {
  const out = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes('php-fpm') && l.includes(dir));
}

/** The private run directory of the php-fpm that fpm-bridge process `pid` started. */
function runDirOf(pid: number): string | null {
  const out = execFileSync('ps', ['-eo', 'ppid,args'], { encoding: 'utf8' });
  for (const line of out.split('\n')) {
    const m = /^\s*(\d+)\s+php-fpm: master process \((\/\S+)\/php-fpm\.conf\)/.exec(line);
    if (m !== null && Number(m[1]) === pid) return m[2]!;
  }
  return null;
}

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 25));
}

describe('fpm-bridge serve with the demo app', () => {
  let app: Served;
  before(async () => {
    app = await serve(['examples/demo/public', '--workers', '2']);
  });
  after(async () => {
    await app.stop('SIGTERM');
  });

  it('runs the front controller for / and shows what PHP received', async () => {
    const res = await fetch(`${app.url}/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    const html = await res.text();
    assert.match(html, DEMO_HEADING);
    assert.match(html, /served by <code>fpm-bridge\/0\.1\.0<\/code>/);
  });

  it('runs a direct script with PATH_INFO and the raw query', async () => {
    const res = await fetch(`${app.url}/info.php/some/path?x=1&y=%20`);
    assert.equal(res.status, 200);
    const lines = Object.fromEntries(
      (await res.text())
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, 12).trim(), l.slice(13)]),
    );
    assert.equal(lines.SCRIPT_NAME, '/info.php');
    assert.equal(lines.PATH_INFO, '/some/path');
    assert.equal(lines.QUERY_STRING, 'x=1&y=%20');
    assert.equal(lines.REQUEST_URI, '/info.php/some/path?x=1&y=%20');
    assert.equal(lines.REMOTE_ADDR, '127.0.0.1');
    assert.equal(lines.SERVER_NAME, '127.0.0.1');
  });

  it('serves a static file with its type, length and validators, and 304 when unchanged', async () => {
    const res = await fetch(`${app.url}/style.css`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/css; charset=utf-8');
    assert.equal(await res.text(), 'body {\n  font-family: sans-serif;\n}\n');
    const etag = res.headers.get('etag')!;
    const again = await fetch(`${app.url}/style.css`, { headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304);
  });

  it('posts a form through to $_POST', async () => {
    const res = await fetch(`${app.url}/echo`, {
      method: 'POST',
      body: new URLSearchParams({ message: 'yo & ü' }),
    });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /You posted: <code>yo &amp; ü<\/code>/);
  });

  it('writes JSON lines only to stdout, first one naming the URL, the docroot and the PHP it runs', async () => {
    const target = '/style.css?stdout';
    assert.equal((await fetch(`${app.url}${target}`)).status, 200);
    // The access log is written asynchronously.
    await waitFor(() => app.stdout().includes(`"url":"${target}"`));
    const [startup, ...rest] = app
      .stdout()
      .split('\n')
      .slice(0, -1)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const docroot = join(ROOT, 'examples/demo/public');
    assert.deepEqual(Object.keys(startup!), ['level', 'time', 'url', 'docroot', 'php', 'fpm', 'msg']);
    assert.equal(startup!.level, 30);
    assert.match(startup!.url as string, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(startup!.docroot, docroot);
    assert.match(startup!.php as string, new RegExp(`^${TESTED_PHP.replace('.', '\\.')}\\.\\d+$`));
    assert.match(startup!.fpm as string, /^\/\S+, pid \d+, 2 workers, unix:\/\S+\/php-fpm\.sock$/);
    assert.equal(
      startup!.msg,
      `fpm-bridge/0.1.0 serving ${docroot} on ${startup!.url} (PHP ${startup!.php}: ${startup!.fpm})`,
    );
    assert.deepEqual(
      rest.filter((l) => l.url === target).map((l) => [l.msg, l.status]),
      [['request', 200]],
    );
    assert.ok(rest.every((l) => l.msg === 'request'));
  });

  it('refuses a %0a path with 400 and a path above the docroot with 404, logging the cause', async () => {
    assert.deepEqual(await rawGet(app.url, '/index.php/%0Afoo'), { status: 400, body: '400 Bad Request\n' });
    assert.deepEqual(await rawGet(app.url, '/%2e%2e/%2e%2e/etc/passwd'), {
      status: 404,
      body: '404 Not Found\n',
    });
    assert.match(app.stderr(), /"code":"FPM_BRIDGE_ERR_BAD_REQUEST"/);
  });
});

describe('fpm-bridge serve lifecycle', () => {
  it('stops php-fpm and exits 0 on SIGTERM, leaving no process behind', async () => {
    const app = await serve(['examples/demo/public', '--workers', '2']);
    assert.equal((await fetch(`${app.url}/`)).status, 200);
    const dir = runDirOf(app.child.pid!);
    assert.notEqual(dir, null);
    assert.equal(await app.stop('SIGTERM'), 0);
    assert.deepEqual(fpmProcessesUnder(dir!), []);
  });

  it('says in one line that the configured php-fpm binary is missing', async () => {
    const { code, stdout, stderr } = await runCli(
      ['serve', 'examples/demo/public', '--listen', '127.0.0.1:0'],
      {
        FPM_BRIDGE_PHP_FPM: '/nonexistent/php-fpm',
      },
    );
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.equal(
      stderr,
      'fpm-bridge: php-fpm binary "/nonexistent/php-fpm" (from "phpFpmBinary" or FPM_BRIDGE_PHP_FPM) does not exist or is not executable\n',
    );
  });

  it('leaves no php-fpm behind even when it is killed with SIGKILL', async () => {
    const app = await serve(['examples/demo/public', '--workers', '1']);
    const dir = runDirOf(app.child.pid!);
    assert.notEqual(dir, null);
    assert.equal(await app.stop('SIGKILL'), null);
    await waitFor(() => fpmProcessesUnder(dir!).length === 0);
    assert.deepEqual(fpmProcessesUnder(dir!), []);
  });

  it('rejects a bad setting with one line and exit status 1', async () => {
    const { code, stderr } = await runCli(['serve', 'examples/demo/public', '--workers', 'zero']);
    assert.equal(code, 1);
    assert.equal(
      stderr,
      'fpm-bridge: invalid "workers" "zero" from the command line — expected a whole number ≥ 1\n',
    );
  });

  it('rejects an unknown option and an unknown command with exit status 2', async () => {
    const option = await runCli(['serve', '--port', '80']);
    assert.equal(option.code, 2);
    assert.match(option.stderr, /^fpm-bridge: Unknown option '--port'.* — run "fpm-bridge serve --help"\n$/);
    const command = await runCli(['deploy']);
    assert.equal(command.code, 2);
    assert.equal(
      command.stderr,
      'fpm-bridge: unknown command "deploy" — run "fpm-bridge --help" for the list\n',
    );
  });

  it('with --debug prints the error as a stack that starts with its class name', async () => {
    const { code, stderr } = await runCli(['deploy', '--debug']);
    assert.equal(code, 2);
    assert.match(
      stderr,
      /^UsageError: unknown command "deploy" — run "fpm-bridge --help" for the list\n {4}at /,
    );
  });

  it('prints help for the command and for serve', async () => {
    assert.match((await runCli(['--help'])).stdout, /^Usage: fpm-bridge <command>/);
    assert.match((await runCli(['serve', '--help'])).stdout, /^Usage: fpm-bridge serve \[DOCROOT\]/);
  });
});
