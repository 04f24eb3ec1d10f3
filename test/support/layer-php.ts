// Running suites again on another PHP: the PHP of fpm-bridge's own layer, which scripts/test.mjs builds and
// mounts at /opt for the whole test run (a private mount namespace, as root), where the layer's binaries
// expect to be. They carry their loader and libraries, so PHP 8.4 from Debian 13 runs on a Debian 12 host.
import { existsSync, readFileSync } from 'node:fs';
import { describe } from 'node:test';

const MANIFEST = '/opt/share/fpm-bridge/layer.json';

/** Why PHP `version` from the layer cannot run here, or null when it can. */
export function layerPhpMissing(version: string): string | null {
  if (!existsSync(MANIFEST)) {
    return `PHP ${version} from fpm-bridge's layer is not mounted at /opt: run the tests with "npm test" as root (scripts/test.mjs builds the layer and mounts it in a private mount namespace)`;
  }
  const { php } = JSON.parse(readFileSync(MANIFEST, 'utf8')) as { php: string };
  return php === version ? null : `the layer mounted at /opt carries PHP ${php}, not ${version}`;
}

/**
 * Runs the test files `suites` (URLs relative to the caller) on PHP `version` from the layer at /opt: every
 * php-fpm they start (the supervisor, the Lambda handler, `fpm-bridge serve`, serverless-offline) is the
 * layer's, and so is `php` for console commands. Skips, saying why, when the layer is not there.
 */
export async function onLayerPhp(version: string, suites: readonly URL[]): Promise<void> {
  const missing = layerPhpMissing(version);
  if (missing !== null) {
    describe(`on PHP ${version}`, { skip: missing }, () => {});
    return;
  }
  process.env.FPM_BRIDGE_PHP_FPM = '/opt/bin/php-fpm';
  process.env.PATH = `/opt/bin:${process.env.PATH ?? ''}`;
  for (const suite of suites) await import(suite.href);
}
