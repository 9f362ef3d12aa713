/**
 * legacy-gateway: AWS Lambda handlers for an Amazon Cognito user pool. One ES module, no dependency (the runtime's
 * global fetch only), for the nodejs20.x and nodejs22.x runtimes. Zip this one file; see clients/cognito/README.md.
 *
 *   handler       the pool's "Migrate user" trigger (Lambda handler setting: migrate-user.handler).
 *                 UserMigration_Authentication → POST /v1/credentials/verify {login: userName, password}
 *                 UserMigration_ForgotPassword → POST /v1/users/lookup {login: userName}
 *                 Success: the event comes back with response.userAttributes (mapping below),
 *                 finalUserStatus "CONFIRMED" (sign-in only; the forgot-password flow sets its own password) and
 *                 messageAction "SUPPRESS". Anything else throws an Error, which Cognito treats as "not migrated".
 *                 Cognito may show the message to the user (managed login puts it in the callback URL), so it is
 *                 one of four generic texts; the reason (status and error codes only) goes to the function's log:
 *                   401 invalid_credentials, 404 user_not_found, no password: "Incorrect username or password."
 *                   403 user_blocked, or a blocked profile: "User is disabled."
 *                   429 too_many_attempts: "Password attempts exceeded."
 *                   anything else (409 ambiguous_login, 503, another status, a token, network or timeout failure,
 *                   a missing setting, another triggerSource): "Sign-in is not available right now. Please try
 *                   again later."
 *   markMigrated  optional: the pool's "Post authentication" and "Post confirmation" triggers
 *                 (migrate-user.markMigrated). Tells the gateway that a migrated user now lives in Cognito
 *                 (PUT /v1/users/{id}/migration), reading the gateway's user id from LEGACY_ID_ATTRIBUTE. It never
 *                 throws (a thrown error would fail the sign-in): a failed mark is logged and retried at the next
 *                 sign-in.
 *
 * Environment:
 *   GATEWAY_URL          the gateway's base URL, https://legacy-gateway.example.com
 *   TOKEN_URL            the OAuth2 token endpoint of the issuer the gateway trusts (its auth.issuer), for example
 *                        https://tenant.eu.auth0.com/oauth/token
 *   CLIENT_ID            the machine-to-machine client allowed to call the gateway
 *   CLIENT_SECRET        its secret (sent as client_secret_post: in the form body, over https only)
 *   AUDIENCE             the gateway's auth.audience
 *   SCOPE                optional: sent as the token request's scope (space-separated), for issuers that need it
 *   ATTRIBUTES           optional: the Cognito attributes to fill, comma-separated, from email, email_verified,
 *                        name, given_name, family_name, nickname, picture, preferred_username.
 *                        Default: email,email_verified,name,given_name,family_name
 *   LEGACY_ID_ATTRIBUTE  optional: a custom attribute (custom:legacy_id) that receives the gateway's user_id; it must
 *                        exist in the pool. markMigrated needs it.
 *   CUSTOM_ATTRIBUTES    optional: more custom attributes from the profile, comma-separated name=path pairs:
 *                        custom:plan=app_metadata.plan,custom:locale=user_metadata.locale. Each must exist in the pool.
 *   ALLOW_INSECURE_HTTP  optional: "true" accepts http:// URLs (a gateway on a private network). Without it every URL
 *                        must be https:// (loopback addresses excepted).
 *
 * Attribute mapping (the gateway's profile → Cognito; a value the profile does not have is never sent):
 *   email ← email (left out, with email_verified, when it is not an address Cognito would accept);
 *   email_verified ← "true" when the profile says email_verified: true, otherwise "false" (only sent with an email);
 *   name, given_name, family_name, nickname, picture ← the same profile fields;
 *   preferred_username ← username. Values that are not non-empty strings of at most 2048 characters are left out.
 *
 * Time: Cognito waits 5 s for the function. One invocation spends at most 4 s (the token request at most 1.5 s, each
 * gateway call at most 2.5 s, a renewed token and a second call included), less when the function's own timeout is
 * nearer. A client-credentials token is cached in module scope (containers are reused) until shortly before it
 * expires; concurrent invocations share one token request; a 401 invalid_token from the gateway renews it once.
 * Nothing here logs a password, a secret, a token or the event; log lines carry only status codes, error codes and
 * (markMigrated) the gateway's user id.
 */

