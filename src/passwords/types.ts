import type { LegacyUser } from '../../adapters/types.js';
import type { SchemeParams } from './params.js';

/** What a verifier may read besides the password and the stored value. */
export interface VerifyContext {
  /** The legacy row (salt column, username for postgres_md5, ...). */
  row: Pick<LegacyUser, 'salt' | 'username' | 'email'>;
  /** passwords.params from the configuration, parsed (pepper, HMAC key, salt source, ...). */
  params: SchemeParams;
}

export interface PasswordScheme {
  /** passlib's name where passlib has the scheme, otherwise the framework's own. */
  name: string;
  /** True when the stored value is self-describing and in this scheme's format. */
  detect?(stored: string): boolean;
  /** true/false only. Malformed input is false; must not block the event loop for slow hashes. */
  verify(password: string, stored: string, ctx: VerifyContext): Promise<boolean>;
}
