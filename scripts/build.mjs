// Bundles the CLI into dist/cli.js and the Lambda handler into dist/handler.js: one ES module file, Node built-ins left external, dependencies inlined.
import { chmodSync, cpSync } from 'node:fs';
import { build } from 'esbuild';
import { bundleOptions as common } from './bundle-options.mjs';

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
