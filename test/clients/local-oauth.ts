/**
 * A small client-credentials token endpoint for the client kit's tests: POST /oauth/token as Auth0 serves it
 * (JSON or form body; grant_type, client_id, client_secret, audience), over real HTTPS with a certificate made for
 * the test, answering real RS256 JWTs signed with the local issuer's key — the key whose JWKS the gateway under test
 * trusts. It composes src/devtokens.ts's LocalIssuer (mint) and changes nothing in it.
 *
 * The scripts build `https://<AUTH0_DOMAIN>/oauth/token`: AUTH0_DOMAIN is set to this endpoint's host:port, and the
 * scripts' network (`fetch` below) trusts this endpoint's certificate — the only difference from Auth0's runtime is
 * that trust anchor.
 *
 * Test knobs: `next(...)` queues how the following requests are answered ('expired': a token whose exp has passed
 * while expires_in says a day, 'error': 500 JSON, 'html': a 502 HTML page, 'hang': no answer until close, 'deny':
 * 401 access_denied); `requests` logs every request.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LocalIssuer } from '../../src/devtokens.js';

export type TokenBehaviour = 'ok' | 'expired' | 'error' | 'html' | 'hang' | 'deny';

export interface TokenRequestLog {
  client_id?: string;
  audience?: string;
  grant_type?: string;
  behaviour: TokenBehaviour;
  status: number;
}

export interface TokenEndpoint {
  /** What AUTH0_DOMAIN is set to: "127.0.0.1:<port>". */
  domain: string;
  url: string;
  /** Node's fetch, trusting this endpoint's certificate (and only it, for https). */
  fetch: typeof fetch;
  /** That certificate (PEM): NODE_EXTRA_CA_CERTS for a child process. */
  ca: string;
  requests: TokenRequestLog[];
  /** expires_in of the tokens handed out (seconds). */
  expiresIn: number;
  next(...behaviours: TokenBehaviour[]): void;
  close(): Promise<void>;
}

export interface TokenClient {
  secret: string;
  /** The scopes granted to this client for the issuer's audience (space-separated). */
  scope: string;
}

/** A self-signed certificate for 127.0.0.1 and localhost, made with openssl for this run. */
export function makeCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'lg-tls-'));
  try {
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert,
    ], { stdio: 'pipe' });
    return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Node's fetch with a dispatcher that trusts `ca`. Node bundles undici without exporting its Agent; the global
 * dispatcher (registered under undici's documented global symbol after a first fetch) is an instance of it.
 */
export async function fetchTrusting(ca: string): Promise<{ fetch: typeof fetch; close(): Promise<void> }> {
  const symbol = Symbol.for('undici.globalDispatcher.1');
  const holder = globalThis as unknown as Record<symbol, { constructor: new (opts: unknown) => { close(): Promise<void> } } | undefined>;
  if (!holder[symbol]) await fetch('http://127.0.0.1:1/').catch(() => undefined);
  const Agent = holder[symbol]?.constructor;
  if (!Agent) throw new Error("cannot reach Node's bundled undici Agent (the global dispatcher symbol is not set)");
  const agent = new Agent({ connect: { ca } });
  return {
    fetch: ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, { ...init, dispatcher: agent } as RequestInit)) as typeof fetch,
    close: () => agent.close(),
  };
}

async function readBody(req: import('node:http').IncomingMessage): Promise<Record<string, string>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (/application\/json/i.test(req.headers['content-type'] ?? '')) {
    try {
      const v = JSON.parse(text) as unknown;
      return v && typeof v === 'object' ? (v as Record<string, string>) : {};
    } catch {
      return {};
    }
  }
  return Object.fromEntries(new URLSearchParams(text));
}

export async function startTokenEndpoint(issuer: LocalIssuer, clients: Record<string, TokenClient>, opts: { expiresIn?: number } = {}): Promise<TokenEndpoint> {
  const tls = makeCertificate();
  const queue: TokenBehaviour[] = [];
  const requests: TokenRequestLog[] = [];
  const hanging = new Set<import('node:http').ServerResponse>();
  const endpoint = { expiresIn: opts.expiresIn ?? 86_400 };
  const json = (res: import('node:http').ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
    return status;
  };
  const server: Server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    void (async () => {
      if (req.method !== 'POST' || req.url !== '/oauth/token') {
        json(res, 404, { error: 'not_found' });
        return;
      }
      const body = await readBody(req);
      const behaviour = queue.shift() ?? 'ok';
      const log: TokenRequestLog = { client_id: body.client_id, audience: body.audience, grant_type: body.grant_type, behaviour, status: 0 };
      requests.push(log);
      if (behaviour === 'hang') {
        hanging.add(res);
        return;
      }
      if (behaviour === 'error') {
        log.status = json(res, 500, { error: 'server_error', error_description: 'Internal error' });
        return;
      }
      if (behaviour === 'html') {
        res.writeHead(502, { 'content-type': 'text/html' });
        res.end('<html><body><h1>502 Bad Gateway</h1></body></html>');
        log.status = 502;
        return;
      }
      if (body.grant_type !== 'client_credentials') {
        log.status = json(res, 403, { error: 'unauthorized_client', error_description: 'Grant type not allowed for the client.' });
        return;
      }
      const client = body.client_id ? clients[body.client_id] : undefined;
      if (behaviour === 'deny' || !client || client.secret !== body.client_secret) {
        log.status = json(res, 401, { error: 'access_denied', error_description: 'Unauthorized' });
        return;
      }
      if (body.audience !== issuer.audience) {
        log.status = json(res, 403, { error: 'access_denied', error_description: `Service not enabled within domain: ${body.audience}` });
        return;
      }
      const now = Math.floor(Date.now() / 1000);
      const claims = { sub: `${body.client_id}@clients`, azp: body.client_id, gty: 'client-credentials', scope: client.scope };
      const access_token =
        behaviour === 'expired'
          ? await issuer.mint({ ...claims, iat: now - 7200, exp: now - 3600 })
          : await issuer.mint(claims, { expiresIn: `${endpoint.expiresIn}s` }); // a number would be an absolute exp
      log.status = json(res, 200, { access_token, scope: client.scope, expires_in: endpoint.expiresIn, token_type: 'Bearer' });
    })().catch(() => {
      if (!res.headersSent) json(res, 500, { error: 'server_error' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const trusting = await fetchTrusting(tls.cert);
  return Object.assign(endpoint, {
    domain: `127.0.0.1:${port}`,
    url: `https://127.0.0.1:${port}/oauth/token`,
    fetch: trusting.fetch,
    ca: tls.cert,
    requests,
    next: (...b: TokenBehaviour[]) => void queue.push(...b),
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await trusting.close();
    },
  });
}
