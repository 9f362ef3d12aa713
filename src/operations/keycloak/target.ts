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
import { emailProblem, type ExportTarget, type TargetMapping } from '../export.js';
import type { RecordProblem } from '../auth0/record.js';
import { toProfile } from '../../profile.js';
import { toKeycloakCredential, type KeycloakCredential } from './hash.js';


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
    const p = toProfile(user, config.profile.user_id_prefix);
    const problems: RecordProblem[] = [];
    const emailIssue = emailProblem(p.email, 'email', 'no email: the gateway door and the reset flow need one');
    if (emailIssue) problems.push(emailIssue);
    const password = toKeycloakCredential(user, config.passwords);
    const username = p.username ?? p.email;
    const keys = [`id:${p.user_id}`, ...(p.email ? [`email:${p.email}`] : []), ...(username ? [`username:${username}`] : [])];
    const base = { userId: p.user_id, email: p.email, keys, problems, password: password.ok ? { ok: true as const, scheme: password.scheme } : password };
    if (problems.some((x) => x.blocking)) return { ...base, record: null };
    const record: KeycloakUser = {
      username: username!,
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
