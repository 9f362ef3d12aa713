/**
 * `export --target okta`: one Users API create-user body per user, one per line (NDJSON), for
 * `POST /api/v1/users?activate=false` (https://developer.okta.com/docs/api/openapi/okta-management/management/tag/User/#tag/User/operation/createUser):
 *
 *   { "profile": { "login": email, "email": email, "firstName"?, "lastName"?, "displayName"?, "nickName"? },
 *     "credentials": { "password": { "hash": { ... } } } }                  the hash Okta can take (hash.ts)
 *     "credentials": { "password": { "hook": { "type": "default" } } }     the gateway verifies it (Okta door)
 *
 * login is the email (Okta's default login format; the gateway's Okta door looks the user up by it). firstName and
 * lastName are required by Okta's default user profile: a user without them is reported (problems.csv, not blocking)
 * so the operator can make them optional in the Profile Editor or fill them in. Blocked legacy users are reported too
 * (they are created STAGED like everyone; suspend them after activation). No hash is ever in a report.
 */
// Types only: export.ts imports this module, so nothing may be imported from it at run time.
import type { ExportTarget, TargetMapping } from '../export.js';
import { startMapping } from '../target-mapping.js';
import { toOktaHash, type OktaPasswordHash } from './hash.js';


export interface OktaCreateUser {
  profile: { login: string; email: string; firstName?: string; lastName?: string; displayName?: string; nickName?: string };
  credentials?: { password: { hash: OktaPasswordHash } | { hook: { type: 'default' } } };
}

export const oktaTarget: ExportTarget = {
  name: 'okta',
  label: 'Okta',
  layout: { prefix: 'users', ext: 'ndjson', open: '', sep: '\n', close: '\n' },
  maxFileBytes: 100_000_000, // no documented file limit
  map(user, config): TargetMapping {
    const { profile: p, problems, password, base, blocked } = startMapping(user, config, {
      emailField: 'profile.email',
      noEmail: 'no email: Okta requires one (and it is the login)',
      hash: toOktaHash,
    });
    if (blocked) return { ...base, record: null };

    for (const [field, v] of [['firstName', p.given_name], ['lastName', p.family_name]] as const) {
      if (v === undefined) problems.push({ code: `${field}_missing`, field: `profile.${field}`, message: `no ${field}: required by Okta's default user profile unless made optional`, blocking: false });
    }
    if (p.blocked) problems.push({ code: 'blocked_user', field: 'status', message: 'blocked in the legacy store: suspend the user in Okta after activation', blocking: false });
    const profile: OktaCreateUser['profile'] = { login: p.email!, email: p.email! };
    if (p.given_name !== undefined) profile.firstName = p.given_name;
    if (p.family_name !== undefined) profile.lastName = p.family_name;
    if (p.name !== undefined) profile.displayName = p.name;
    if (p.nickname !== undefined) profile.nickName = p.nickname;
    const record: OktaCreateUser = { profile };
    if (password.ok) record.credentials = { password: { hash: password.hash } };
    return { ...base, record };
  },
  withMigrationHook: (record) => ({ ...(record as OktaCreateUser), credentials: { password: { hook: { type: 'default' } } } }),
};
