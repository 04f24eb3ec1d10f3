// Bundles the CLI into dist/cli.js and the Lambda handler into dist/handler.js: one ES module file, Node built-ins left external, dependencies inlined.
import { chmodSync } from 'node:fs';
import { build } from 'esbuild';

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  legalComments: 'none',
  // Smaller to parse on every Lambda cold start; names kept so error classes still say who they are.
  minify: true,
  keepNames: true,
  // Bundled CommonJS dependencies call require(); give the ES module output one.
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
  logLevel: 'warning',
};

await build({
  ...common,
  entryPoints: ['cli/cli.ts'],
  outfile: 'dist/cli.js',
  banner: { js: `#!/usr/bin/env node\n${common.banner.js}` },
});
chmodSync('dist/cli.js', 0o755);

// The Lambda handler: one file, Node built-ins only at run time (the runtime has no node_modules of ours).
await build({ ...common, entryPoints: ['handler/handler.ts'], outfile: 'dist/handler.js' });
