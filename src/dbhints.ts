/**
 * Connection errors that say what is wrong and what to do: which database (adapter, host, port, database; never the
 * password or the URL), the driver's code and message, and a hint. Used by `check`, the start-up warning and the
 * adapters' StoreError messages. Driver messages are quoted only for connection-level errors, which carry no user
 * data (query errors on user input keep the code alone).
 */

export interface DbTarget {
  adapter: string;
  host?: string | undefined;
  port?: string | undefined;
  database?: string | undefined;
}

const DEFAULT_PORT: Record<string, string> = { postgres: '5432', mysql: '3306', mssql: '1433', oracle: '1521', mongodb: '27017' };

/** The store URL parsed once, credentials dropped. A file path (SQLite) or a connect string that isn't a URL names the adapter only. */
export function storeTarget(adapter: string, url: string | undefined): DbTarget {
  if (adapter === 'sqlite' || !url) return { adapter };
  try {
    const u = new URL(url);
    const database = decodeURIComponent(u.pathname.replace(/^\//, '').split('/')[0] ?? '') || undefined;
    return { adapter, host: u.hostname || undefined, port: u.port || DEFAULT_PORT[adapter], database };
  } catch {
    return { adapter };
  }
}

/** "postgres at 127.0.0.1:5432, database shop" */
export function describeTarget(t: DbTarget): string {
  const at = t.host ? ` at ${t.host}${t.port ? `:${t.port}` : ''}` : '';
  return `${t.adapter}${at}${t.database ? `, database ${t.database}` : ''}`;
}

type Fact = { code: string; errno: number | undefined; message: string };

function facts(e: unknown): Fact {
  const err = (e ?? {}) as { code?: unknown; errno?: unknown; number?: unknown; errorNum?: unknown; message?: unknown; errors?: { message?: unknown; code?: unknown }[] };
  const first = Array.isArray(err.errors) ? err.errors[0] : undefined;
  const num = [err.errno, err.number, err.errorNum].find((v) => typeof v === 'number') as number | undefined;
  const code = typeof err.code === 'string' ? err.code : typeof first?.code === 'string' ? first.code : num !== undefined ? String(num) : '';
  const message = typeof err.message === 'string' && err.message ? err.message : typeof first?.message === 'string' ? first.message : '';
  return { code, errno: num, message };
}

const TLS_CODES = ['EPROTO', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_HAS_EXPIRED', 'HANDSHAKE_SSL_ERROR', 'HANDSHAKE_NO_SSL_SUPPORT'];

/** The hint table: the first rule that matches wins (the TLS and missing-database cases come before the generic login failure they share codes with). */
const HINTS: { hint: string; match: (f: Fact) => boolean }[] = [
  {
    hint: 'TLS required or refused: the server and the connection disagree about TLS (PostgreSQL: pg_hba.conf admits this user only over TLS, add sslmode=require to store.url; MySQL/MariaDB: require_secure_transport is ON, connect with TLS), or the server certificate is not trusted',
    match: (f) =>
      (f.code === '28000' && /SSL off|no encryption/i.test(f.message)) ||
      f.errno === 3159 || /require_secure_transport|secure transport/i.test(f.message) ||
      TLS_CODES.includes(f.code) || /\b(SSL|TLS)\b.*(required|not support|refused|handshake)|does not support SSL/i.test(f.message),
  },
  {
    hint: 'database missing: the database named in store.url does not exist on this server (check its name, or create it)',
    match: (f) => f.code === '3D000' || f.errno === 1049 || f.code === 'ER_BAD_DB_ERROR' || f.errno === 4060 || /Cannot open database/i.test(f.message),
  },
  {
    hint: 'wrong password or user: check the user name and password in store.url (and, for PostgreSQL, that pg_hba.conf admits this user from this host)',
    match: (f) =>
      ['28P01', '28000', 'ER_ACCESS_DENIED_ERROR', 'ELOGIN'].includes(f.code) || f.errno === 1045 || f.errno === 1017 || /ORA-01017|Authentication failed/.test(f.message),
  },
  {
    hint: 'no access to this database: the user logged in but has no privileges on it (GRANT them: `legacy-gateway check` prints the GRANTs, run it as a user that may connect)',
    match: (f) => f.errno === 1044 || f.code === 'ER_DBACCESS_DENIED_ERROR',
  },
  { hint: 'host unknown: the host name in store.url does not resolve (check its spelling and DNS)', match: (f) => ['ENOTFOUND', 'EAI_AGAIN'].includes(f.code) || /\b(ENOTFOUND|EAI_AGAIN)\b/.test(f.message) },
  { hint: 'server not listening: nothing accepts connections at this host and port (is the server running, is the port right, does a firewall refuse it?)', match: (f) => f.code === 'ECONNREFUSED' || /\bECONNREFUSED\b|ORA-12541/.test(f.message) },
  {
    hint: 'timeout: the server did not answer within store.query_timeout_ms (a firewall dropping packets, a wrong host, or an overloaded server)',
    match: (f) => ['ETIMEDOUT', 'ETIMEOUT', 'ESOCKETTIMEDOUT', 'POOL_ACQUIRE_TIMEOUT', 'PROTOCOL_SEQUENCE_TIMEOUT'].includes(f.code) || /timeout|timed out/i.test(f.message),
  },
];

/** The hint for a connection-level driver error, or undefined when the error is not one of those. */
export function connectionHint(e: unknown): string | undefined {
  const f = facts(e);
  return HINTS.find((h) => h.match(f))?.hint;
}

/** Network failures without a hint of their own (never a query's error: SQL Server's EREQUEST is not one of them). */
const NETWORK = ['ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ESOCKET', 'ECONNCLOSED', 'PROTOCOL_CONNECTION_LOST'];

/** A connection-level error (it has a hint, or a network error code): its message may be quoted. */
export function isConnectionError(e: unknown): boolean {
  return connectionHint(e) !== undefined || NETWORK.includes(facts(e).code);
}

/**
 * "postgres at 127.0.0.1:5432, database shop: 28P01 password authentication failed for user "gw" — hint: wrong
 * password or user: …". The URL's password, should a driver ever quote it, is masked. tlsHint replaces the
 * databases' TLS hint for a store with TLS settings of its own.
 */
export function describeConnectionError(target: DbTarget, e: unknown, url?: string, tlsHint?: string): string {
  const f = facts(e);
  let message = f.message.replace(/\s+/g, ' ').trim();
  let secret = '';
  try {
    secret = url ? decodeURIComponent(new URL(url).password) : '';
  } catch {
    // not a URL: nothing to mask
  }
  if (secret) message = message.split(secret).join('***');
  if (url) message = message.split(url).join('(store.url)');
  let hint = connectionHint(e);
  // A store that is not a database (the http store) has its own TLS settings to point at.
  if (tlsHint && hint === HINTS[0]!.hint) hint = tlsHint;
  const driver = [f.code, f.errno !== undefined && f.errno > 0 && String(f.errno) !== f.code ? `(${f.errno})` : '', message].filter(Boolean).join(' ');
  return `${describeTarget(target)}: ${driver || 'error'}${hint ? ` — hint: ${hint}` : ''}`;
}
