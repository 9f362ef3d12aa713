/**
 * legacy-gateway: post-login Action "mark migrated" (Node 18 or Node 22 runtime, no dependency).
 *
 * After a user of the legacy connection logs in, tells the gateway that the user now lives in Auth0
 * (PUT /v1/users/{user_id}/migration), and back-fills app_metadata and user_metadata that did not make it over
 * (Auth0 sometimes drops the metadata a migration script returned). It never blocks a login: when the gateway
 * cannot be reached the login goes on, the error is logged, and the next login tries again.
 *
 * Secrets:
 *   LEGACY_CONNECTION       the name of the custom database connection; logins through any other connection are
 *                           left alone
 *   AUTH0_DOMAIN            the tenant's domain, where /oauth/token is
 *   GATEWAY_URL             the gateway's base URL
 *   GATEWAY_AUDIENCE        the gateway API's identifier
 *   GATEWAY_CLIENT_ID       the machine-to-machine application (scopes migrate:users and read:users)
 *   GATEWAY_CLIENT_SECRET   its client secret
 *   GATEWAY_USER_ID_PREFIX  optional: the gateway's profile.user_id_prefix (legacy|, say); users whose id does not
 *                           carry it (people who signed up in Auth0) are skipped without a call
 *   GATEWAY_TIMEOUT_MS      optional: the time budget, 5000 by default, 1000 to 10000
 *
 * Once marked, the user's app_metadata.legacy_gateway_migrated_at holds the gateway's timestamp and later logins
 * make no call at all.
 */
const MARK = 'legacy_gateway_migrated_at';
const TOKEN_KEY = 'legacy-gateway-token';
const REQUIRED = ['AUTH0_DOMAIN', 'GATEWAY_URL', 'GATEWAY_AUDIENCE', 'GATEWAY_CLIENT_ID', 'GATEWAY_CLIENT_SECRET'];

exports.onExecutePostLogin = async (event, api) => {
  const secrets = event.secrets || {};
  if (!secrets.LEGACY_CONNECTION || !event.connection || event.connection.name !== secrets.LEGACY_CONNECTION) return;
  const appMetadata = event.user.app_metadata || {};
  if (appMetadata[MARK]) return;
  // Auth0 keeps a custom database user as "auth0|" + the user_id the login and get_user scripts returned (the
  // gateway's user_id, unchanged): strip exactly that prefix to get the gateway's id back.
  const userId = String(event.user.user_id || '');
  if (!userId.startsWith('auth0|')) return;
  const legacyId = userId.slice('auth0|'.length);
  if (secrets.GATEWAY_USER_ID_PREFIX && !legacyId.startsWith(secrets.GATEWAY_USER_ID_PREFIX)) return;
  const missing = REQUIRED.filter((k) => !secrets[k]);
  if (missing.length > 0) {
    console.log(`legacy-gateway: set the secret(s) ${missing.join(', ')}; ${legacyId} is not marked`);
    return;
  }
  try {
    await markMigrated(event, api, secrets, legacyId);
  } catch (e) {
    console.log(`legacy-gateway: ${legacyId} is not marked yet (the next login tries again): ${e.message}`);
  }
};

async function markMigrated(event, api, secrets, legacyId) {
  const requested = Number(secrets.GATEWAY_TIMEOUT_MS);
  const deadline = Date.now() + (requested >= 1000 ? Math.min(requested, 10000) : 5000);
  const base = `${String(secrets.GATEWAY_URL).replace(/\/+$/, '')}/v1/users/${encodeURIComponent(legacyId)}`;
  const call = async (method, url) => {
    let res = await send(method, url, await token(api, secrets, false, deadline), deadline);
    if (res.status === 401 && res.body && res.body.error === 'invalid_token') {
      res = await send(method, url, await token(api, secrets, true, deadline), deadline);
    }
    return res;
  };

  // Back-fill first: once marked, the gateway no longer answers for the user.
  const app = event.user.app_metadata || {};
  const usr = event.user.user_metadata || {};
  if (Object.keys(app).length === 0 || Object.keys(usr).length === 0) {
    const res = await call('GET', base);
    if (res.status === 200 && res.body && res.body.user) {
      backfill(res.body.user.app_metadata, app, (k, v) => api.user.setAppMetadata(k, v));
      backfill(res.body.user.user_metadata, usr, (k, v) => api.user.setUserMetadata(k, v));
    } else if (res.status !== 404) {
      console.log(`legacy-gateway: metadata of ${legacyId} not back-filled: ${describe(res)}`);
    }
  }

  const res = await call('PUT', `${base}/migration`);
  if (res.status === 200 && res.body && typeof res.body.migrated_at === 'string') {
    api.user.setAppMetadata(MARK, res.body.migrated_at);
  } else if (res.status === 404) {
    console.log(`legacy-gateway: ${legacyId} is not in the legacy store (nothing to mark)`);
  } else {
    throw new Error(`PUT /migration answered ${describe(res)}`);
  }
}

/** Copy the keys Auth0 lacks; a key Auth0 already has is never overwritten (Auth0 is the source of truth now). */
function backfill(from, have, set) {
  if (!from || typeof from !== 'object') return;
  for (const [k, v] of Object.entries(from)) if (!(k in have) && k !== MARK) set(k, v);
}

async function token(api, secrets, renew, deadline) {
  const hit = renew ? undefined : api.cache.get(TOKEN_KEY);
  if (hit && typeof hit.value === 'string' && hit.value !== '') return hit.value;
  const domain = String(secrets.AUTH0_DOMAIN).replace(/^https:\/\//, '').replace(/\/+$/, '');
  const res = await send('POST', `https://${domain}/oauth/token`, null, Math.min(deadline, Date.now() + 3000), {
    grant_type: 'client_credentials',
    client_id: secrets.GATEWAY_CLIENT_ID,
    client_secret: secrets.GATEWAY_CLIENT_SECRET,
    audience: secrets.GATEWAY_AUDIENCE,
  });
  const value = res.body && res.body.access_token;
  if (res.status !== 200 || typeof value !== 'string' || value === '') throw new Error(`the token request failed: ${describe(res)}`);
  const lifetime = Number(res.body.expires_in);
  // api.cache keeps an entry at most 24 h; the TTL is in milliseconds. Renew a minute before the token expires.
  if (lifetime > 60) api.cache.set(TOKEN_KEY, value, { ttl: Math.min((lifetime - 60) * 1000, 24 * 3600 * 1000) });
  return value;
}

async function send(method, url, bearer, deadline, body) {
  const ms = deadline - Date.now();
  if (ms <= 0) throw new Error(`no time left for ${method} ${url}`);
  const headers = { accept: 'application/json' };
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  if (body) headers['content-type'] = 'application/json';
  try {
    const res = await fetch(url, { method, headers, body: body ? JSON.stringify(body) : undefined, redirect: 'error', signal: AbortSignal.timeout(ms) });
    const text = await res.text();
    let parsed = null;
    try {
      parsed = /json/i.test(res.headers.get('content-type') || '') ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    return { status: res.status, body: parsed !== null && typeof parsed === 'object' ? parsed : null };
  } catch (e) {
    const cause = e && e.cause ? e.cause.code || e.cause.message : '';
    const why = e && e.name === 'TimeoutError' ? `no answer within ${ms} ms` : cause || (e && e.message) || String(e);
    throw new Error(`${url.replace(/^(https?:\/\/[^/]+).*$/, '$1')} could not be reached: ${why}`);
  }
}

function describe(res) {
  return `${res.status}${res.body && typeof res.body.error === 'string' ? ` ${res.body.error}` : ' (not the expected JSON)'}`;
}
