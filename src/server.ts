/** Wire a validated Config into a listening server: store → gateway → app → HTTP (or HTTPS, with server.tls). */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { createSecureContext, Server as TlsServer, type TlsOptions, type TLSSocket } from 'node:tls';
import type { Registry } from 'prom-client';
import { createStore } from '../adapters/index.js';
import { StoreError, type UserStore } from '../adapters/types.js';
import { createApp } from './app.js';
import { expressMessageClasses, type MessageClasses } from './http/prototypes.js';
import { ConfigError, type Config } from './config.js';
import { Gateway } from './gateway.js';
import { createAuditLog } from './audit.js';
import { createLimiters } from './limiter.js';
import { errorClass, type Logger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { compilePolicy } from './passwords/index.js';
import { checkStoreAtStartup } from './startup.js';

export interface Running {
  server: Server;
  url: string;
  /** The separate /metrics listener when config.metrics is set. */
  metricsServer?: Server;
  metricsUrl?: string;
  gateway: Gateway;
  store: UserStore;
  /**
   * Graceful and bounded: stop accepting, close idle keep-alive connections at once, let in-flight requests finish,
   * then close the store. After server.shutdown_grace_ms, remaining sockets are destroyed and a store close() that
   * has not finished is abandoned (with a warning). Idempotent.
   */
  close(): Promise<void>;
  /**
   * server.tls: read the certificate, key and client CA again and use them for new connections (SIGHUP). Open
   * connections keep the context they were made with; nothing is dropped. A file that cannot be read or used keeps
   * the current certificate, logs why, and answers false. Without server.tls: false.
   */
  reloadTls(): boolean;
}

/**
 * The store a draining gateway holds instead of opening the configured one: the database may already be gone, and
 * nothing calls it (Gateway answers every request itself); should anything ever do so, it fails as an unreachable
 * store would, with a 503.
 */
function drainedStore(): UserStore {
  const refuse = () => Promise.reject(new StoreError('drain is on: the legacy store is not opened'));
  return {
    findCandidates: refuse,
    findById: refuse,
    markMigrated: refuse,
    unmarkMigrated: refuse,
    migrationStatus: refuse,
    async *scan() {
      await refuse();
    },
    ping: refuse,
    close: () => Promise.resolve(),
  };
}

/** metrics: when given, the gateway's store is instrumented with it (store call timings, marks, pool usage). */
export async function buildGateway(config: Config, logger: Logger, store?: UserStore, metrics?: Metrics) {
  // Draining: the configured store is neither opened nor checked (a store handed in is kept, and never called).
  const s = store ?? (config.drain ? drainedStore() : await createStore(config.store));
  if (config.drain) logger.warn({ adapter: config.store.adapter }, 'drain is on: the legacy store is not used; every endpoint answers as if it were empty');
  else {
    try {
      await checkStoreAtStartup(config, s, logger);
    } catch (e) {
      if (!store) await s.close().catch(() => {});
      throw e;
    }
  }
  let limiters: Awaited<ReturnType<typeof createLimiters>>;
  try {
    limiters = await createLimiters(config.limits, logger, config.log.audit_key);
  } catch (e) {
    // The store opened above would otherwise keep its pool (and the process) alive.
    if (!store) await s.close().catch(() => {});
    throw e;
  }
  // The URL itself is not logged: it can carry a password.
  logger.info(
    { backend: limiters.backend, max: config.limits.login_failures.max, window_s: config.limits.login_failures.window_s, ...(limiters.backend === 'redis' ? { policy: config.limits.redis.policy } : {}) },
    limiters.backend === 'redis' ? 'failed-login limiter: shared through Redis' : 'failed-login limiter: in memory, per process',
  );
  const gateway = new Gateway({
    // A draining gateway never calls its store: nothing to instrument.
    store: metrics && !config.drain ? metrics.instrument(s) : s,
    passwords: compilePolicy(config.passwords),
    userIdPrefix: config.profile.user_id_prefix,
    logger,
    limiter: limiters.login,
    audit: createAuditLog(logger, config.log.audit_key),
    drain: config.drain,
    resilience: {
      failures: config.resilience.breaker.failures,
      halfOpenAfterMs: config.resilience.breaker.half_open_after_ms,
      deadlineMs: config.resilience.deadline_ms,
    },
  });
  // The sample runs while the server starts listening: a request that needs the decoy before it is ready waits for
  // this same sample (Gateway.prepareDecoy shares the one in flight); every other request is served at once.
  gateway.prepareDecoy().catch((e: unknown) => logger.warn({ err_class: errorClass(e) }, 'timing decoy sample failed; retried on first use'));
  return { gateway, store: s, limiters };
}

/**
 * Bring the request target to origin-form before Express sees it. Express (parseurl → url.parse) and
 * express-oauth2-jwt-bearer each parse the raw target their own way; absolute-form ("GET http://host/path?q")
 * and oddities ("*", "http://[zz]/") made those parsers throw (a 500 before authentication) or warn with the
 * whole URL, query string included, on stderr. RFC 9112 §3.2.2: an origin server accepts the absolute-form and
 * takes the path from it; the authority is not used for anything here. Anything else that is not a path is refused.
 * Returns false when it has answered the request itself.
 */
export function toOriginForm(req: IncomingMessage, res: ServerResponse): boolean {
  const target = req.url ?? '';
  if (target.startsWith('/')) return true;
  const absolute = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(target);
  if (absolute) {
    const rest = target.slice(absolute[0].length);
    req.url = rest.startsWith('/') ? rest : `/${rest}`;
    return true;
  }
  const body = JSON.stringify({ error: 'invalid_request', message: 'The request target must be a path.' });
  res.writeHead(400, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
  res.end(body);
  return false;
}

/** Node checks the header/request timeouts only every connectionsCheckingInterval (30 s by default). */
export function checkingIntervalFor(headersTimeout: number, requestTimeout: number): number {
  return Math.max(25, Math.min(1000, Math.floor(Math.min(headersTimeout, requestTimeout) / 4)));
}

/**
 * server.tls read from disk, once, at start-up, and tried: a file that cannot be read, or a certificate, key or CA
 * that OpenSSL refuses, is a ConfigError naming the setting and the reason (never a file's contents). With
 * request_client_cert, every client is asked for a certificate but one is never required (rejectUnauthorized
 * false): routes that need one check req.socket.authorized themselves (a front door's client_cert auth).
 */
export function loadTls(tls: NonNullable<Config['server']['tls']>): TlsOptions {
  const read = (key: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new ConfigError([`server.tls.${key}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`]);
    }
  };
  const options: TlsOptions = {
    cert: read('cert_file', tls.cert_file),
    key: read('key_file', tls.key_file),
    ...(tls.client_ca_file === undefined ? {} : { ca: read('client_ca_file', tls.client_ca_file) }),
    ...(tls.request_client_cert ? { requestCert: true, rejectUnauthorized: false } : {}),
  };
  try {
    createSecureContext(options);
  } catch (e) {
    // OpenSSL's reason ("key values mismatch", "no start line"): it names what is wrong, never the data.
    const x = e as { reason?: unknown; code?: unknown };
    const why = typeof x.reason === 'string' ? x.reason : typeof x.code === 'string' ? x.code : 'unusable';
    throw new ConfigError([`server.tls: the certificate (cert_file), key (key_file)${tls.client_ca_file === undefined ? '' : ' or client CA (client_ca_file)'} cannot be used: ${why}`]);
  }
  return options;
}

/** front_doors.*.auth.client_cert blocks: they can only pass on an HTTPS listener that asks for client certificates. */
function clientCertSettings(v: unknown, path: string): string[] {
  if (!v || typeof v !== 'object') return [];
  return Object.entries(v).flatMap(([k, x]) => (k === 'client_cert' ? [`${path}.${k}`] : clientCertSettings(x, `${path}.${k}`)));
}

function httpServer(config: Config, listener: RequestListener, tls?: TlsOptions, classes?: MessageClasses): Server {
  const s = config.server;
  const options = {
    ...classes,
    headersTimeout: s.headers_timeout_ms,
    requestTimeout: s.request_timeout_ms,
    keepAliveTimeout: s.keep_alive_timeout_ms,
    connectionsCheckingInterval: checkingIntervalFor(s.headers_timeout_ms, s.request_timeout_ms),
  };
  // The TLS handshake comes before the request head: it gets no longer than the head itself.
  const server = tls ? createHttpsServer({ ...options, ...tls, handshakeTimeout: s.headers_timeout_ms }, listener) : createServer(options, listener);
  server.keepAliveTimeout = s.keep_alive_timeout_ms;
  return server;
}

async function listen(server: Server, port: number, host: string, scheme = 'http'): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return `${scheme}://${h === '0.0.0.0' ? '127.0.0.1' : h === '[::]' ? '[::1]' : h}:${addr.port}`;
}