const REQUIRED = ['GATEWAY_URL', 'TOKEN_URL', 'CLIENT_ID', 'CLIENT_SECRET', 'AUDIENCE'];
const BUDGET_MS = 4000;
const TOKEN_MS = 1500;
const CALL_MS = 2500;
const MARK_BUDGET_MS = 2500;
const MARK_TOKEN_MS = 1000;
const MARK_CALL_MS = 1500;
const MAX_VALUE = 2048;
const MIGRATE_TRIGGERS = new Set(['UserMigration_Authentication', 'UserMigration_ForgotPassword']);
const MARK_TRIGGERS = new Set(['PostAuthentication_Authentication', 'PostConfirmation_ConfirmForgotPassword']);
const DEFAULT_ATTRIBUTES = ['email', 'email_verified', 'name', 'given_name', 'family_name'];

const text = (v) => (typeof v === 'string' && v !== '' && v.length <= MAX_VALUE ? v : undefined);
const emailOf = (u) => {
  const e = text(u.email);
  return e !== undefined && /^[^\s@]+@[^\s@]+$/.test(e) ? e : undefined;
};

/** Cognito attribute → its value from the gateway's profile (undefined: not sent). */
const STANDARD = {
  email: emailOf,
  email_verified: (u) => (emailOf(u) === undefined ? undefined : u.email_verified === true ? 'true' : 'false'),
  name: (u) => text(u.name),
  given_name: (u) => text(u.given_name),
  family_name: (u) => text(u.family_name),
  nickname: (u) => text(u.nickname),
  picture: (u) => text(u.picture),
  preferred_username: (u) => text(u.username),
};

/** What Cognito (and, through the managed login page, the user) sees: one generic message per outcome. */
const PUBLIC = {
  credentials: 'Incorrect username or password.',
  disabled: 'User is disabled.',
  limited: 'Password attempts exceeded.',
  unavailable: 'Sign-in is not available right now. Please try again later.',
};

/** An internal failure: `detail` goes to the function's log (status and error codes only), never to the user. */
class GatewayError extends Error {
  constructor(detail, kind = 'unavailable') {
    super(detail);
    this.name = 'LegacyGatewayError';
    this.kind = kind;
  }
}

/** The gateway's answer as an outcome kind. */
function kindOf(status, code) {
  if ((status === 401 && code === 'invalid_credentials') || (status === 404 && code === 'user_not_found')) return 'credentials';
  if (status === 403 && code === 'user_blocked') return 'disabled';
  if (status === 429 && code === 'too_many_attempts') return 'limited';
  return 'unavailable';
}

/** An error code from a JSON body, only when it looks like one (never echo arbitrary content). */
const codeOf = (body) => (body && typeof body.error === 'string' && /^[a-z0-9_.-]{1,64}$/i.test(body.error) ? body.error : '');

function checkUrl(name, value, insecure) {
  let url;
  try {
    url = new URL(value);
  } catch {
    throw new GatewayError(`${name} is not a URL`);
  }
  if (url.username || url.password) throw new GatewayError(`${name} must not carry credentials`);
  if (url.search || url.hash) throw new GatewayError(`${name} must not have a query or a fragment`);
  const loopback = /^(127(\.\d{1,3}){3}|localhost|\[::1\])$/i.test(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && (insecure || loopback))) {
    throw new GatewayError(`${name} must be an https:// URL (or set ALLOW_INSECURE_HTTP=true for a private network)`);
  }
  return url.toString();
}

