// The handler suites again, on PHP 8.4 from fpm-bridge's layer (see test/support/layer-php.ts).
import { onLayerPhp } from '../support/layer-php.ts';

await onLayerPhp('8.4', [
  new URL('../handler/behaviour.test.ts', import.meta.url),
  new URL('../handler/lifecycle.test.ts', import.meta.url),
  new URL('../handler/fixtures.test.ts', import.meta.url),
]);