/** The /metrics-only listener: GET/HEAD /metrics, 404 for everything else. */
function metricsListener(registry: Registry, metrics: () => Promise<string>): RequestListener {
  return (req, res) => {
    const target = req.url ?? '';
    const q = target.indexOf('?');
    const path = q === -1 ? target : target.slice(0, q);
    const json = (status: number, error: string, message: string) => {
      res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'X-Content-Type-Options': 'nosniff' }).end(JSON.stringify({ error, message }));
    };
    if (path !== '/metrics') return json(404, 'not_found', 'No such endpoint.');
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(404, 'not_found', 'No such endpoint.');
    metrics().then(
      (text) => {
        res.writeHead(200, { 'Content-Type': registry.contentType, 'X-Content-Type-Options': 'nosniff' });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      () => json(500, 'internal_error', 'Internal error.'),
    );
  };
}

/**
 * What is in flight, as a list linked through one small node per item, not a Set. A long-lived Set that takes a new
 * item per request rehashes every few dozen requests into a new table, and the old table, dead but not yet collected,
 * still points at the items it held: the young-generation collector counts every pointer from the old generation as
 * live, so each of those requests (response, request and all they reach) survived its collections and was promoted.
 * Measured under a storm of 16 connections: 11.5 KB promoted per request with the Set, 1.5–1.6 KB with this list, and
 * collections of the young generation of 4.1 ms against 1.5–1.6 ms (docs/performance.md).
 */