/** The configuration, checked; throws naming the variables (never their values). */
function readConfig(env) {
  const missing = REQUIRED.filter((k) => typeof env[k] !== 'string' || env[k].trim() === '');
  if (missing.length > 0) throw new GatewayError(`set ${missing.join(', ')} in the function's environment`);
  const insecure = env.ALLOW_INSECURE_HTTP === 'true';
  const attributes = env.ATTRIBUTES ? env.ATTRIBUTES.split(',').map((a) => a.trim()).filter(Boolean) : DEFAULT_ATTRIBUTES;
  const unknown = attributes.filter((a) => !Object.hasOwn(STANDARD, a));
  if (unknown.length > 0) {
    throw new GatewayError(`ATTRIBUTES: unknown attribute(s) ${unknown.join(', ')}; choose from ${Object.keys(STANDARD).join(', ')}`);
  }
  const custom = /^custom:[^\s:=,]{1,20}$/;
  const legacyId = env.LEGACY_ID_ATTRIBUTE ? env.LEGACY_ID_ATTRIBUTE.trim() : '';
  if (legacyId && !custom.test(legacyId)) throw new GatewayError('LEGACY_ID_ATTRIBUTE must be a custom attribute: custom:<name>');
  const customs = [];
  for (const pair of (env.CUSTOM_ATTRIBUTES || '').split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([^=]+)=([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)?)$/.exec(pair);
    if (!m || !custom.test(m[1].trim())) {
      throw new GatewayError('CUSTOM_ATTRIBUTES must be custom:<name>=<profile field or app_metadata.x / user_metadata.x>, comma-separated');
    }
    customs.push([m[1].trim(), m[2].split('.')]);
  }
  return {
    gatewayUrl: checkUrl('GATEWAY_URL', env.GATEWAY_URL.trim(), insecure).replace(/\/+$/, ''),
    tokenUrl: checkUrl('TOKEN_URL', env.TOKEN_URL.trim(), insecure),
    clientId: env.CLIENT_ID.trim(),
    clientSecret: env.CLIENT_SECRET,
    audience: env.AUDIENCE.trim(),
    scope: (env.SCOPE || '').trim(),
    attributes,
    legacyId,
    customs,
  };
}

/** The Cognito attributes for a gateway profile: only values the profile has. */
function toAttributes(user, cfg) {
  const out = {};
  for (const name of cfg.attributes) {
    const v = STANDARD[name](user);
    if (v !== undefined) out[name] = v;
  }
  if (cfg.legacyId) out[cfg.legacyId] = user.user_id;
  for (const [name, path] of cfg.customs) {
    let v = user;
    for (const key of path) v = v !== null && typeof v === 'object' && Object.hasOwn(v, key) ? v[key] : undefined;
    if (typeof v === 'number' || typeof v === 'boolean') v = String(v);
    if (text(v) !== undefined) out[name] = v;
  }
  return out;
}

/** The time this invocation may spend: the budget, or less when the function's own timeout is nearer. */
function deadlineFor(context, budget) {
  let ms = budget;
  if (context && typeof context.getRemainingTimeInMillis === 'function') {
    const left = Number(context.getRemainingTimeInMillis()) - 250;
    if (Number.isFinite(left)) ms = Math.min(ms, left);
  }
  return Date.now() + ms;
}

async function send(fetchImpl, url, init, ms, what) {
  if (!(ms > 0)) throw new GatewayError(`no time left to call ${what}`);
  try {
    const res = await fetchImpl(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(ms) });
    const raw = await res.text();
    let body = null;
    if (/json/i.test(res.headers.get('content-type') || '')) {
      try {
        body = JSON.parse(raw);
      } catch {
        body = null;
      }
    }
    return { status: res.status, body: body !== null && typeof body === 'object' ? body : null };
  } catch (e) {
    if (e && (e.name === 'TimeoutError' || e.name === 'AbortError')) throw new GatewayError(`${what} did not answer within ${Math.round(ms)} ms`);
    const code = e && e.cause && typeof e.cause.code === 'string' && /^[A-Z0-9_]{1,40}$/.test(e.cause.code) ? e.cause.code : 'network error';
    throw new GatewayError(`${what} could not be reached (${code})`);
  }
}

