/**
 * Preloaded into `serverless offline` (node --import): API Gateway hands `/wp-admin/` to the function as
 * `/wp-admin/`, but serverless-offline builds its hapi servers with `router.stripTrailingSlash: true` and
 * hands it over as `/wp-admin` (dherault/serverless-offline#1744), which the handler rightly redirects to
 * `/wp-admin/` (a directory), for ever. hapi is CommonJS: replacing its `Server` export before
 * serverless-offline imports it makes every server it builds keep the path as the client sent it.
 * Plain JavaScript: it runs in the framework's own node, without tsx.
 */
import { createRequire } from 'node:module';

const hapi = createRequire(import.meta.url)('@hapi/hapi');
const { server } = hapi;

// serverless-offline calls `new Server(options)`; hapi's returns a server object, which `super` passes on.
hapi.Server = hapi.server = class extends server {
  constructor(options = {}) {
    super({ ...options, router: { ...options.router, stripTrailingSlash: false } });
  }
};