export class InFlightList<T> {
  private head: InFlightNode<T> | null = null;

  add(value: T): InFlightNode<T> {
    const node: InFlightNode<T> = { value, prev: null, next: this.head };
    if (this.head) this.head.prev = node;
    this.head = node;
    return node;
  }

  /** Take a node out (once; a second call does nothing). */
  remove(node: InFlightNode<T>): void {
    if (node.prev) node.prev.next = node.next;
    else if (this.head === node) this.head = node.next;
    else return;
    if (node.next) node.next.prev = node.prev;
    node.prev = node.next = null;
  }

  /** The values in flight, newest first. */
  *values(): Generator<T> {
    for (let n = this.head; n; n = n.next) yield n.value;
  }
}

export interface InFlightNode<T> {
  readonly value: T;
  prev: InFlightNode<T> | null;
  next: InFlightNode<T> | null;
}

/**
 * Track connections and the responses in flight on each, so that a shutdown can (1) close at once every connection
 * with no request being answered: idle keep-alive ones, but also ones that never sent a byte (a client's pre-opened
 * connection) or sent only part of a request head, which Node does not count as idle and, once server.close() has
 * stopped its timeout checks, would hold the shutdown forever; (2) tell in-flight responses to close their
 * connection when done instead of keeping it alive.
 */
