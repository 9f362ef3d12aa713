/**
 * openapi.yaml as a test oracle: load it, find the operation a request lands on, and validate a live response
 * against it (status documented, body matching the schema, documented headers present). Every validated
 * (METHOD template status) is recorded in `covered`, so a suite can check it produced every documented status.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { ValidateFunction } from 'ajv';
import { parse as parseYaml } from 'yaml';

const addFormats = (addFormatsModule.default ?? addFormatsModule) as unknown as typeof addFormatsModule.default;

// ---------------------------------------------------------------------------------------------------------------
// Loading the spec

/** The repository root: the first directory holding openapi.yaml and this project's package.json, looking up from
 *  the compiled test file and then from the working directory (the test may be compiled outside the tree). */
export function findRepoRoot(): string {
  const starts = [path.dirname(fileURLToPath(import.meta.url)), process.cwd()];
  for (const start of starts) {
    let dir = start;
    for (;;) {
      const pkg = path.join(dir, 'package.json');
      if (existsSync(path.join(dir, 'openapi.yaml')) && existsSync(pkg)) {
        try {
          if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'legacy-gateway') return dir;
        } catch {
          /* keep looking */
        }
      }
      const up = path.dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  }
  throw new Error('cannot find the repository root (openapi.yaml next to the legacy-gateway package.json)');
}

export const ROOT = findRepoRoot();
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;
export const spec: Json = parseYaml(readFileSync(path.join(ROOT, 'openapi.yaml'), 'utf8'));
export const SPEC_ID = 'https://legacy-gateway.local/openapi.json';
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'] as const;

export const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(spec, SPEC_ID, undefined, false);

/** Resolve a local "#/..." JSON pointer in the spec. */
export function resolvePointer(ref: string): Json {
  assert.ok(ref.startsWith('#/'), `only local $refs are supported, got ${ref}`);
  let node: Json = spec;
  for (const raw of ref.slice(2).split('/')) {
    const part = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    assert.ok(node && typeof node === 'object' && part in node, `$ref ${ref} does not resolve (at "${part}")`);
    node = node[part];
  }
  return node;
}

/** Follow $ref chains of non-schema objects (responses, headers, parameters). */
export function deref(obj: Json): Json {
  let o = obj;
  for (let i = 0; o && typeof o === 'object' && typeof o.$ref === 'string'; i++) {
    assert.ok(i < 10, 'circular $ref');
    o = resolvePointer(o.$ref);
  }
  return o;
}

/** Rewrite "#/..." refs to point into the spec registered with Ajv, so any schema fragment compiles on its own. */
function absolutize(schema: Json): Json {
  if (Array.isArray(schema)) return schema.map(absolutize);
  if (!schema || typeof schema !== 'object') return schema;
  const out: Json = {};
  for (const [k, v] of Object.entries(schema)) {
    out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#') ? `${SPEC_ID}${v}` : absolutize(v);
  }
  return out;
}

const compiled = new Map<string, ValidateFunction>();
export function validatorFor(schema: Json): ValidateFunction {
  const key = JSON.stringify(schema);
  let v = compiled.get(key);
  if (!v) {
    v = ajv.compile(absolutize(schema));
    compiled.set(key, v);
  }
  return v;
}

export function schemaErrors(schema: Json, value: unknown): string | null {
  const v = validatorFor(schema);
  if (v(value)) return null;
  return ajv.errorsText(v.errors, { separator: '; ' });
}

export interface Operation {
  method: string; // upper case
  template: string; // "/v1/users/{user_id}"
  op: Json;
}

export function operations(): Operation[] {
  const out: Operation[] = [];
  for (const [template, item] of Object.entries<Json>(spec.paths)) {
    for (const m of METHODS) if (item[m]) out.push({ method: m.toUpperCase(), template, op: item[m] });
  }
  return out;
}

export function templateRegex(template: string): RegExp {
  const parts = template.split(/(\{[^}]+\})/).map((p) => (p.startsWith('{') ? '([^/]+)' : p.replace(/[.*+?^$()|[\]\\]/g, '\\$&')));
  return new RegExp(`^${parts.join('')}$`);
}

