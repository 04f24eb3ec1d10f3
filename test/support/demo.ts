// The demo app (examples/demo), as the tests see it.

/** `<h1>Hello from PHP 8.4.28 behind fpm-bridge</h1>`, the demo app's heading, for PHP `version` (`8.4`). */
export function demoHeading(version: string): RegExp {
  return new RegExp(`<h1>Hello from PHP ${version.replace('.', '\\.')}\\.\\d+ behind fpm-bridge</h1>`);
}