function trackConnections(server: Server): { inFlight: () => number; drain: () => void } {
  const active = new Map<Socket, number>();
  const responses = new InFlightList<ServerResponse>();
  let draining = false;
  const track = (socket: Socket) => {
    if (draining) {
      socket.destroy();
      return;
    }
    active.set(socket, 0);
    socket.once('close', () => active.delete(socket));
  };
  server.on('connection', track);
  if (server instanceof TlsServer) {
    // HTTPS: 'connection' hands over the TCP socket, requests arrive on the TLS socket over it. Once the handshake
    // is done, the TLS socket takes the TCP socket's place (found by the connection's addresses): its requests are
    // counted on the socket a drain closes, and a drain never cuts the TCP socket under a request in flight.
    const endpoints = (s: Socket) => `${s.localAddress}|${s.localPort}|${s.remoteAddress}|${s.remotePort}`;
    const handshaking = new Map<string, Socket>();
    server.on('connection', (socket: Socket) => {
      if (socket.destroyed) return;
      const key = endpoints(socket);
      handshaking.set(key, socket);
      socket.once('close', () => handshaking.get(key) === socket && handshaking.delete(key));
    });
    server.on('secureConnection', (socket: TLSSocket) => {
      const key = endpoints(socket);
      const tcp = handshaking.get(key);
      if (tcp) {
        handshaking.delete(key);
        active.delete(tcp);
      }
      track(socket);
    });
  }
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    active.set(socket, (active.get(socket) ?? 0) + 1);
    const node = responses.add(res);
    if (draining) res.shouldKeepAlive = false;
    let counted = true;
    const done = () => {
      if (!counted) return;
      counted = false;
      responses.remove(node);
      const left = (active.get(socket) ?? 1) - 1;
      if (active.has(socket)) active.set(socket, left);
      // With Connection: close Node ends the socket itself; this is for anything that slipped through.
      if (draining && left === 0) setImmediate(() => server.closeIdleConnections());
    };
    res.once('finish', done);
    res.once('close', done);
  });
  return {
    inFlight: () => [...active.values()].reduce((n, v) => n + v, 0),
    drain() {
      draining = true;
      // Responses still being worked on close their connection when they are done.
      for (const res of responses.values()) if (!res.headersSent) res.shouldKeepAlive = false;
      server.closeIdleConnections();
      for (const [socket, n] of active) {
        if (n > 0) continue;
        // Nothing is being answered here; a response written just now may still sit in the socket's buffer.
        if (socket.writableLength > 0) socket.end();
        else socket.destroy();
      }
    },
  };
}