/**
 * Handlers over one token cache. `env` is read at every invocation; `fetch` defaults to the runtime's global fetch;
 * `log` receives the markMigrated handler's one-line notes.
 */
export function createHandlers(options = {}) {
  const env = options.env || process.env;
  const log = options.log || ((line) => console.log(line));
  const doFetch = (url, init) => (options.fetch || globalThis.fetch)(url, init);
  const state = { token: null, inflight: null, marked: new Set(), warned: false };

  async function fetchToken(cfg, key, ms) {
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: cfg.clientId, client_secret: cfg.clientSecret, audience: cfg.audience });
    if (cfg.scope) form.set('scope', cfg.scope);
    const res = await send(doFetch, cfg.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form.toString(),
    }, ms, 'the token endpoint');
    const value = res.body && res.body.access_token;
    if (res.status !== 200 || typeof value !== 'string' || value === '') {
      const code = codeOf(res.body);
      throw new GatewayError(`the token endpoint answered ${res.status}${code ? ` ${code}` : res.status === 200 ? ' without an access_token' : ''}`);
    }
    const lifetime = Number(res.body.expires_in);
    if (lifetime > 0) {
      // Renew a little before the issuer's expiry: a tenth of the lifetime, at most a minute.
      state.token = { key, value, expiresAt: Date.now() + (lifetime - Math.min(60, lifetime / 10)) * 1000 };
    }
    return value;
  }

  /** The cached token, or one request shared by every invocation that needs it now. `refused`: drop that token. */
  function accessToken(cfg, deadline, tokenMs, refused) {
    const key = [cfg.tokenUrl, cfg.clientId, cfg.audience, cfg.scope].join('\n');
    const t = state.token;
    if (t && refused !== undefined && t.value === refused) state.token = null;
    else if (t && t.key === key && t.expiresAt > Date.now()) return Promise.resolve(t.value);
    if (state.inflight && state.inflight.key === key) return state.inflight.promise;
    const promise = fetchToken(cfg, key, Math.min(tokenMs, deadline - Date.now())).finally(() => {
      if (state.inflight && state.inflight.promise === promise) state.inflight = null;
    });
    state.inflight = { key, promise };
    return promise;
  }

  async function callGateway(cfg, method, path, body, deadline, tokenMs, callMs) {
    const url = cfg.gatewayUrl + path;
    const init = (token) => {
      const headers = { accept: 'application/json', authorization: `Bearer ${token}` };
      if (body !== undefined) headers['content-type'] = 'application/json';
      return { method, headers, body: body === undefined ? undefined : JSON.stringify(body) };
    };
    let token = await accessToken(cfg, deadline, tokenMs);
    let res = await send(doFetch, url, init(token), Math.min(callMs, deadline - Date.now()), 'the gateway');
    if (res.status === 401 && codeOf(res.body) === 'invalid_token') {
      token = await accessToken(cfg, deadline, tokenMs, token);
      res = await send(doFetch, url, init(token), Math.min(callMs, deadline - Date.now()), 'the gateway');
    }
    return res;
  }

  /** The Migrate user trigger: the event with its response filled in, or a thrown Error with a generic message. */
  async function handler(event, context) {
    const source = event && typeof event.triggerSource === 'string' && /^[A-Za-z_]{1,64}$/.test(event.triggerSource) ? event.triggerSource : '(no triggerSource)';
    try {
      return await migrate(event, context);
    } catch (e) {
      const internal = e instanceof GatewayError;
      log(`legacy-gateway: ${source}: ${internal ? e.message : `unexpected ${(e && e.name) || 'error'}`}`);
      throw new Error(PUBLIC[internal ? e.kind : 'unavailable']);
    }
  }

  async function migrate(event, context) {
    const source = event && event.triggerSource;
    if (!MIGRATE_TRIGGERS.has(source)) throw new GatewayError('unsupported triggerSource: attach this function to the Migrate user trigger only');
    const cfg = readConfig(env);
    const login = event.userName;
    if (typeof login !== 'string' || login === '') throw new GatewayError('the event has no userName');
    const authenticating = source === 'UserMigration_Authentication';
    const password = event.request && event.request.password;
    if (authenticating && (typeof password !== 'string' || password === '')) throw new GatewayError('the event has no password', 'credentials');
    const deadline = deadlineFor(context, BUDGET_MS);
    const res = authenticating
      ? await callGateway(cfg, 'POST', '/v1/credentials/verify', { login, password }, deadline, TOKEN_MS, CALL_MS)
      : await callGateway(cfg, 'POST', '/v1/users/lookup', { login }, deadline, TOKEN_MS, CALL_MS);
    const user = res.status === 200 && res.body ? res.body.user : undefined;
    if (!user || typeof user !== 'object' || typeof user.user_id !== 'string' || user.user_id === '') {
      const code = codeOf(res.body);
      throw new GatewayError(`the gateway answered ${res.status}${code ? ` ${code}` : res.status === 200 ? ' without a user' : ''}`, kindOf(res.status, code));
    }
    // A disabled legacy account is not brought over, whatever the flow (a reset must not unblock it).
    if (user.blocked === true) throw new GatewayError(`the gateway answered ${res.status} with a blocked user`, 'disabled');
    const attributes = toAttributes(user, cfg);
    if (Object.keys(attributes).length === 0) throw new GatewayError('the legacy profile has none of the configured ATTRIBUTES');
    if (!event.response || typeof event.response !== 'object') event.response = {};
    event.response.userAttributes = attributes;
    if (authenticating) event.response.finalUserStatus = 'CONFIRMED';
    event.response.messageAction = 'SUPPRESS';
    return event;
  }

  /** The Post authentication / Post confirmation trigger: mark the user migrated. Never throws. */
  async function markMigrated(event, context) {
    if (!event || !MARK_TRIGGERS.has(event.triggerSource)) return event;
    let id = '';
    try {
      const cfg = readConfig(env);
      if (!cfg.legacyId) {
        if (!state.warned) log('legacy-gateway: set LEGACY_ID_ATTRIBUTE (and have the migrate function fill it) to mark users migrated');
        state.warned = true;
        return event;
      }
      const attributes = (event.request && event.request.userAttributes) || {};
      id = typeof attributes[cfg.legacyId] === 'string' ? attributes[cfg.legacyId] : '';
      if (id === '' || state.marked.has(id)) return event; // not a migrated user, or marked by this container already
      const deadline = deadlineFor(context, MARK_BUDGET_MS);
      const res = await callGateway(cfg, 'PUT', `/v1/users/${encodeURIComponent(id)}/migration`, undefined, deadline, MARK_TOKEN_MS, MARK_CALL_MS);
      if (res.status === 200 || res.status === 404) {
        if (res.status === 404) log(`legacy-gateway: ${id} is not in the legacy store (nothing to mark)`);
        if (state.marked.size >= 10000) state.marked.clear();
        state.marked.add(id);
      } else {
        const code = codeOf(res.body);
        log(`legacy-gateway: ${id} is not marked yet (the next sign-in tries again): the gateway answered ${res.status}${code ? ` ${code}` : ''}`);
      }
    } catch (e) {
      const why = e instanceof GatewayError ? e.message : `unexpected ${(e && e.name) || 'error'}`;
      log(`legacy-gateway: ${id || 'the user'} is not marked yet (the next sign-in tries again): ${why}`);
    }
    return event;
  }

  return { handler, markMigrated };
}

const lambda = createHandlers();
/** Lambda entry points: migrate-user.handler (Migrate user) and migrate-user.markMigrated (Post authentication). */
export const handler = lambda.handler;
export const markMigrated = lambda.markMigrated;
