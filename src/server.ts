/** Wire a validated Config into a listening server: store → gateway → app → HTTP. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createStore } from '../adapters/index.js';
import type { UserStore } from '../adapters/types.js';
import { createApp } from './app.js';
import type { Config } from './config.js';
import { Gateway } from './gateway.js';
import { MemoryLoginLimiter } from './limiter.js';
import type { Logger } from './logger.js';
import { compilePolicy } from './passwords/index.js';

export interface Running {
  server: Server;
  url: string;
  gateway: Gateway;
  store: UserStore;
  close(): Promise<void>;
}

export async function buildGateway(config: Config, logger: Logger, store?: UserStore) {
  const s = store ?? (await createStore(config.store));
  const gateway = new Gateway({
    store: s,
    passwords: compilePolicy(config.passwords),
    userIdPrefix: config.profile.user_id_prefix,
    logger,
    limiter: new MemoryLoginLimiter(config.limits.login_failures.max, config.limits.login_failures.window_s),
  });
  await gateway.prepareDecoy();
  return { gateway, store: s };
}

export async function startServer(config: Config, logger: Logger, store?: UserStore): Promise<Running> {
  const built = await buildGateway(config, logger, store);
  const { app } = createApp({ config, gateway: built.gateway, logger });
  const server = app.listen(config.server.port, config.server.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${addr.port}`;
  logger.info({ listen: url, adapter: config.store.adapter }, 'legacy-gateway listening');
  return {
    server,
    url,
    gateway: built.gateway,
    store: built.store,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await built.store.close();
    },
  };
}
