/**
 * A small client for the Auth0 Management API, enough for bulk imports: a client-credentials token (refreshed before
 * it expires, and once more when the API says it is no longer valid), JSON and multipart requests with a timeout,
 * 429s retried after Retry-After / X-RateLimit-Reset (or an exponential backoff), and every failure turned into a
 * MgmtError whose message is safe to print (never the client secret, never a token).
 */

export interface MgmtTarget {
  domain: string;
  client_id: string;
  client_secret: string;
  connection_id: string;
  management_url?: string | undefined;
}

/**
 * What went wrong, for the caller to decide: `auth` (credentials or token refused), `scope` (403), `unreachable`
 * (network failures or 5xx on a request that is safe to repeat, after retries), `ambiguous` (a request that changes
 * something failed in a way that leaves unknown whether the server acted on it), `rate_limited` (still 429 when the
 * wait budget ran out), `protocol` (an answer that is not what the API documents).
 */
export type MgmtErrorKind = 'auth' | 'scope' | 'unreachable' | 'ambiguous' | 'rate_limited' | 'protocol';

export class MgmtError extends Error {
  constructor(
    message: string,
    readonly kind: MgmtErrorKind,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'MgmtError';
  }
}

export interface MgmtResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON body, or undefined when the body is empty or not JSON. */
  body: unknown;
}

export interface MgmtClientOptions {
  /** Exponential backoff base for 429s without a hint and for retried network errors (default 1000 ms). */
  backoffBaseMs?: number;
  /** Longest backoff wait (default 60 s); a server's Retry-After is honoured up to 15 min. */
  backoffMaxMs?: number;
  /** How long one request keeps retrying 429s in total (default 2 h 15 min: longer than an import job may run). */
  rateLimitBudgetMs?: number;
  /** Network errors / 5xx retried this many times on requests that are safe to repeat (default 5). */
  maxRetries?: number;
  /** Per-request timeout (default 60 s). */
  timeoutMs?: number;
  /** Told about every wait (for progress output and tests). */
  onWait?: (info: { reason: string; ms: number }) => void;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
}

/** Network errors that happen before the request reached the server: always safe to retry. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

function errorCode(e: unknown): string {
  const cause = (e as { cause?: { code?: string; name?: string } }).cause;
  return cause?.code ?? (e as { name?: string }).name ?? 'error';
}

/** The API's own words about a failure, in one short line: `{statusCode, error, message, errorCode}` or `{error, error_description}`. */
export function describeBody(body: unknown): string {
  if (!body || typeof body !== 'object') return '';
  const b = body as Record<string, unknown>;
  const code = typeof b.errorCode === 'string' ? b.errorCode : typeof b.error === 'string' ? b.error : '';
  const text = typeof b.message === 'string' ? b.message : typeof b.error_description === 'string' ? b.error_description : '';
  return [code, text].filter(Boolean).join(': ').replace(/\s+/g, ' ').slice(0, 300);
}

