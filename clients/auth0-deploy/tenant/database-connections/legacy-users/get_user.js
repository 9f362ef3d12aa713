async function getByEmail(email, callback) {
  // legacy-gateway: the Get User script of an Auth0 custom database connection ("Use my own database" with
  // "Import Users to Auth0" on). Auth0 runs it on sign-up, password reset and email changes for users it does not
  // have yet. Paste it as is; it runs on the Node 18 and Node 22 runtimes and needs no module.
  //
  // Configuration: the same values as the Login script (AUTH0_DOMAIN, GATEWAY_URL, GATEWAY_AUDIENCE,
  // GATEWAY_CLIENT_ID, GATEWAY_CLIENT_SECRET, optional GATEWAY_TIMEOUT_MS).
  //
  // Outcomes: the legacy profile, the same as the Login script returns (app_metadata as `metadata`); no such legacy
  // user (or one already migrated) → callback(null); an account the legacy app disabled → UnauthorizedError, so
  // that a password reset cannot bring it over unblocked; anything else → Error ("cannot tell"), which stops the
  // flow instead of letting Auth0 create a second account. The callback is called exactly once.
  const done = typeof arguments[arguments.length - 1] === 'function' ? arguments[arguments.length - 1] : callback;
  let outcome;
  try {
    outcome = toOutcome(await callGateway('/v1/users/lookup', { login: email }), email);
  } catch (e) {
    outcome = [new Error('legacy-gateway: ' + e.message)];
  }
  return done.apply(null, outcome);

  // --- legacy-gateway client: the same in login.js and get_user.js ---
  // A client-credentials token from the tenant, kept in `global` until a minute before it expires (shared by both
  // scripts of the container); a 401 invalid_token from the gateway renews it once. Every request is bounded by what
  // is left of the budget; the token request by 5 s at most.
  async function callGateway(path, body) {
    const missing = ['AUTH0_DOMAIN', 'GATEWAY_URL', 'GATEWAY_AUDIENCE', 'GATEWAY_CLIENT_ID', 'GATEWAY_CLIENT_SECRET']
      .filter(function unset(k) { return !configuration[k]; });
    if (missing.length > 0) throw new Error('set ' + missing.join(', ') + ' in the connection\'s configuration');
    const requested = Number(configuration.GATEWAY_TIMEOUT_MS);
    const budget = requested >= 1000 ? Math.min(requested, 15000) : 10000;
    const deadline = Date.now() + budget;
    const url = String(configuration.GATEWAY_URL || '').replace(/\/+$/, '') + path;
    let res = await post(url, body, await accessToken(false, deadline), deadline);
    if (res.status === 401 && res.body && res.body.error === 'invalid_token') {
      res = await post(url, body, await accessToken(true, deadline), deadline);
    }
    return res;
  }

  async function accessToken(renew, deadline) {
    const domain = String(configuration.AUTH0_DOMAIN || '').replace(/^https:\/\//, '').replace(/\/+$/, '');
    const key = [domain, configuration.GATEWAY_CLIENT_ID, configuration.GATEWAY_AUDIENCE].join(' ');
    const cached = global.legacyGatewayToken;
    if (!renew && cached && cached.key === key && cached.expiresAt > Date.now()) return cached.value;
    const res = await post('https://' + domain + '/oauth/token', {
      grant_type: 'client_credentials',
      client_id: configuration.GATEWAY_CLIENT_ID,
      client_secret: configuration.GATEWAY_CLIENT_SECRET,
      audience: configuration.GATEWAY_AUDIENCE,
    }, null, Math.min(deadline, Date.now() + 5000));
    const token = res.body && res.body.access_token;
    if (res.status !== 200 || typeof token !== 'string' || token === '') {
      throw new Error('the token request failed: ' + describe(res));
    }
    const lifetime = Number(res.body.expires_in);
    if (lifetime > 0) {
      global.legacyGatewayToken = { key: key, value: token, expiresAt: Date.now() + (lifetime - Math.min(60, lifetime / 10)) * 1000 };
    }
    return token;
  }

  async function post(url, body, token, deadline) {
    const ms = deadline - Date.now();
    if (ms <= 0) throw new Error('no time left for ' + url);
    const headers = { 'content-type': 'application/json', accept: 'application/json' };
    if (token) headers.authorization = 'Bearer ' + token;
    try {
      const res = await fetch(url, { method: 'POST', headers: headers, body: JSON.stringify(body), redirect: 'error', signal: AbortSignal.timeout(ms) });
      const text = await res.text();
      let parsed = null;
      try {
        parsed = /json/i.test(res.headers.get('content-type') || '') ? JSON.parse(text) : null;
      } catch (e) {
        parsed = null;
      }
      return { url: url, status: res.status, body: parsed !== null && typeof parsed === 'object' ? parsed : null };
    } catch (e) {
      const cause = e && e.cause ? e.cause.code || e.cause.message : '';
      const why = e && e.name === 'TimeoutError' ? 'no answer within ' + ms + ' ms' : cause || (e && e.message) || String(e);
      throw new Error(url.replace(/^(https?:\/\/[^/]+).*$/, '$1') + ' could not be reached: ' + why);
    }
  }

  function describe(res) {
    return res.status + (res.body && typeof res.body.error === 'string' ? ' ' + res.body.error : ' (not the expected JSON)');
  }

  function toOutcome(res, login) {
    const code = res.body && res.body.error;
    const user = res.status === 200 && res.body ? res.body.user : null;
    if (user && typeof user === 'object' && typeof user.user_id === 'string' && user.user_id !== '') {
      if (user.blocked === true) return [new UnauthorizedError('This account is disabled.')];
      const profile = {};
      ['user_id', 'email', 'email_verified', 'username', 'name', 'given_name', 'family_name', 'nickname', 'picture', 'user_metadata']
        .forEach(function copy(k) { if (user[k] !== undefined && user[k] !== null) profile[k] = user[k]; });
      if (user.app_metadata && typeof user.app_metadata === 'object') profile.metadata = user.app_metadata;
      return [null, profile];
    }
    if (res.status === 401 && code === 'invalid_credentials') return [new WrongUsernameOrPasswordError(login, 'Wrong username or password.')];
    if (res.status === 403 && code === 'user_blocked') return [new UnauthorizedError('This account is disabled.')];
    if (res.status === 404 && code === 'user_not_found') return [null];
    return [new Error('legacy-gateway: ' + res.url.replace(/^https?:\/\/[^/]+/, '') + ' answered ' + describe(res))];
  }
  // --- end of the shared part ---
}
