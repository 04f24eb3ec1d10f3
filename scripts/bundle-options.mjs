// The esbuild options every bundle of dist/ is built with, for scripts/build.mjs and for the benches that
// measure the bundled code rather than tsx's transpilation of the sources (which wraps named closures in
// keepNames calls the bundles do not have).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

/** Our code reads only `version` from our package.json: bundle that, not the whole manifest. */
const manifest = resolve(new URL('..', import.meta.url).pathname, 'package.json');
const packageVersionOnly = {
  name: 'package-version-only',
  setup(b) {
    b.onLoad({ filter: /package\.json$/ }, (args) =>
      args.path === manifest
        ? { contents: `export default ${JSON.stringify({ version })};`, loader: 'js' }
        : undefined,
    );
  },
};

/**
 * handler/ssm-client.ts, which carries @aws-sdk/client-ssm, is bundled on its own as dist/handler-ssm.mjs and
 * imported from beside the importing file: a function whose environment names no SSM parameter never loads
 * or parses the SDK, at no cost to its cold start. The plugin ships it beside .fpm-bridge/handler.mjs.
 */
const ssmClientApart = {
  name: 'ssm-client-apart',
  setup(b) {
    b.onResolve({ filter: /^\.\/ssm-client\.ts$/ }, () => ({ path: './handler-ssm.mjs', external: true }));
  },
};

export const bundleOptions = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  legalComments: 'none',
  // Smaller to parse on every Lambda cold start. Not keepNames: it wraps every named closure in a
  // defineProperty('name') call each time the closure is created (several per request on the hot path);
  // the error classes spell their names out instead.
  minify: true,
  // Bundled CommonJS dependencies call require(); give the ES module output one.
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
  logLevel: 'warning',
  plugins: [packageVersionOnly, ssmClientApart],
};
