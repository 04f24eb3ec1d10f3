/**
 * What infra/Dockerfile, .dockerignore and infra/docker-compose.yml say that building and running the image
 * cannot show. The image itself is built and run by the image check (test/image/image.test.ts,
 * scripts/image-check.sh), which needs podman and minutes: its config, processes, health check, stop, logs
 * and the compose file's sidecar topology are checked there.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { load as parseYaml } from 'js-yaml';
import { ROOT } from '../support/cli.ts';

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

describe('infra/Dockerfile', () => {
  it('has infra/healthcheck.mjs give up (4 s) before the HEALTHCHECK does (5 s), so a hung server reads unhealthy', () => {
    assert.match(read('infra/Dockerfile'), /^HEALTHCHECK .*--timeout=5s /m);
    assert.match(read('infra/healthcheck.mjs'), /AbortSignal\.timeout\(4000\)/);
  });

  it('keeps dependencies, build outputs, VCS data and tests out of the build context (.dockerignore)', () => {
    const lines = read('.dockerignore')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'));
    assert.deepEqual(lines, [
      '.git',
      '**/node_modules',
      'dist',
      '**/cdk.out',
      '.serverless',
      '.fpm-bridge',
      'bench/.work',
      'test',
      '*.log',
    ]);
  });
});

describe('infra/docker-compose.yml', () => {
  it('builds both services from infra/Dockerfile with the repository as context, as one image', () => {
    const { services } = parseYaml(read('infra/docker-compose.yml')) as {
      services: Record<string, { build: unknown; image: string }>;
    };
    assert.deepEqual(
      Object.entries(services).map(([name, s]) => [name, s.build, s.image]),
      [
        ['php', { context: '..', dockerfile: 'infra/Dockerfile' }, 'fpm-bridge:local'],
        ['web', { context: '..', dockerfile: 'infra/Dockerfile' }, 'fpm-bridge:local'],
      ],
    );
  });
});
