// The PHP the tests run on. A module of its own, read when a suite first imports it: test/php-8.4/ points
// the tests at the layer's PHP before it imports the suites.
import { locatePhpFpm, phpVersion } from '../../proxy/fpm/locate.ts';
import { demoHeading } from './demo.ts';
import { phpFpmUnderTest } from './php-fpm.ts';

/**
 * The PHP the tests run on (`8.2`, `8.4`): the version of the php-fpm they find, as `fpm-bridge` would
 * (`FPM_BRIDGE_PHP_FPM` first),
 * so that a page that prints PHP's version can be checked exactly.
 */
export const TESTED_PHP: string = await (async () => {
  const binary = locatePhpFpm(phpFpmUnderTest());
  const version = await phpVersion(binary);
  if (version === null) throw new Error(`${binary} -v says no PHP version`);
  return version.split('.').slice(0, 2).join('.');
})();

/** The demo app's heading for {@link TESTED_PHP}. */
export const DEMO_HEADING = demoHeading(TESTED_PHP);
