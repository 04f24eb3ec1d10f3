// Property: whatever event Lambda hands the handler, it answers with a result of the event's source or
// fails the invocation with BadEventError (FPM_BRIDGE_ERR_BAD_EVENT); no other error escapes, and no
// malformed event turns into a 500 from fpm-bridge itself.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { createLambdaApp, type LambdaApp } from '../../handler/runtime.ts';
import { ADAPTERS } from '../../handler/sources.ts';
import { ParamsBuilder } from '../../proxy/cgi/params.ts';
import type { ProxyRequest } from '../../proxy/cgi/request.ts';
import { BadEventError, BadRequestError } from '../../proxy/errors.ts';
import { type LogEntry, recordingLogger } from '../support/bridge.ts';
import { eventNames, HTTP_EVENT_SOURCES, loadEvent } from '../support/events.ts';
import { fuzz } from '../support/fuzz.ts';
import { fakeContext } from '../support/lambda-context.ts';
import { phpFpmUnderTest } from '../support/php-fpm.ts';

/** Names the adapters look at, so random objects often come close to a real event's shape. */
const NAMES = [
  'version',
  'requestContext',
  'elb',
  'http',
  'method',
  'httpMethod',
  'path',
  'rawPath',
  'rawQueryString',
  'queryStringParameters',
  'multiValueQueryStringParameters',
  'headers',
  'multiValueHeaders',
  'cookies',
  'body',
  'isBase64Encoded',
  'identity',
  'sourceIp',
  'protocol',
  'host',
  'x-forwarded-for',
  'x-forwarded-port',
  'x-forwarded-proto',
];

/** Values as JSON has them, with strings that mean something to the adapters now and then. */
const value = fc.oneof(
  fc.constantFrom(
    '2.0',
    '1.0',
    '/',
    '/index.php',
    '%0a',
    '..',
    '',
    'GET',
    'post',
    'https',
    '443',
    'abc',
    '\r\n',
  ),
  fc.string({ maxLength: 12 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.oneof(fc.string({ maxLength: 6 }), fc.integer(), fc.constant(null)), { maxLength: 3 }),
);

const jsonish = fc.oneof(
  value,
  fc.object({ key: fc.constantFrom(...NAMES), values: [value], maxDepth: 3, maxKeys: 6 }),
);

/** Every HTTP fixture, those tools write too, to mutate. */
const FIXTURES = [...HTTP_EVENT_SOURCES, 'tools' as const].flatMap((source) =>
  eventNames(source).map((name) => ({ source, name })),
);

/** Every path into an object, `[]` being the object itself. */
function paths(node: unknown, prefix: string[] = []): string[][] {
  const out = [prefix];
  if (typeof node === 'object' && node !== null) {
    for (const [k, v] of Object.entries(node)) out.push(...paths(v, [...prefix, k]));
  }
  return out;
}

type Mutation = { at: number; value: unknown } | { at: number; remove: true };

/** A fixture with some of its fields, at any depth, replaced by other values or removed. */
const mutatedEvent = fc
  .tuple(
    fc.constantFrom(...FIXTURES),
    fc.array(
      fc.oneof(
        fc.record({ at: fc.nat(), value: jsonish }),
        fc.record({ at: fc.nat(), remove: fc.constant(true as const) }),
      ),
      { minLength: 1, maxLength: 4 },
    ),
  )
  .map(([{ source, name }, mutations]) => {
    const event = loadEvent(source, name) as unknown as Record<string, unknown>;
    for (const m of mutations as Mutation[]) {
      const all = paths(event).filter((p) => p.length > 0);
      if (all.length === 0) break;
      const path = all[m.at % all.length]!;
      let parent = event as Record<string, unknown>;
      for (const k of path.slice(0, -1)) parent = parent[k] as Record<string, unknown>;
      const key = path[path.length - 1]!;
      if ('remove' in m) delete parent[key];
      else parent[key] = structuredClone(m.value);
    }
    return event;
  });

/** Any text JSON can carry: every code point, lone surrogates too. */
const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc
    .array(fc.constantFrom('é', '\u00a0', '😀', '\ud800', '\udfff', '%', '?', 'a'), { maxLength: 8 })
    .map((units) => units.join('')),
);

