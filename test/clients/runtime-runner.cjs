/*
 * Runs the Auth0 client kit on whatever Node binary executes this file (Node 18 and 22 are Auth0's runtimes), for
 * test/clients/runtimes.test.ts. Plain CommonJS with no dependency, so that any Node can run it.
 *
 * argv[2]: a JSON file { files: {name: source}, configuration, steps: [...] }. Each step runs one script
 * (login / get_user: { script, args }) or the mark-migrated Action ({ action, event }), one after the other, all
 * sharing one `global` (one container). The scripts are compiled as Auth0's template harness does it
 * (`return <script>`), with configuration, global and the three error classes as parameters. Prints one JSON line:
 * { node, steps: [{ calls, error, profile, ms } | { appMetadata, userMetadata, denied, threw, ms }], requests, logs }.
 */
'use strict';
const fs = require('node:fs');

class WrongUsernameOrPasswordError extends Error {
  constructor(userNameOrEmail, message) {
    super(message || 'Wrong username or password.');
    this.name = 'WrongUsernameOrPasswordError';
    this.userNameOrEmail = userNameOrEmail;
  }
}
class ValidationError extends Error {
  constructor(code, message) {
    super(message || code);
    this.name = 'ValidationError';
    this.code = code;
  }
}
class UnauthorizedError extends Error {
  constructor(message) {
    super(message);
    this.name = 'UnauthorizedError';
  }
}

const input = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const requests = [];
const logs = [];
const realFetch = globalThis.fetch;
const fetch = async (url, init) => {
  const entry = { method: (init && init.method) || 'GET', url: String(url).split('?')[0], status: 0 };
  requests.push(entry);
  const res = await realFetch(url, init);
  entry.status = res.status;
  return res;
};
const container = {};
const configuration = Object.freeze(Object.assign({}, input.configuration));

function compile(source) {
  return new Function('configuration', 'global', 'WrongUsernameOrPasswordError', 'ValidationError', 'UnauthorizedError', 'fetch', `return ${source}`)(
    configuration, container, WrongUsernameOrPasswordError, ValidationError, UnauthorizedError, fetch);
}

function runScript(fn, args, limitMs) {
  const started = Date.now();
  return new Promise((resolve) => {
    let calls = 0;
    let first;
    const limit = setTimeout(() => resolve({ calls, timeout: true, ms: Date.now() - started }), limitMs);
    fn(...args, function callback(err, profile) {
      calls += 1;
      if (calls === 1) first = { err, profile };
      setTimeout(() => {
        clearTimeout(limit);
        const out = { calls, ms: Date.now() - started };
        if (first.err) out.error = { name: first.err.name, message: first.err.message, constructor: first.err.constructor.name };
        if (first.profile) out.profile = first.profile;
        resolve(out);
      }, 20);
    });
  });
}

async function runAction(source, event) {
  const module = { exports: {} };
  new Function('exports', 'module', 'fetch', 'console', source)(module.exports, module, fetch, { log: (...a) => logs.push(a.join(' ')) });
  const cache = new Map();
  const out = { appMetadata: {}, userMetadata: {} };
  const api = {
    access: { deny: (reason) => { out.denied = reason; } },
    user: { setAppMetadata: (k, v) => { out.appMetadata[k] = v; }, setUserMetadata: (k, v) => { out.userMetadata[k] = v; } },
    cache: {
      get: (k) => { const r = cache.get(k); return r && r.expires_at > Date.now() ? { value: r.value, expires_at: r.expires_at } : undefined; },
      set: (k, value, o) => { cache.set(k, { value, expires_at: Date.now() + ((o && o.ttl) || 900000) }); return { type: 'success' }; },
      delete: (k) => { cache.delete(k); return { type: 'success' }; },
    },
  };
  const started = Date.now();
  try {
    await module.exports.onExecutePostLogin(event, api);
  } catch (e) {
    out.threw = String(e && e.message);
  }
  out.ms = Date.now() - started;
  return out;
}

(async () => {
  const steps = [];
  for (const step of input.steps) {
    if (step.action) steps.push(await runAction(input.files[step.action], step.event));
    else steps.push(await runScript(compile(input.files[step.script]), step.args, 20000));
  }
  process.stdout.write(`${JSON.stringify({ node: process.version, steps, requests, logs })}\n`);
})().catch((e) => {
  process.stdout.write(`${JSON.stringify({ node: process.version, crashed: String(e && e.stack) })}\n`);
});
