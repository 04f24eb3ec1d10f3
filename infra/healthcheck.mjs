// The container's health check, run by Docker's HEALTHCHECK (infra/Dockerfile) and by the ECS task's
// container health check (infra/cdk/service-stack.ts): exits 0 when `fpm-bridge serve` answers its health
// endpoint with 200, 1 otherwise. Node's own fetch, so the image needs no curl.
//
// It reads the port and path from the same variables fpm-bridge reads (the image sets FPM_BRIDGE_LISTEN); a
// `listen` or `healthPath` set only in fpm-bridge.yml must be repeated in the environment for it to follow.
const listen = process.env.FPM_BRIDGE_LISTEN ?? '127.0.0.1:8080';
// `HOST:PORT`, `[::]:PORT` or a bare `PORT`: the port is what follows the last colon.
const port = listen.slice(listen.lastIndexOf(':') + 1);
const path = process.env.FPM_BRIDGE_HEALTH_PATH ?? '/fpm-bridge/health';
try {
  // Shorter than the HEALTHCHECK's --timeout, so a hung server counts as unhealthy rather than timed out.
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(4000) });
  process.exit(res.status === 200 ? 0 : 1);
} catch {
  process.exit(1);
}
