/** Express app assembly: security headers, request log, IP allow-list, tokens, routes, metrics, one error shape. */
import { randomUUID } from 'node:crypto';
import express, { type ErrorRequestHandler, type Express, type Request, type RequestHandler, type Response } from 'express';
import helmet from 'helmet';
import ipaddr from 'ipaddr.js';
import { clientIdOf, describeRejection, isMissingToken, isScopeError, isTokenError, tokenCheck } from './auth.js';
import type { Config } from './config.js';
import { ApiError } from './errors.js';
import type { Gateway } from './gateway.js';
import { bodyParserError, jsonBody } from './http/body.js';
import { frontDoors, IDP_MOUNT } from './http/doors/index.js';
import { ipFilter, trustProxySetting } from './ipfilter.js';
import type { LoginLimiter } from './limiter.js';
import { errorClass, errorCode, fixedFieldsLogger, type Logger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { v1Routes } from './routes.js';

export interface AppDeps {
  config: Config;
  gateway: Gateway;
  logger: Logger;
  /** The metrics the gateway's store was instrumented with (src/server.ts); a fresh set when absent. */
  metrics?: Metrics;
  /** limits.client_requests: requests per API client and per IdP door (src/limiter.ts); none when absent. */
  requestLimiter?: LoginLimiter | null;
}

/**
 * The per-client request rate: one reservation per request under the caller's key (the token's client id on /v1,
 * the door's name and the source address at a front door); over the rate, 429 too_many_requests with Retry-After.
 */
function requestRate(limiter: LoginLimiter, keyOf: (req: Request) => string): RequestHandler {
  return (req, _res, next) => {
    limiter.take(`client:${keyOf(req)}`).then(
      (wait) => next(wait > 0 ? new ApiError(429, 'too_many_requests', 'Too many requests from this client. Slow down.', { 'Retry-After': String(wait) }) : undefined),
      // Fails open: this is an abuse guard; the failed-login limiter is the control that fails closed.
      () => next(),
    );
  };
}

/** A front door's request-rate key: the door and the caller's address. */
export function doorRateKey(door: string, req: Pick<Request, 'ip'>): string {
  return `door:${door}:${req.ip ?? 'unknown'}`;
}

/** The token's client id (verified by the token check that ran before). */
function tokenClient(req: Request): string {
  const payload = (req as Request & { auth?: { payload?: Record<string, unknown> } }).auth?.payload;
  return (payload && clientIdOf(payload)) ?? 'unknown';
}

const REALM = 'Bearer realm="legacy-gateway"';

/** Keeps every /v1 answer (personal data) out of any cache. */
const noStore: RequestHandler = (_req, res, next) => {
  res.setHeader('Cache-Control', 'no-store');
  next();
};

/** Remembers the mount for the route label (Express resets req.baseUrl before error handlers run). */
const rememberMount: RequestHandler = (req, res, next) => {
  res.locals.mount = '/v1';
  noStore(req, res, next);
};

/** Map anything thrown to {status, code, message, headers}. Unknown errors never expose their text. */
function toApiError(err: unknown): { e: ApiError; internal: boolean } {
  if (err instanceof ApiError) return { e: err, internal: false };
  // express-oauth2-jwt-bearer, told apart by class (src/auth.ts): no token at all, or any other refusal (a malformed
  // header, a token in the URL, a token that fails verification).
  if (isScopeError(err)) {
    return { e: new ApiError(403, 'insufficient_scope', 'The token lacks the scope this operation needs.', { 'WWW-Authenticate': `${REALM}, error="insufficient_scope"` }), internal: false };
  }
  if (isTokenError(err)) {
    return isMissingToken(err)
      ? { e: new ApiError(401, 'invalid_token', 'A bearer token is required.', { 'WWW-Authenticate': REALM }), internal: false }
      : { e: new ApiError(401, 'invalid_token', 'The bearer token is not valid for this API.', { 'WWW-Authenticate': `${REALM}, error="invalid_token"` }), internal: false };
  }
  const x = err as { status?: number };
  // body-parser (src/http/body.ts: the same mapping the Azure B2C door answers in its own shape)
  const parsed = bodyParserError(err);
  if (parsed) return { e: parsed, internal: false };
  if (typeof x.status === 'number' && x.status >= 400 && x.status < 500) {
    return { e: new ApiError(400, 'invalid_request', 'The request could not be read.'), internal: false };
  }
  return { e: new ApiError(500, 'internal_error', 'Internal error.'), internal: true };
}

/** A route pattern of the v1 router, with the methods it answers and a matcher for a request's path. */
interface KnownRoute {
  pattern: string;
  methods: Set<string>;
  re: RegExp;
}

/**
 * The v1 route table, read from the router itself (so it cannot drift from it): each route's pattern
 * ("/users/:user_id") and methods. A ":param" matches one path segment; matching is case-insensitive and allows one
 * trailing slash, as Express's own (non-strict, case-insensitive) matching does.
 */
export function routeTable(router: express.Router, mount: string): KnownRoute[] {
  const out: KnownRoute[] = [];
  for (const layer of router.stack as { route?: { path: unknown; methods: Record<string, boolean> } }[]) {
    const path = layer.route?.path;
    if (typeof path !== 'string') continue;
    const source = path
      .split('/')
      .map((seg) => (seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/');
    const methods = new Set(Object.keys(layer.route!.methods).filter((m) => layer.route!.methods[m]).map((m) => m.toUpperCase()));
    if (methods.has('GET')) methods.add('HEAD');
    out.push({ pattern: `${mount}${path}`, methods, re: new RegExp(`^${mount}${source}/?$`, 'i') });
  }
  return out;
}

/**
 * The route a log line or metric names: the matched route pattern ("/v1/users/:user_id"). A request refused before
 * its route ran (a 401 from the token check, a 400 from the body parser) is named by matching its method and path
 * against the route table; anything else is "unmatched". Never the request's path, which is the client's text (and,
 * with its query string, can carry a token).
 */
function routeOf(req: Request, res: Response, table: readonly KnownRoute[]): string {
  // Express resets req.baseUrl before error handlers run; the mount is remembered in res.locals.
  if (req.route?.path) return `${(res.locals.mount as string | undefined) ?? req.baseUrl}${req.route.path}`;
  const target = req.originalUrl ?? req.url ?? '';
  const q = target.indexOf('?');
  const pathname = q === -1 ? target : target.slice(0, q);
  return table.find((r) => r.methods.has(req.method) && r.re.test(pathname))?.pattern ?? 'unmatched';
}

/** req.ip for the log: with a trusted proxy it comes from X-Forwarded-For, i.e. it is client text until checked. */
function loggableIp(ip: string | undefined): string {
  return ip && ipaddr.isValid(ip) ? ip : 'invalid';
}

export interface BuiltApp {
  app: Express;
  metrics: Metrics;
}

export function createApp({ config, gateway, logger, metrics = createMetrics(), requestLimiter = null }: AppDeps): BuiltApp {
  const requestLog = fixedFieldsLogger(logger);
  gateway.onVerify = (outcome, scheme) => metrics.verify(outcome, scheme);
  gateway.onBreaker = (state) => metrics.breaker(state);
  // The routes call the use cases as the token's client, the doors as themselves: their audit events name them.
  const routes = v1Routes((req) => gateway.as({ via: 'api', client: tokenClient(req) }));
  const doors = frontDoors({ gateway, logger, config });
  const table = [...routeTable(routes, '/v1'), ...doors.flatMap((d) => routeTable(d.router, d.mount))];

  const app = express();
  app.disable('x-powered-by');
  // No ETag: every answer is computed per request and never cached (no-store), so a SHA-1 of each body is waste.
  app.set('etag', false);
  app.set('trust proxy', trustProxySetting(config.server.trust_proxy));
  app.use(helmet());

  // Request log: method, route (never the path, query string or body), status, duration. Its fields are fixed and
  // sanitised here, so it is written without the wildcard redaction scan (logger.ts fixedFieldsLogger).
  app.use((req, res, next) => {
    const id = (req.get('x-request-id') ?? '').slice(0, 64).replace(/[^\w.-]/g, '') || randomUUID();
    res.setHeader('X-Request-Id', id);
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      const route = routeOf(req, res, table);
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      metrics.request(req.method, route, res.statusCode, (res.locals.errorCode as string | undefined) ?? (res.statusCode < 400 ? 'ok' : 'error'), seconds);
      requestLog.info({ req_id: id, method: req.method, route, status: res.statusCode, ip: loggableIp(req.ip), ms: Math.round(seconds * 1000) }, 'request');
    });
    next();
  });

  // The IdP front doors (src/http/doors/): each with its own authentication instead of our bearer tokens, behind the
  // same IP allow-list. Mounted before /v1, whose token check would refuse them; an unknown door is a 404.
  const idp = express.Router();
  idp.use(noStore, ipFilter(config.server.allow_ips));
  for (const d of doors) {
    const remember: RequestHandler = (_req, res, next) => {
      res.locals.mount = d.mount;
      next();
    };
    // The door's request rate is counted before its own authentication, so guessing its secret is slowed too. It is
    // counted per source address (req.ip, from X-Forwarded-For only through a trusted proxy): an outsider without the
    // door's credential spends only their own budget, never the IdP's.
    const rate = requestLimiter ? [requestRate(requestLimiter, (req) => doorRateKey(d.key, req))] : [];
    // A door that answers its IdP in the IdP's own error shape translates the rate's 429 as well (d.errors).
    idp.use(d.mount.slice(IDP_MOUNT.length), remember, ...rate, d.router, ...(d.errors ? [d.errors] : []));
  }
  idp.use((_req, _res, next) => next(new ApiError(404, 'not_found', 'No such endpoint.')));
  app.use(IDP_MOUNT, idp);

  // One app-level layer for /v1 (a sub-router holding the chain): the prefix is matched and stripped once per
  // request, not once per middleware.
  const v1 = express.Router();
  v1.use(
    rememberMount,
    ipFilter(config.server.allow_ips),
    tokenCheck(config.auth),
    ...(requestLimiter ? [requestRate(requestLimiter, tokenClient)] : []),
    ...jsonBody(config.server.body_limit),
    routes,
  );
  app.use('/v1', v1);

  // After /v1, which nearly every request (the IdPs' calls) is for: Express tries each layer before the matching one,
  // and these paths are disjoint from /v1's, so the order changes no answer.
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    if (await gateway.ready()) res.json({ status: 'ready' });
    else {
      res.locals.errorCode = 'store_unavailable';
      res.status(503).set('Retry-After', '5').json({ error: 'store_unavailable', message: 'The legacy store is unreachable.' });
    }
  });
  // With config.metrics set, /metrics is served only on its own listener (src/server.ts); here it is then a 404.
  if (!config.metrics) {
    app.get('/metrics', async (_req, res) => {
      res.set('Content-Type', metrics.registry.contentType).send(await metrics.text());
    });
  }

  app.use((_req, _res, next) => next(new ApiError(404, 'not_found', 'No such endpoint.')));

  const onError: ErrorRequestHandler = (err, req, res, _next) => {
    const { e, internal } = toApiError(err);
    // The class (and a code like ECONNRESET) only: an error's message, stack and properties can carry input values
    // (Node's URL errors carry the whole input URL), and req.path/req.url are the client's text.
    if (internal) logger.error({ err_class: errorClass(err), err_code: errorCode(err), route: routeOf(req, res, table), method: req.method }, 'unhandled error');
    if (isTokenError(err)) {
      // One line per refused token, for the operator (the caller's answer stays the same): the reason, and the kid
      // and client id as the token claims them (unverified: read without checking the signature). Never the token.
      const r = describeRejection(err, req, config.auth);
      metrics.tokenRejection(r.reason);
      requestLog.warn(
        {
          reason: r.reason,
          ...(r.kid === undefined ? {} : { [r.verified ? 'kid' : 'unverified_kid']: r.kid }),
          ...(r.client === undefined ? {} : { [r.verified ? 'client_id' : 'unverified_client_id']: r.client }),
          route: routeOf(req, res, table),
          method: req.method,
        },
        'token rejected',
      );
    }
    if (res.headersSent) return;
    res.locals.errorCode = e.code;
    res.status(e.status).set(e.headers).json({ error: e.code, message: e.message });
  };
  app.use(onError);
  return { app, metrics };
}
