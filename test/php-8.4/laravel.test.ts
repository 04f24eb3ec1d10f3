// The laravel example's suites again, on PHP 8.4 from fpm-bridge's layer (see test/support/layer-php.ts).
import { onLayerPhp } from '../support/layer-php.ts';

await onLayerPhp('8.4', [new URL('../apps/laravel.test.ts', import.meta.url)]);