/** How long a 429 asks us to wait: Retry-After (seconds or a date), else X-RateLimit-Reset when the bucket is empty. */
export function rateLimitWaitMs(headers: Headers, now = Date.now()): number | undefined {
  const retryAfter = headers.get('retry-after');
  if (retryAfter !== null && retryAfter.trim() !== '') {
    const s = Number(retryAfter);
    if (Number.isFinite(s)) return Math.max(0, s * 1000);
    const at = Date.parse(retryAfter);
    if (!Number.isNaN(at)) return Math.max(0, at - now);
  }
  const reset = Number(headers.get('x-ratelimit-reset'));
  if (headers.get('x-ratelimit-remaining') === '0' && Number.isFinite(reset) && reset > 0) return Math.max(0, reset * 1000 - now);
  return undefined;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class MgmtClient {
  readonly base: string;
  readonly audience: string;
  private token: { value: string; refreshAt: number } | undefined;
  private tokenFetch: Promise<string> | undefined;
  private readonly o: Required<Omit<MgmtClientOptions, 'onWait'>> & Pick<MgmtClientOptions, 'onWait'>;
  /** How many access tokens were fetched (reported, and checked by tests). */
  tokensFetched = 0;

  constructor(
    private readonly target: MgmtTarget,
    options: MgmtClientOptions = {},
  ) {
    this.base = (target.management_url ?? `https://${target.domain}`).replace(/\/+$/, '');
    this.audience = `https://${target.domain}/api/v2/`;
    this.o = {
      backoffBaseMs: options.backoffBaseMs ?? 1000,
      backoffMaxMs: options.backoffMaxMs ?? 60_000,
      rateLimitBudgetMs: options.rateLimitBudgetMs ?? 135 * 60_000,
      maxRetries: options.maxRetries ?? 5,
      timeoutMs: options.timeoutMs ?? 60_000,
      fetch: options.fetch ?? fetch,
      sleep: options.sleep ?? defaultSleep,
      onWait: options.onWait,
    };
  }

  private backoff(attempt: number): number {
    const ms = Math.min(this.o.backoffMaxMs, this.o.backoffBaseMs * 2 ** attempt);
    return Math.round(ms * (0.5 + Math.random() / 2));
  }

  private async wait(reason: string, ms: number): Promise<void> {
    this.o.onWait?.({ reason, ms });
    await this.o.sleep(ms);
  }

  /** A valid access token: cached until shortly before it expires; `force` fetches a new one. */
  async accessToken(force = false): Promise<string> {
    if (!force && this.token && Date.now() < this.token.refreshAt) return this.token.value;
    // Two workers asking at once share one token request.
    this.tokenFetch ??= this.fetchToken().finally(() => (this.tokenFetch = undefined));
    return this.tokenFetch;
  }

  private async fetchToken(): Promise<string> {
    const r = await this.send('POST', '/oauth/token', {
      json: { grant_type: 'client_credentials', client_id: this.target.client_id, client_secret: this.target.client_secret, audience: this.audience },
      idempotent: true,
      authenticated: false,
    });
    if (r.status === 401 || r.status === 403) {
      throw new MgmtError(
        `the token endpoint refused the client credentials (${r.status} ${describeBody(r.body)}): check targets.auth0.client_id and client_secret, and that the application is authorized for the Management API (audience ${this.audience})`,
        'auth',
        r.status,
      );
    }
    const b = (r.body ?? {}) as { access_token?: unknown; expires_in?: unknown };
    if (r.status !== 200 || typeof b.access_token !== 'string' || !b.access_token) {
      throw new MgmtError(`unexpected answer from ${this.base}/oauth/token (${r.status} ${describeBody(r.body)})`, 'protocol', r.status);
    }
    const lifetime = typeof b.expires_in === 'number' && b.expires_in > 0 ? b.expires_in : 86_400;
    // Refresh a little before expiry: 10% of the lifetime, at most a minute.
    this.token = { value: b.access_token, refreshAt: Date.now() + (lifetime - Math.min(60, lifetime * 0.1)) * 1000 };
    this.tokensFetched++;
    return b.access_token;
  }

  /**
   * A Management API call. 401 → one retry with a fresh token, then `auth`; 403 → `scope`; 429 → waits and retries;
   * 5xx and network errors → retried when `idempotent`, otherwise `ambiguous` (the server may have acted). Any other
   * status is returned for the caller to interpret.
   */
  async request(method: 'GET' | 'POST', path: string, options: { form?: FormData; idempotent: boolean }): Promise<MgmtResponse> {
    let refreshed = false;
    for (;;) {
      const token = await this.accessToken();
      const r = await this.send(method, path, { form: options.form, idempotent: options.idempotent, authenticated: true, token });
      if (r.status === 401 && !refreshed) {
        refreshed = true;
        this.token = undefined;
        continue;
      }
      if (r.status === 401) {
        throw new MgmtError(`the Management API refused a fresh access token (401 ${describeBody(r.body)})`, 'auth', 401);
      }
      if (r.status === 403) {
        throw new MgmtError(
          `the Management API refused ${method} ${path.replace(/\/job_[^/]+/, '/{id}')} (403 ${describeBody(r.body)}): the application needs the create:users and read:users scopes`,
          'scope',
          403,
        );
      }
      return r;
    }
  }

  /** One HTTP exchange with 429 waits and (for idempotent requests) network/5xx retries. */
  private async send(
    method: 'GET' | 'POST',
    path: string,
    options: { json?: unknown; form?: FormData | undefined; idempotent: boolean; authenticated: boolean; token?: string },
  ): Promise<MgmtResponse> {
    const started = Date.now();
    let failures = 0;
    let limited = 0;
    const what = `${method} ${path.replace(/\/job_[^/]+/, '/{id}')}`;
    for (;;) {
      const headers: Record<string, string> = { accept: 'application/json' };
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      // A request that must not be sent twice goes on a fresh connection: a pooled keep-alive socket the server is
      // closing at that moment would fail it (ECONNRESET) without telling whether the server received it.
      if (!options.idempotent) headers.connection = 'close';
      let body: string | FormData | undefined;
      if (options.json !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(options.json);
      } else body = options.form;
      let res: Response;
      try {
        res = await this.o.fetch(`${this.base}${path}`, { method, headers, body, signal: AbortSignal.timeout(this.o.timeoutMs) });
      } catch (e) {
        const code = errorCode(e);
        const safe = options.idempotent || NOT_SENT.has(code);
        if (!safe) throw new MgmtError(`${what} failed (${code}); the server may or may not have acted on it`, 'ambiguous');
        if (failures >= this.o.maxRetries) throw new MgmtError(`cannot reach ${this.base} (${what}: ${code})`, 'unreachable');
        await this.wait(`${what}: ${code}`, this.backoff(failures++));
        continue;
      }
      const text = await res.text().catch(() => '');
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      if (res.status === 429) {
        const hinted = rateLimitWaitMs(res.headers);
        // The server's hint is honoured (up to 15 min); without one, an exponential backoff.
        const ms = hinted !== undefined ? Math.min(hinted, 15 * 60_000) : this.backoff(limited);
        limited++;
        if (Date.now() + ms - started > this.o.rateLimitBudgetMs) {
          throw new MgmtError(`${what} still rate limited after ${Math.round((Date.now() - started) / 1000)} s (429 ${describeBody(parsed)})`, 'rate_limited', 429);
        }
        await this.wait(`${what}: 429 ${describeBody(parsed)}`, ms);
        continue;
      }
      if (res.status >= 500) {
        if (!options.idempotent) {
          throw new MgmtError(`${what} answered ${res.status} (${describeBody(parsed)}); the server may or may not have acted on it`, 'ambiguous', res.status);
        }
        if (failures >= this.o.maxRetries) throw new MgmtError(`${what} keeps failing (${res.status} ${describeBody(parsed)})`, 'unreachable', res.status);
        await this.wait(`${what}: ${res.status}`, rateLimitWaitMs(res.headers) ?? this.backoff(failures));
        failures++;
        continue;
      }
      return { status: res.status, headers: res.headers, body: parsed };
    }
  }
}