/** A fixture with some of its strings, at any depth, replaced by any text. */
const textEvent = fc
  .tuple(fc.constantFrom(...FIXTURES), fc.array(fc.tuple(fc.nat(), anyText), { minLength: 1, maxLength: 6 }))
  .map(([{ source, name }, replacements]) => {
    const event = loadEvent(source, name) as unknown as Record<string, unknown>;
    const strings = paths(event).filter((p) => typeof valueAt(event, p) === 'string');
    for (const [at, text] of replacements) {
      const path = strings[at % strings.length]!;
      const parent = valueAt(event, path.slice(0, -1)) as Record<string, unknown>;
      parent[path[path.length - 1]!] = text;
    }
    return event;
  });

function valueAt(node: unknown, path: readonly string[]): unknown {
  let at = node;
  for (const k of path) at = (at as Record<string, unknown>)[k];
  return at;
}

describe('Lambda adapters on events of any text (fast-check)', () => {
  const params = new ParamsBuilder({
    docroot: '/var/task/café',
    serverSoftware: 'fpm-bridge/test',
    setParams: [{ name: 'APP_NAME', value: 'Zoë %[req.hdr(Host)]' }],
    passHeaders: [],
    hideHeaders: [],
  });

  it('hands the core byte strings only, and PHP params of bytes only: the UTF-8 of the text', () => {
    fc.assert(
      fc.property(textEvent, (event) => {
        const adapter = ADAPTERS.find((a) => a.matches(event))!;
        let request: ProxyRequest;
        try {
          request = adapter.toRequest(event, fakeContext(), {
            basePath: '',
            trustForwardedHost: true,
          }).request;
        } catch {
          return; // a malformed event: what the runtime does with it is the other properties' business
        }
        const { method, uri, path, query, headers, protocol, remoteAddress } = request;
        for (const s of [method, uri, path, query, ...headers, protocol, remoteAddress])
          assert.ok(!/[^\0-\xff]/.test(s), `not bytes: ${JSON.stringify(s)}`);
        let built: string[];
        try {
          built = params.build(request, { kind: 'script', scriptName: '/é.php', pathInfo: '/😀' });
        } catch (err) {
          assert.ok(err instanceof BadRequestError, String(err));
          return;
        }
        for (const p of built) assert.ok(!/[^\0-\xff]/.test(p), `param not bytes: ${JSON.stringify(p)}`);
      }),
      fuzz(1000),
    );
  });
});

describe('Lambda handler on arbitrary events (fast-check)', () => {
  let root = '';
  let app: LambdaApp;
  const log: LogEntry[] = [];
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'fpm-bridge-fuzz-events-'));
    writeFileSync(join(root, 'index.php'), "<?php echo 'ok';\n");
    app = await createLambdaApp({
      taskRoot: root,
      env: {},
      overrides: { phpFpmBinary: phpFpmUnderTest(), docroot: root },
      log: recordingLogger(log),
    });
  });
  after(async () => {
    await app.close();
    rmSync(root, { recursive: true, force: true });
  });

  /** Runs one event: a result with a status fpm-bridge may answer, or BadEventError, nothing else. */
  async function outcome(event: unknown): Promise<void> {
    const logged = log.length;
    let result: unknown;
    try {
      result = await app.handler(event, fakeContext());
    } catch (err) {
      assert.ok(err instanceof BadEventError, `threw ${(err as Error).stack}`);
      assert.equal(err.code, 'FPM_BRIDGE_ERR_BAD_EVENT');
      return;
    }
    const status = (result as { statusCode?: unknown }).statusCode;
    const failed = log.slice(logged).find((e) => e.fields.status === 500);
    assert.equal(failed, undefined, `fpm-bridge failed: ${JSON.stringify(failed?.fields)}`);
    assert.ok([200, 308, 400, 404, 413, 431].includes(status as number), `status ${String(status)}`);
  }

  it('answers or fails with BadEventError for any JSON value', async () => {
    await fc.assert(
      fc.asyncProperty(jsonish, (event) => outcome(event)),
      fuzz(500),
    );
  });

  it('answers or fails with BadEventError for real events with fields replaced or removed', async () => {
    await fc.assert(
      fc.asyncProperty(mutatedEvent, (event) => outcome(event)),
      fuzz(600),
    );
  });
});
