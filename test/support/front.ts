import type { AddressInfo } from 'node:net';
import type { Config } from '../../proxy/config.ts';
import type { HttpServer } from '../../server/http1/server.ts';
import { createFrontServer, type FrontOptions, listenFront } from '../../server/server.ts';
import { type BridgeOptions, startBridge, type TestBridge } from './bridge.ts';

/** The standalone front on a free loopback port, over a {@link startBridge} bridge (real php-fpm). */
export interface TestFront {
  t: TestBridge;
  server: HttpServer;
  port: number;
  close(): Promise<void>;
}

/**
 * Starts `createFrontServer` as `fpm-bridge serve` would (with `metricsListen` when set) on 127.0.0.1:0.
 * The access log is off unless `front.accessLog` gives one, so test output holds only what tests print.
 */
export async function startFront(
  overrides: Partial<Record<keyof Config, unknown>> = {},
  front: FrontOptions = {},
  bridge: Omit<BridgeOptions, 'overrides'> = {},
): Promise<TestFront> {
  const t = await startBridge({ ...bridge, overrides });
  const server = createFrontServer(t.bridge, { accessLog: null, ...front });
  await listenFront(server, { ...t.config, listen: '127.0.0.1:0' });
  return {
    t,
    server,
    port: (server.address() as AddressInfo).port,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await t.close();
    },
  };
}
