/**
 * Bad input never reaches a 500: every malformed, oversized, mistyped or hostile body, header and path segment
 * gets a stable 4xx code in the one error shape {error, message}, with no stack trace, and the server stays healthy.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { call, startTestGateway, type ApiResponse, type TestGateway } from '../helpers/harness.js';

let gw: TestGateway;
let token: string;

before(async () => {
  gw = await startTestGateway();
  token = await gw.token();
});
after(async () => gw.close());

const VERIFY = '/v1/credentials/verify';
const LOOKUP = '/v1/users/lookup';
const ALICE_PASSWORD = 'correct horse battery staple';

/** Stack frames, source/file paths, node internals: none of these may reach a client. */
const LEAK_PATTERNS: RegExp[] = [
  /\bat\s+\S+\s+\(/, // "at fn (" stack frame
  /\bat\s+(file:|node:|\/)/, // "at file:///..." / "at node:internal" / "at /abs/path"
  /node:internal/,
  /node_modules/,
  /file:\/\//,
  /\/(?:work|home|tmp|usr|src|dist)\//,
  /\.(?:ts|js|mjs|cjs):\d+/,
  /\b(?:SyntaxError|TypeError|RangeError|ZodError|SqliteError)\b/,
  /"stack"/,
];

function assertNoLeak(text: string, what: string): void {
  for (const p of LEAK_PATTERNS) assert.doesNotMatch(text, p, `${what}: response leaks internals (${p}): ${text.slice(0, 300)}`);
}

/** The one error shape: exactly {error, message}, JSON, no stack, the expected status and code. */
function assertApiError(r: { status: number; text: string; headers?: Headers | http.IncomingHttpHeaders }, status: number, code: string | null, what: string): void {
  assert.equal(r.status, status, `${what}: expected ${status}, got ${r.status} ${r.text.slice(0, 300)}`);
  assertErrorShape(r, what);
  const body = JSON.parse(r.text) as { error: string; message: string };
  if (code !== null) assert.equal(body.error, code, `${what}: expected error code ${code}, got ${body.error} (${body.message})`);
}

function assertErrorShape(r: { status: number; text: string; headers?: Headers | http.IncomingHttpHeaders }, what: string): void {
  assert.ok(r.status >= 400 && r.status < 500, `${what}: expected a 4xx, got ${r.status} ${r.text.slice(0, 300)}`);
  if (r.headers) {
    const ct = r.headers instanceof Headers ? r.headers.get('content-type') : r.headers['content-type'];
    assert.match(String(ct ?? ''), /^application\/json\b/, `${what}: error content-type is ${ct}`);
  }
  let body: unknown;
  assert.doesNotThrow(() => (body = JSON.parse(r.text)), `${what}: error body is not JSON: ${r.text.slice(0, 300)}`);
  assert.ok(body && typeof body === 'object' && !Array.isArray(body), `${what}: error body is not an object`);
  assert.deepEqual(Object.keys(body as object).sort(), ['error', 'message'], `${what}: error body keys: ${r.text.slice(0, 300)}`);
  const { error, message } = body as { error: unknown; message: unknown };
  assert.equal(typeof error, 'string', `${what}: error is not a string`);
  assert.match(error as string, /^[a-z][a-z0-9_]*$/, `${what}: error code is not lower_snake_case`);
  assert.equal(typeof message, 'string', `${what}: message is not a string`);
  assert.ok((message as string).length > 0 && (message as string).length <= 600, `${what}: message length ${(message as string).length}`);
  assertNoLeak(r.text, what);
}

/** POST a raw body with an exact content-type (or none). */
function post(path: string, body: string | Buffer, contentType: string | null, extra: Record<string, string> = {}): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...extra };
  if (contentType !== null) headers['content-type'] = contentType;
  // A Buffer body makes fetch send no content-type of its own; a string body would add text/plain.
  return call(gw.url, 'POST', path, { token, body: Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'), headers });
}

const postJson = (path: string, value: unknown) => post(path, JSON.stringify(value), 'application/json');

/** A valid body for each endpoint, plus a field override. */
function validBody(path: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return path === VERIFY ? { login: 'alice@example.com', password: ALICE_PASSWORD, ...over } : { login: 'alice@example.com', ...over };
}

/** Raw node:http request, so an early 413 can be read even while the body is still being written. */
function rawRequest(
  path: string,
  headers: Record<string, string | number>,
  write: (req: http.ClientRequest) => void,
): Promise<{ status: number; text: string; headers: http.IncomingHttpHeaders } | { error: NodeJS.ErrnoException }> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (v: { status: number; text: string; headers: http.IncomingHttpHeaders } | { error: NodeJS.ErrnoException }) => {
      if (!settled) {
        settled = true;
        resolve(v);
      }
    };
    const req = http.request(gw.url + path, { method: 'POST', headers: { authorization: `Bearer ${token}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      res.on('error', (error) => done({ error }));
    });
    // The server may answer and close before the whole body is written: that must not crash the test.
    req.on('error', (error) => done({ error }));
    write(req);
  });
}

async function assertHealthyAndWorking(what: string): Promise<void> {
  const h = await call(gw.url, 'GET', '/healthz');
  assert.equal(h.status, 200, `${what}: /healthz after the request`);
  const r = await postJson(LOOKUP, { login: 'alice@example.com' });
  assert.equal(r.status, 200, `${what}: a normal request after it: ${r.text}`);
  assert.equal(r.json.user.user_id, 'legacy|1');
}

/** An oversized body must be a 413 payload_too_large; a reset socket is tolerated only if the server is still fine. */
async function assertTooLarge(res: Awaited<ReturnType<typeof rawRequest>>, what: string): Promise<void> {
  if ('error' in res) {
    // Acceptable only if the server closed the socket early and is still healthy and serving.
    assert.ok(['ECONNRESET', 'EPIPE', 'ECONNABORTED'].includes(res.error.code ?? ''), `${what}: unexpected client error ${res.error.code} ${res.error.message}`);
    await assertHealthyAndWorking(what);
    return;
  }
  assertApiError(res, 413, 'payload_too_large', what);
}

for (const path of [VERIFY, LOOKUP]) {
  describe(`POST ${path} rejects bad input with a 4xx`, () => {
    test('a valid request works (control)', async () => {
      const r = await postJson(path, validBody(path));
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.user.user_id, 'legacy|1');
    });

    test('malformed JSON → 400 malformed_json', async () => {
      for (const raw of ['{', '{"login": ', '{"login": "alice@example.com",}', "{'login': 'alice'}", '{"login": alice}', '[1, 2', '{"login":"a"}garbage', '\u0000', 'nul']) {
        assertApiError(await post(path, raw, 'application/json'), 400, 'malformed_json', `malformed ${JSON.stringify(raw)}`);
      }
    });

    test('an array body → 400 invalid_request', async () => {
      assertApiError(await post(path, '[]', 'application/json'), 400, 'invalid_request', 'empty array');
      assertApiError(await post(path, JSON.stringify([validBody(path)]), 'application/json'), 400, 'invalid_request', 'array of a valid body');
    });

    // Valid JSON texts whose top level is not an object: the body is JSON, just the wrong shape.
    for (const [name, raw] of [
      ['a string', '"alice@example.com"'],
      ['a number', '42'],
      ['null', 'null'],
      ['true', 'true'],
    ] as const) {
      test(`a JSON body that is ${name} → 400 invalid_request`, async () => {
        assertApiError(await post(path, raw, 'application/json'), 400, 'invalid_request', `top-level ${name}`);
      });
    }

    test('wrong types for login → 400 invalid_request', async () => {
      for (const login of [42, 0, {}, { $ne: null }, [], ['alice@example.com'], true, null]) {
        assertApiError(await postJson(path, validBody(path, { login })), 400, 'invalid_request', `login ${JSON.stringify(login)}`);
      }
    });

    if (path === VERIFY) {
      test('wrong types for password → 400 invalid_request', async () => {
        for (const password of [12345, null, true, false, {}, [], [ALICE_PASSWORD], { $gt: '' }]) {
          assertApiError(await postJson(path, validBody(path, { password })), 400, 'invalid_request', `password ${JSON.stringify(password)}`);
        }
      });
    }

    test('missing fields → 400 invalid_request', async () => {
      assertApiError(await postJson(path, {}), 400, 'invalid_request', 'empty object');
      if (path === VERIFY) {
        assertApiError(await postJson(path, { login: 'alice@example.com' }), 400, 'invalid_request', 'no password');
        assertApiError(await postJson(path, { password: ALICE_PASSWORD }), 400, 'invalid_request', 'no login');
      } else {
        assertApiError(await postJson(path, { email: 'alice@example.com' }), 400, 'invalid_request', 'no login');
      }
    });

    test('extra fields → 400 invalid_request (strict)', async () => {
      assertApiError(await postJson(path, validBody(path, { extra: 1 })), 400, 'invalid_request', 'extra field');
      assertApiError(await postJson(path, validBody(path, { __proto__x: 'x', constructor: 'y' })), 400, 'invalid_request', 'constructor field');
      // A literal "__proto__" key in the JSON text (JSON.parse makes it an own property).
      const raw = JSON.stringify(validBody(path)).replace(/^\{/, '{"__proto__": {"admin": true},');
      assertApiError(await post(path, raw, 'application/json'), 400, 'invalid_request', '__proto__ field');
      if (path === LOOKUP) {
        assertApiError(await postJson(path, { login: 'alice@example.com', password: ALICE_PASSWORD }), 400, 'invalid_request', 'password on lookup');
      }
    });

    test('an empty body with content-type application/json → 400', async () => {
      const r = await post(path, '', 'application/json');
      assertApiError(r, 400, null, 'empty body');
      assert.ok(['invalid_request', 'malformed_json'].includes(r.json.error), `empty body code ${r.json.error}`);
      const ws = await post(path, '   \n ', 'application/json');
      assertApiError(ws, 400, null, 'whitespace-only body');
      assert.ok(['invalid_request', 'malformed_json'].includes(ws.json.error), `whitespace body code ${ws.json.error}`);
    });

    test('a 10 MB body with content-length → 413 payload_too_large', async () => {
      const big = Buffer.alloc(10 * 1024 * 1024, 0x61);
      big.write('{"login":"');
      big.write('"}', big.length - 2);
      const res = await rawRequest(path, { 'content-type': 'application/json', 'content-length': big.length }, (req) => req.end(big));
      await assertTooLarge(res, '10 MB body');
      await assertHealthyAndWorking('after 10 MB body');
    });

    test('a 10 MB chunked body (no content-length) → 413 payload_too_large', async () => {
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const res = await rawRequest(path, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, (req) => {
        let sent = 0;
        const pump = () => {
          while (sent < 160) {
            sent += 1;
            if (!req.write(sent === 1 ? Buffer.concat([Buffer.from('{"login":"'), chunk]) : chunk)) {
              req.once('drain', pump);
              return;
            }
          }
          req.end('"}');
        };
        req.on('error', () => {});
        pump();
      });
      await assertTooLarge(res, '10 MB chunked body');
      await assertHealthyAndWorking('after chunked 10 MB body');
    });

    test('a body just over the limit (17 kB) → 413 payload_too_large', async () => {
      const body = JSON.stringify(validBody(path, { login: 'a'.repeat(17 * 1024) }));
      assert.ok(body.length > 16 * 1024);
      assertApiError(await post(path, body, 'application/json'), 413, 'payload_too_large', '17 kB body');
    });

    test('a non-JSON content type → 415 unsupported_media_type', async () => {
      const json = JSON.stringify(validBody(path));
      for (const ct of ['text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/jsonx']) {
        assertApiError(await post(path, json, ct), 415, 'unsupported_media_type', `content-type ${ct}`);
      }
      assertApiError(
        await post(path, 'login=alice%40example.com&password=x', 'application/x-www-form-urlencoded'),
        415,
        'unsupported_media_type',
        'form body',
      );
      assertApiError(await post(path, json, null), 415, 'unsupported_media_type', 'no content-type');
    });

    test('a non-UTF-8 charset → 415 unsupported_media_type', async () => {
      const json = JSON.stringify(validBody(path));
      for (const cs of ['latin1', 'iso-8859-1', 'windows-1252', 'us-ascii', 'bogus']) {
        const ct = `application/json; charset=${cs}`;
        assertApiError(await post(path, Buffer.from(json, 'latin1'), ct), 415, 'unsupported_media_type', `content-type ${ct}`);
      }
      // Control: explicit UTF-8 is fine, in any spelling.
      for (const cs of ['utf-8', 'UTF-8', '"utf-8"']) {
        const ok = await post(path, json, `application/json; charset=${cs}`);
        assert.equal(ok.status, 200, `charset=${cs}: ${ok.text}`);
      }
    });

    // DESIGN.md §2: bodies are UTF-8 JSON. body-parser accepts any charset starting with "utf-" and decodes it.
    test('a UTF-16 body → 415 unsupported_media_type (UTF-8 only)', async () => {
      const json = JSON.stringify(validBody(path));
      for (const [cs, body] of [
        ['utf-16le', Buffer.from(json, 'utf16le')],
        ['utf-16', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(json, 'utf16le')])],
      ] as const) {
        const ct = `application/json; charset=${cs}`;
        assertApiError(await post(path, body, ct), 415, 'unsupported_media_type', `content-type ${ct}`);
      }
    });

    test('an unsupported content-encoding → 4xx, not a 500', async () => {
      const r = await post(path, JSON.stringify(validBody(path)), 'application/json', { 'content-encoding': 'bogus' });
      assertErrorShape(r, 'content-encoding bogus');
      assert.equal(r.status, 415);
    });

    test('a login of 10,000 characters → 400 invalid_request', async () => {
      assertApiError(await postJson(path, validBody(path, { login: 'a'.repeat(10_000) })), 400, 'invalid_request', '10k login');
      assertApiError(await postJson(path, validBody(path, { login: `${'a'.repeat(9_990)}@example.com` })), 400, 'invalid_request', '10k email login');
      // Just over the documented field limit (320).
      assertApiError(await postJson(path, validBody(path, { login: 'a'.repeat(321) })), 400, 'invalid_request', '321-char login');
    });

    if (path === VERIFY) {
      test('a password over 1024 bytes of UTF-8 → the same 400 invalid_request for a known and an unknown login', async () => {
        assertApiError(await postJson(path, validBody(path, { password: 'p'.repeat(5_000) })), 400, 'invalid_request', '5k password');
        assertApiError(await postJson(path, validBody(path, { password: 'p'.repeat(1_025) })), 400, 'invalid_request', '1025-byte password');
        // 342 × "漢" is 342 characters but 1026 bytes: the bound is in bytes, where the hashing cost is.
        const known = await postJson(path, { login: 'alice@example.com', password: '漢'.repeat(342) });
        const unknown = await postJson(path, { login: 'nobody@example.com', password: '漢'.repeat(342) });
        assertApiError(known, 400, 'invalid_request', '1026-byte password, known login');
        assert.equal(known.text, unknown.text, 'nothing about the login in the answer');
        assert.match(known.json.message, /1024 bytes/);
        // 1024 bytes exactly is a password like any other: checked, and wrong.
        const atBound = await postJson(path, { login: 'nobody@example.com', password: `${'漢'.repeat(341)}p` });
        assertApiError(atBound, 401, 'invalid_credentials', '1024-byte password');
      });
    }

    test('NUL bytes → 400 invalid_request', async () => {
      for (const login of ['alice@example.com\u0000', '\u0000alice@example.com', 'ali\u0000ce', '\u0000']) {
        assertApiError(await postJson(path, validBody(path, { login })), 400, 'invalid_request', `login ${JSON.stringify(login)}`);
      }
      if (path === VERIFY) {
        for (const password of [`${ALICE_PASSWORD}\u0000`, `\u0000${ALICE_PASSWORD}`, '\u0000']) {
          assertApiError(await postJson(path, validBody(path, { password })), 400, 'invalid_request', `password ${JSON.stringify(password)}`);
        }
      }
    });

    test('empty strings → 400 invalid_request', async () => {
      assertApiError(await postJson(path, validBody(path, { login: '' })), 400, 'invalid_request', 'empty login');
      if (path === VERIFY) {
        assertApiError(await postJson(path, validBody(path, { password: '' })), 400, 'invalid_request', 'empty password');
        assertApiError(await postJson(path, { login: '', password: '' }), 400, 'invalid_request', 'both empty');
      }
    });

    test('a whitespace-only login → 400 invalid_request', async () => {
      for (const login of [' ', '   ', '\t', '\n', ' \r\n\t ', '\u00a0', '\u2003', '\ufeff']) {
        assertApiError(await postJson(path, validBody(path, { login })), 400, 'invalid_request', `login ${JSON.stringify(login)}`);
      }
    });

    test('deeply nested JSON within the size limit → 4xx, not a 500', async () => {
      // 8,000 levels of [[[...]]] is 16,000 bytes: under the 16 kB limit, so it is really parsed.
      const arrays = '['.repeat(8_000) + ']'.repeat(8_000);
      assert.ok(arrays.length < 16 * 1024);
      assertApiError(await post(path, arrays, 'application/json'), 400, 'invalid_request', '8k nested arrays');
      // Nested objects inside a field.
      const depth = 2_000;
      const nestedLogin = `{"login":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}${path === VERIFY ? ',"password":"x"' : ''}}`;
      assert.ok(nestedLogin.length < 16 * 1024);
      assertApiError(await post(path, nestedLogin, 'application/json'), 400, 'invalid_request', 'nested objects in login');
      // 10,000 levels does not fit in 16 kB: whatever it is, it is a 4xx JSON error.
      const r = await post(path, '['.repeat(10_000) + ']'.repeat(10_000), 'application/json');
      assertErrorShape(r, '10k nested arrays');
    });

    test('unicode logins that do not exist → a clean "not found", not a 500', async () => {
      const logins = [
        'ünïcødé@exämple.com',
        'пользователь@пример.рф',
        '用户@例子.中国',
        '😀😀😀',
        'a\u0301lice@example.com', // combining accent
        '\u202eecila', // right-to-left override
        'alice\u200b@example.com', // zero-width space
        'ＡＬＩＣＥ@example.com', // full-width
        '\ud800lone-surrogate', // lone surrogate
        "' OR '1'='1",
        'alice@example.com\'; DROP TABLE users; --',
        '%',
        '_',
        '*',
        '\\',
      ];
      for (const login of logins) {
        const r = await postJson(path, validBody(path, { login, ...(path === VERIFY ? { password: 'x' } : {}) }));
        if (path === VERIFY) assertApiError(r, 401, 'invalid_credentials', `login ${JSON.stringify(login)}`);
        else assertApiError(r, 404, 'user_not_found', `login ${JSON.stringify(login)}`);
      }
    });
  });
}

describe('GET /v1/users/:user_id rejects bad ids with a 4xx', () => {
  test('a valid id works (control)', async () => {
    const r = await call(gw.url, 'GET', '/v1/users/legacy%7C1', { token });
    assert.equal(r.status, 200, r.text);
  });

  test('a 300-character id → 400 invalid_request', async () => {
    const r = await call(gw.url, 'GET', `/v1/users/${'legacy|'.replace('|', '%7C')}${'9'.repeat(293)}`, { token });
    assertApiError(r, 400, 'invalid_request', '300-char id');
    assertApiError(await call(gw.url, 'GET', `/v1/users/${'x'.repeat(300)}`, { token }), 400, 'invalid_request', '300 x');
  });

  test('an encoded NUL (%00) → 400 invalid_request', async () => {
    assertApiError(await call(gw.url, 'GET', '/v1/users/legacy%7C1%00', { token }), 400, 'invalid_request', '%00 suffix');
    assertApiError(await call(gw.url, 'GET', '/v1/users/%00', { token }), 400, 'invalid_request', '%00 alone');
  });

  test('a malformed percent-encoding → 400, not a 500', async () => {
    const r = await call(gw.url, 'GET', '/v1/users/legacy%7C1%E0%A4%A', { token });
    assertApiError(r, 400, 'invalid_request', 'bad percent-encoding');
    assertApiError(await call(gw.url, 'GET', '/v1/users/%', { token }), 400, 'invalid_request', 'lone %');
  });

  test('odd ids that do not exist → 404 user_not_found', async () => {
    for (const id of ['legacy%7C', 'legacy%7C-1', 'legacy%7C1.5', 'legacy%7C%F0%9F%98%80', 'legacy%7C1%20OR%201%3D1', 'nope', 'legacy%7C99999999999999999999999']) {
      assertApiError(await call(gw.url, 'GET', `/v1/users/${id}`, { token }), 404, 'user_not_found', `id ${id}`);
    }
  });
});

describe('routing errors are 4xx JSON errors', () => {
  test('unknown route → 404 not_found', async () => {
    assertApiError(await call(gw.url, 'GET', '/v1/nope', { token }), 404, 'not_found', 'GET /v1/nope');
    assertApiError(await call(gw.url, 'POST', '/v1/credentials/verify/extra', { token, body: {} }), 404, 'not_found', 'verify/extra');
    assertApiError(await call(gw.url, 'GET', '/nope'), 404, 'not_found', 'GET /nope');
    assertApiError(await call(gw.url, 'GET', '/v2/credentials/verify', { token }), 404, 'not_found', 'v2');
  });

  test('wrong method → a 4xx JSON error (404 or 405)', async () => {
    for (const [method, path] of [
      ['GET', VERIFY],
      ['PUT', VERIFY],
      ['DELETE', VERIFY],
      ['PATCH', LOOKUP],
      ['POST', '/v1/users/legacy%7C1'],
      ['POST', '/healthz'],
    ] as const) {
      const r = await call(gw.url, method, path, { token });
      assertErrorShape(r, `${method} ${path}`);
      assert.equal(r.status, 404, `${method} ${path}`);
      assert.equal(r.json.error, 'not_found', `${method} ${path}`);
    }
    // GET /v1/users/lookup is GET /v1/users/:user_id with the id "lookup": a clean 404 user_not_found.
    assertApiError(await call(gw.url, 'GET', LOOKUP, { token }), 404, 'user_not_found', `GET ${LOOKUP}`);
  });
});

describe('after the storm', () => {
  test('the server is healthy and logged no unhandled error', async () => {
    const h = await call(gw.url, 'GET', '/healthz');
    assert.equal(h.status, 200);
    assert.deepEqual(h.json, { status: 'ok' });
    await assertHealthyAndWorking('after the storm');
    const lines = gw.logs.map((l) => JSON.parse(l) as { level: number; msg?: string });
    assert.ok(lines.some((l) => l.msg === 'request'), 'request lines were logged (the check below is not vacuous)');
    const unhandled = gw.logs.filter((l) => {
      const o = JSON.parse(l) as { level: number; msg?: string };
      return o.level >= 50 && /unhandled error/.test(o.msg ?? '');
    });
    assert.deepEqual(unhandled, [], `unhandled errors were logged:\n${unhandled.join('\n')}`);
    const errors = lines.filter((l) => l.level >= 50);
    assert.deepEqual(errors, [], 'no error-level log lines at all');
  });
});
