/**
 * A throwaway PKI for the HTTPS tests, made with the openssl CLI in a temp dir when a test starts (nothing is
 * committed): a CA, a server certificate for 127.0.0.1/localhost, two client certificates signed by the CA, and a
 * client certificate from another CA. Plus an https client that presents one and returns what openapi.ts validates.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { readResponse, type Res } from './openapi.js';

export interface Identity {
  cert: Buffer;
  key: Buffer;
  /** AA:BB:... as Node reports it (X509Certificate.fingerprint256). */
  fingerprint256: string;
}

export interface TestPki {
  dir: string;
  caFile: string;
  ca: Buffer;
  serverCertFile: string;
  serverKeyFile: string;
  /** Signed by the CA. */
  client: Identity;
  /** Signed by the CA too (a second client, for fingerprint pinning). */
  otherClient: Identity;
  /** Signed by a CA the gateway does not trust. */
  stranger: Identity;
  /**
   * Issue a new server certificate (CN `name`, same CA and names) and write it and its key over serverCertFile and
   * serverKeyFile, as a renewal would. Returns the new certificate's fingerprint.
   */
  renewServer(name: string): string;
  cleanup(): void;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** EC P-256 keys: quick to make, and TLS does not care. */
const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function makeCa(dir: string, name: string): void {
  openssl(dir, ['req', '-x509', ...newKey, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`]);
}

function issue(dir: string, ca: string, name: string, ext: string): Identity {
  writeFileSync(path.join(dir, `${name}.ext`), `${ext}\n`);
  openssl(dir, ['req', ...newKey, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`]);
  const cert = readFileSync(path.join(dir, `${name}.pem`));
  return { cert, key: readFileSync(path.join(dir, `${name}.key`)), fingerprint256: new X509Certificate(cert).fingerprint256 };
}

export function makePki(): TestPki {
  const dir = mkdtempSync(path.join(tmpdir(), 'lg-pki-'));
  try {
    makeCa(dir, 'test-ca');
    makeCa(dir, 'other-ca');
    issue(dir, 'test-ca', 'server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth');
    const client = issue(dir, 'test-ca', 'client', 'extendedKeyUsage=clientAuth');
    const otherClient = issue(dir, 'test-ca', 'client-two', 'extendedKeyUsage=clientAuth');
    const stranger = issue(dir, 'other-ca', 'stranger', 'extendedKeyUsage=clientAuth');
    return {
      dir,
      caFile: path.join(dir, 'test-ca.pem'),
      ca: readFileSync(path.join(dir, 'test-ca.pem')),
      serverCertFile: path.join(dir, 'server.pem'),
      serverKeyFile: path.join(dir, 'server.key'),
      client,
      otherClient,
      stranger,
      renewServer(name: string) {
        const id = issue(dir, 'test-ca', name, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth');
        writeFileSync(path.join(dir, 'server.pem'), id.cert);
        writeFileSync(path.join(dir, 'server.key'), id.key);
        return id.fingerprint256;
      },
      cleanup: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/** One HTTPS request on a fresh connection, trusting `ca`, presenting `identity` when given. */
export function httpsCall(
  url: string,
  method: string,
  pathname: string,
  opts: { ca: Buffer; identity?: Identity; body?: string; headers?: Record<string, string>; timeoutMs?: number },
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...(opts.headers ?? {}) };
    if (opts.body !== undefined) headers['content-length'] = Buffer.byteLength(opts.body);
    const req = request(
      new URL(pathname, url),
      { method, headers, agent: false, ca: opts.ca, ...(opts.identity ? { cert: opts.identity.cert, key: opts.identity.key } : {}), timeout: opts.timeoutMs ?? 10_000 },
      (res) => void readResponse(res).then(resolve, reject),
    );
    req.on('timeout', () => req.destroy(new Error('https request timed out')));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/**
 * A PKI for the enclosing suite (made before its tests, removed after them) and the gateways its tests start
 * (closed after them): push each one onto `open`.
 */
export function useTestPki(): { readonly pki: TestPki; open: { close(): Promise<unknown> }[] } {
  let pki: TestPki | undefined;
  const open: { close(): Promise<unknown> }[] = [];
  before(() => {
    pki = makePki();
  });
  after(async () => {
    await Promise.all(open.map((g) => g.close().catch(() => undefined)));
    pki?.cleanup();
  });
  return {
    get pki() {
      if (!pki) throw new Error('useTestPki: the PKI exists only while the suite runs');
      return pki;
    },
    open,
  };
}