/** The operation a concrete request lands on: concrete paths win over templated ones (OpenAPI §4.8.8). */
export function findOperation(method: string, concretePath: string): Operation | undefined {
  const p = concretePath.split('?')[0]!;
  const matches = operations().filter((o) => o.method === method.toUpperCase() && templateRegex(o.template).test(p));
  matches.sort((a, b) => (a.template.match(/\{/g)?.length ?? 0) - (b.template.match(/\{/g)?.length ?? 0));
  return matches[0];
}

// ---------------------------------------------------------------------------------------------------------------
// Validating a live response against the spec

/** (METHOD template status) triples the app produced and the spec accepted. */
export const covered = new Set<string>();
export const coverageKey = (method: string, template: string, status: number | string) => `${method.toUpperCase()} ${template} ${status}`;

export interface Res {
  status: number;
  headers: Headers;
  text: string;
  json: Json;
}

/**
 * Validate one response against the spec and return its parsed body. Fails when the path/method is not in the spec,
 * when the status is not documented for the operation, when the body does not match the documented media type and
 * schema, or when a documented required header is missing (or a header documented as sent only with some error codes
 * is sent with another).
 */
export function assertMatchesSpec(method: string, concretePath: string, r: Res): Json {
  const what = `${method} ${concretePath} → ${r.status}`;
  const found = findOperation(method, concretePath);
  assert.ok(found, `${what}: no operation in openapi.yaml for this method and path`);
  const documented = found.op.responses?.[String(r.status)];
  assert.ok(documented, `${what}: status ${r.status} is not documented for ${found.method} ${found.template} (documented: ${Object.keys(found.op.responses ?? {}).join(', ')}); body ${r.text.slice(0, 200)}`);
  const response = deref(documented);

  let body: Json = undefined;
  const contentType = (r.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (!response.content) {
    assert.equal(r.text, '', `${what}: documented without a body, but the app sent ${r.text.slice(0, 200)}`);
  } else {
    const media = response.content[contentType];
    assert.ok(media, `${what}: content-type "${contentType}" is not documented (documented: ${Object.keys(response.content).join(', ')})`);
    if (contentType === 'application/json') {
      assert.doesNotThrow(() => (body = JSON.parse(r.text)), `${what}: body is not JSON: ${r.text.slice(0, 200)}`);
    } else {
      body = r.text;
    }
    if (media.schema) {
      const err = schemaErrors(media.schema, body);
      assert.equal(err, null, `${what}: body does not match the documented schema: ${err}\nbody: ${r.text.slice(0, 500)}`);
    }
  }

  const errorCode = body && typeof body === 'object' ? (body as { error?: unknown }).error : undefined;
  for (const [name, h] of Object.entries<Json>(response.headers ?? {})) {
    const header = deref(h);
    const value = r.headers.get(name);
    const onlyWith: string[] | undefined = header['x-sent-with-errors'];
    if (onlyWith) {
      const expected = typeof errorCode === 'string' && onlyWith.includes(errorCode);
      assert.equal(value !== null, expected, `${what}: header ${name} is documented as sent with ${onlyWith.join('/')} only (error ${String(errorCode)}), present: ${value}`);
    } else if (header.required === true) {
      assert.ok(value !== null, `${what}: documented required header ${name} is missing`);
    }
    if (value !== null && header.schema) {
      const typed = header.schema.type === 'integer' && /^\d+$/.test(value) ? Number(value) : value;
      const err = schemaErrors(header.schema, typed);
      assert.equal(err, null, `${what}: header ${name}: "${value}" does not match its schema: ${err}`);
    }
  }
  covered.add(coverageKey(found.method, found.template, r.status));
  return body;
}

/** Validate against the spec and also pin the status and (for errors) the code the case is about. */
export function expectSpec(method: string, p: string, r: Res, status: number, code?: string): Json {
  assert.equal(r.status, status, `${method} ${p}: expected ${status}${code ? ` ${code}` : ''}, got ${r.status} ${r.text.slice(0, 300)}`);
  const body = assertMatchesSpec(method, p, r);
  if (code !== undefined) assert.equal(body?.error, code, `${method} ${p}: expected error ${code}, got ${r.text.slice(0, 300)}`);
  return body;
}

/** Collect a response into what expectSpec validates: status, headers, text and parsed JSON (when it is JSON). */
export function readResponse(res: http.IncomingMessage): Promise<Res> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('error', reject);
    res.on('end', () => {
      const h = new Headers();
      for (const [k, v] of Object.entries(res.headers)) {
        if (Array.isArray(v)) v.forEach((x) => h.append(k, x));
        else if (v !== undefined) h.set(k, String(v));
      }
      const text = Buffer.concat(chunks).toString('utf8');
      let json: Json;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ status: res.statusCode ?? 0, headers: h, text, json });
    });
  });
}

/** A raw HTTP request (fetch refuses bodies on GET; the app still parses them). */
export function raw(url: string, method: string, pathname: string, opts: { token?: string; body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...(opts.headers ?? {}) };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.body !== undefined) headers['content-length'] = Buffer.byteLength(opts.body);
    const req = http.request(new URL(pathname, url), { method, headers, agent: false }, (res) => void readResponse(res).then(resolve, reject));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/**
 * Every (operation, status) documented for the operations under `prefix` was produced by a test in this process and
 * validated above.
 */
export function assertCoverage(prefix: string): void {
  const missing: string[] = [];
  for (const o of operations()) {
    if (!o.template.startsWith(prefix)) continue;
    for (const status of Object.keys(o.op.responses)) if (!covered.has(coverageKey(o.method, o.template, status))) missing.push(coverageKey(o.method, o.template, status));
  }
  assert.deepEqual(missing, [], `documented but never produced and validated: ${missing.join(', ')}`);
}
