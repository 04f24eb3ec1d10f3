// Bundles the CLI into dist/cli.js and the Lambda handler into dist/handler.js: one ES module file, Node built-ins left external, dependencies inlined.
import { chmodSync, cpSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { build } from 'esbuild';

const { version } = JSON.parse(readFileSync('package.json', 'utf8'));

/** Our code reads only `version` from our package.json: bundle that, not the whole manifest. */
const manifest = resolve('package.json');
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

const common = {
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

await build({
  ...common,
  entryPoints: ['cli/cli.ts'],
  outfile: 'dist/cli.js',
  banner: { js: `#!/usr/bin/env node\n${common.banner.js}` },
});
chmodSync('dist/cli.js', 0o755);

// The Lambda handler: one file, Node built-ins only at run time (the runtime has no node_modules of ours),
// its SSM client, and beside them the PHP scripts it runs for the Laravel and Symfony queues
// (handler/frameworks.ts).
await build({ ...common, entryPoints: ['handler/handler.ts'], outfile: 'dist/handler.js' });
await build({ ...common, entryPoints: ['handler/ssm-client.ts'], outfile: 'dist/handler-ssm.mjs' });
cpSync('handler/php', 'dist/php', { recursive: true });

// The Serverless Framework plugin (package.json "main"): CommonJS, as the framework require()s plugins, with
// the class itself as module.exports (Serverless v3 takes what require() returns as the class).
await build({
  ...common,
  format: 'cjs',
  entryPoints: ['infra/serverless-plugin.ts'],
  outfile: 'dist/serverless-plugin.cjs',
  banner: {},
  footer: { js: 'module.exports = module.exports.default;' },
});
