/**
 * `export --target keycloak`: realm partial-import documents (Admin Console: Realm settings → Action → Partial import;
 * Admin REST API: POST /admin/realms/{realm}/partialImport), each
 *   {"ifResourceExists": "SKIP", "users": [UserRepresentation, ...]}
 * https://www.keycloak.org/docs-api/latest/rest-api/index.html#PartialImportRepresentation
 *
 * A user: username (the legacy username, else the email; Keycloak lower-cases both), email, emailVerified, enabled
 * (false for accounts blocked in the legacy store), firstName, lastName, attributes {"legacy_user_id": [id]} and,
 * where Keycloak can verify the hash (hash.ts), credentials [{type: "password", secretData, credentialData}]. Keycloak 24+
 * drops attributes the realm's user profile doesn't declare: declare legacy_user_id, or enable unmanaged attributes.
 * "SKIP" leaves users that already exist untouched (re-running an import is safe).
 */
// Types only: export.ts imports this module, so nothing may be imported from it at run time.
import type { ExportTarget, TargetMapping } from '../export.js';
import type { Profile } from '../../profile.js';
import { startMapping } from '../target-mapping.js';
import { toKeycloakCredential, type KeycloakCredential } from './hash.js';

/** Keycloak's username: the legacy username, else the email. */
const usernameOf = (p: Profile): string | undefined => p.username ?? p.email;


export interface KeycloakUser {
  username: string;
  email: string;
  emailVerified: boolean;
  enabled: boolean;
  firstName?: string;
  lastName?: string;
  attributes: { legacy_user_id: [string] };
  credentials?: KeycloakCredential[];
}

export const keycloakTarget: ExportTarget = {
  name: 'keycloak',
  label: 'Keycloak',
  layout: { prefix: 'users', ext: 'json', open: '{"ifResourceExists":"SKIP","users":[\n', sep: ',\n', close: '\n]}\n' },
  maxFileBytes: 100_000_000, // no documented file limit
  map(user, config): TargetMapping {
    const { profile: p, password, base, blocked } = startMapping(user, config, {
      emailField: 'email',
      noEmail: 'no email: the gateway door and the reset flow need one',
      hash: toKeycloakCredential,
      username: usernameOf,
    });
    if (blocked) return { ...base, record: null };
    const record: KeycloakUser = {
      username: usernameOf(p)!,
      email: p.email!,
      emailVerified: p.email_verified === true,
      enabled: !p.blocked,
      attributes: { legacy_user_id: [p.user_id] },
    };
    if (p.given_name !== undefined) record.firstName = p.given_name;
    if (p.family_name !== undefined) record.lastName = p.family_name;
    if (password.ok) record.credentials = [password.credential];
    return { ...base, record };
  },
};