export async function startServer(config: Config, logger: Logger, store?: UserStore): Promise<Running> {
  // Before the store is opened: a bad certificate or key stops the start at once.
  const tls = config.server.tls ? loadTls(config.server.tls) : undefined;
  const needCerts = clientCertSettings(config.front_doors, 'front_doors');
  if (needCerts.length > 0 && !config.server.tls?.request_client_cert) {
    throw new ConfigError(needCerts.map((p) => `${p}: needs server.tls with request_client_cert: true and client_ca_file (client certificates are only seen on the gateway's own HTTPS listener)`));
  }
  const m = createMetrics();
  const built = await buildGateway(config, logger, store, m);
  let app: ReturnType<typeof createApp>['app'];
  try {
    ({ app } = createApp({ config, gateway: built.gateway, logger, metrics: m, requestLimiter: built.limiters.requests }));
  } catch (e) {
    // A front door that cannot be built (an unreadable key file): nothing is left open behind.
    if (!store) await built.store.close().catch(() => undefined);
    await built.limiters.close();
    throw e;
  }
  const server = httpServer(
    config,
    (req, res) => {
      if (toOriginForm(req, res)) app(req, res);
    },
    tls,
    expressMessageClasses(app),
  );
  const main = trackConnections(server);
  let metricsServer: Server | undefined;
  let metrics: ReturnType<typeof trackConnections> | undefined;
  let url: string;
  let metricsUrl: string | undefined;
  try {
    url = await listen(server, config.server.port, config.server.host, tls ? 'https' : 'http');
    if (config.metrics) {
      metricsServer = httpServer(config, metricsListener(m.registry, m.text));
      metrics = trackConnections(metricsServer);
      metricsUrl = await listen(metricsServer, config.metrics.port, config.metrics.host);
    }
  } catch (e) {
    server.close();
    server.closeAllConnections();
    metricsServer?.close();
    await built.store.close().catch(() => undefined);
    await built.limiters.close();
    throw e;
  }
  logger.info({ listen: url, metrics: metricsUrl ?? `${url}/metrics`, adapter: config.store.adapter }, 'legacy-gateway listening');

  let closing: Promise<void> | undefined;
  const shutdown = async (): Promise<void> => {
    const grace = config.server.shutdown_grace_ms;
    const servers = [
      { server, track: main },
      ...(metricsServer && metrics ? [{ server: metricsServer, track: metrics }] : []),
    ];
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), grace);
    });
    try {
      // Stop accepting; server.close() also closes idle keep-alive connections (Node >= 19), done here explicitly
      // too, and in-flight responses are told to close their connection when they finish.
      const drained = Promise.all(servers.map(({ server: s }) => new Promise<void>((resolve) => s.close(() => resolve()))));
      for (const { track } of servers) track.drain();
      if ((await Promise.race([drained, deadline])) === 'timeout') {
        const left = servers.reduce((n, { track }) => n + track.inFlight(), 0);
        logger.warn({ in_flight: left, grace_ms: grace }, 'shutdown grace period over: closing the remaining connections');
        for (const { server: s } of servers) s.closeAllConnections();
        // Destroyed sockets let server.close() finish; the store is not waited for any longer.
        void built.store.close().catch(() => logger.warn({ adapter: config.store.adapter }, 'store close failed'));
        logger.warn({ adapter: config.store.adapter }, 'store close abandoned: shutdown grace period over');
        return;
      }
      for (const { server: s } of servers) s.closeAllConnections();
      const storeClosed = built.store.close().then(
        () => 'closed' as const,
        (e: unknown) => {
          logger.warn({ adapter: config.store.adapter, err_class: errorClass(e) }, 'store close failed');
          return 'failed' as const;
        },
      );
      if ((await Promise.race([storeClosed, deadline])) === 'timeout') {
        logger.warn({ adapter: config.store.adapter, grace_ms: grace }, 'store close abandoned: shutdown grace period over');
      }
    } finally {
      clearTimeout(timer);
      // After the last request: the limiter's Redis connection (nothing to wait for).
      await built.limiters.close();
    }
  };

  return {
    server,
    url,
    metricsServer,
    metricsUrl,
    gateway: built.gateway,
    store: built.store,
    close() {
      closing ??= shutdown();
      return closing;
    },
    reloadTls() {
      if (!config.server.tls || !(server instanceof TlsServer)) return false;
      try {
        server.setSecureContext(loadTls(config.server.tls));
      } catch (e) {
        logger.error({ problems: e instanceof ConfigError ? e.problems : [errorClass(e)] }, 'TLS reload failed: the current certificate stays in use');
        return false;
      }
      logger.info({ cert_file: config.server.tls.cert_file }, 'TLS certificate reloaded: new connections use it');
      return true;
    },
  };
}

/**
 * SIGTERM/SIGINT: run stop() (a graceful Running.close(), itself bounded by shutdown_grace_ms), then exit 0.
 * A second signal, or stop() overrunning the grace period by a second, exits at once with 1.
 */
export function onShutdownSignal(stop: () => Promise<void>, graceMs: number, log?: Logger): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.exit(1);
    }
    stopping = true;
    log?.info({ signal }, 'shutting down');
    setTimeout(() => process.exit(1), graceMs + 1000).unref();
    stop().then(
      () => process.exit(0),
      (e: unknown) => {
        log?.error({ err_class: errorClass(e) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
