/**
 * The audit log: one structured event per verify, lookup, get, mark and unmark, whether it came through /v1 or an
 * IdP front door, on its own logger name ("audit"). Each event carries the caller (the token's client id, or the
 * door), the operation, the outcome, the latency and the subject: a keyed hash of the login (HMAC-SHA-256 with
 * log.audit_key), never the login itself, and the public user_id once the user is known.
 *
 * The caller is known to the HTTP layer and the outcome to the use case: the HTTP layer calls the use cases through a
 * view of the Gateway bound to the caller (Gateway.as: the token's client for a /v1 request, the door for a front
 * door), and the Gateway writes the event, with that caller, when the use case ends. Every use case of the Gateway
 * takes its caller as a required argument, so a call that forgets it does not compile; code run by the operator
 * passes CLI_CALLER.
 */
import { createHmac, createSecretKey, randomBytes } from 'node:crypto';
import type { Logger } from './logger.js';
import { normaliseLogin } from './matching.js';

/** Who asked: an API client with a bearer token (/v1), a front door, or the operator CLI. */
export type Caller =
  /** client: the token's client id. */
  | { via: 'api'; client: string }
  /** client: "door:<key>"; door: the front door's key (okta, kratos, ...). */
  | { via: 'door'; client: string; door: string }
  | { via: 'cli' };

/** The operator CLI, as a caller. */
export const CLI_CALLER: Caller = Object.freeze({ via: 'cli' });

export type AuditOp = 'verify' | 'lookup' | 'get' | 'mark' | 'unmark';

export interface AuditEvent {
  op: AuditOp;
  /** Who asked. */
  caller: Caller;
  /** A VerifyOutcome for verify (success, wrong_password, unknown_user, ...); ok / not_found / an error code otherwise. */
  outcome: string;
  ms: number;
  login?: string | undefined;
  /** A user_id as the caller sent it (get, mark, unmark): logged only as an HMAC, like a login. */
  sentId?: string | undefined;
  /** The public user_id of the user the operation found or changed. */
  userId?: string | undefined;
}

export interface AuditLog {
  record(e: AuditEvent): void;
}

/** An audit log that writes nothing (tests of the use cases alone, benchmarks). */
export const NO_AUDIT: AuditLog = { record: () => {} };

/**
 * key: log.audit_key. Without one, a random key for this process: events of one process can be correlated, those
 * of two processes (or two runs) cannot; a warning says so once.
 */
export function createAuditLog(logger: Logger, key: string | undefined): AuditLog {
  if (!key) logger.warn({}, 'log.audit_key is not set: audit events hash logins with a random key of this process (set it to correlate events across replicas and restarts)');
  // A KeyObject made once: an HMAC keyed by a string converts the key on every call (about a third of its cost).
  const secret = createSecretKey(Buffer.from(key ?? randomBytes(32).toString('hex'), 'utf8'));
  // Fields are fixed and code-chosen: no wildcard redaction scan. The audit log is a record, not a diagnostic:
  // log.level quietens the gateway's own lines, never its audit events, which are written at info whatever the
  // level says (before, log.level warn silently dropped them). Only silent, no output at all, silences them too.
  const level = logger.level === 'silent' ? 'silent' : 'info';
  const audit = logger.child({ name: 'audit' }, { level, redact: { paths: [], censor: '[redacted]' } });
  return {
    record(e) {
      const caller = e.caller;
      audit.info(
        {
          op: e.op,
          outcome: e.outcome,
          // via tells the kinds apart: a token's client id may itself read "cli" or "door:okta".
          via: caller.via,
          client_id: caller.via === 'cli' ? 'cli' : caller.client,
          ...(caller.via === 'door' ? { door: caller.door } : {}),
          ms: Math.round(e.ms * 10) / 10,
          ...(e.login !== undefined ? { login_hmac: createHmac('sha256', secret).update(normaliseLogin(e.login)).digest('base64url') } : {}),
          ...(e.sentId !== undefined && e.userId === undefined ? { id_hmac: createHmac('sha256', secret).update(`id:${e.sentId}`).digest('base64url') } : {}),
          ...(e.userId !== undefined ? { user_id: e.userId } : {}),
        },
        'audit',
      );
    },
  };
}
