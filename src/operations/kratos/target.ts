/**
 * `export --target kratos`: one Ory Kratos identity per user, as the Admin API's create-identity body
 * (POST /admin/identities; `kratos import identities FILE` reads a file holding one body or a JSON array of them):
 * https://www.ory.sh/docs/kratos/manage-identities/import-user-accounts-identities
 *
 *   { "schema_id": "default", "state": "active" | "inactive",
 *     "traits": { "email", "username"?, "name"?: { "first"?, "last"? } },
 *     "verifiable_addresses"?: [{ "value": email, "verified": true, "via": "email", "status": "completed" }],
 *     "metadata_admin": { "legacy_user_id", "app_metadata"? }, "metadata_public"?: user_metadata,
 *     "credentials": { "password": { "config": { "hashed_password": "..." } } } }
 *
 * The traits must fit the identity schema the project uses (schema_id "default" with email, username and name traits,
 * as documented in the gateway's export docs). A hash Kratos can't read but the gateway can verify becomes
 * `"config": { "hashed_password": "", "use_password_migration_hook": true }`: Kratos then asks the gateway's Kratos door at the first login.
 * verifiable_addresses only when the legacy store says the email is verified (otherwise Kratos creates the address
 * unverified from the schema). Email is required (the identifier the gateway's door receives).
 */
// Types only: export.ts imports this module, so nothing may be imported from it at run time.
import type { ExportTarget, TargetMapping } from '../export.js';
import { startMapping } from '../target-mapping.js';
import { toKratosHash } from './hash.js';

export const KRATOS_SCHEMA_ID = 'default';


export interface KratosIdentity {
  schema_id: string;
  state: 'active' | 'inactive';
  traits: { email: string; username?: string; name?: { first?: string; last?: string } };
  verifiable_addresses?: { value: string; verified: true; via: 'email'; status: 'completed' }[];
  metadata_admin: { legacy_user_id: string; app_metadata?: Record<string, unknown> };
  metadata_public?: Record<string, unknown>;
  credentials?: { password: { config: { hashed_password: string; use_password_migration_hook?: true } } };
}

export const kratosTarget: ExportTarget = {
  name: 'kratos',
  label: 'Kratos',
  layout: { prefix: 'identities', ext: 'json', open: '[\n', sep: ',\n', close: '\n]\n' },
  maxFileBytes: 100_000_000, // no documented file limit
  map(user, config): TargetMapping {
    const { profile: p, password, base, blocked } = startMapping(user, config, {
      emailField: 'traits.email',
      noEmail: 'no email: the identity schema identifies users by email',
      hash: toKratosHash,
      username: (profile) => profile.username,
    });
    if (blocked) return { ...base, record: null };

    const name: NonNullable<KratosIdentity['traits']['name']> = {};
    if (p.given_name !== undefined) name.first = p.given_name;
    if (p.family_name !== undefined) name.last = p.family_name;
    const record: KratosIdentity = {
      schema_id: KRATOS_SCHEMA_ID,
      state: p.blocked ? 'inactive' : 'active',
      traits: { email: p.email!, ...(p.username !== undefined ? { username: p.username } : {}), ...(Object.keys(name).length ? { name } : {}) },
      metadata_admin: { legacy_user_id: p.user_id, ...(Object.keys(p.app_metadata).length ? { app_metadata: p.app_metadata } : {}) },
    };
    if (p.email_verified === true) record.verifiable_addresses = [{ value: p.email!, verified: true, via: 'email', status: 'completed' }];
    if (Object.keys(p.user_metadata).length) record.metadata_public = p.user_metadata;
    if (password.ok) record.credentials = { password: { config: { hashed_password: password.hashed_password } } };
    return { ...base, record };
  },
  // The documented setup: an empty hash and the flag (ory/docs import-user-accounts-identities, "password migration hook").
  withMigrationHook: (record) => ({
    ...(record as KratosIdentity),
    credentials: { password: { config: { hashed_password: '', use_password_migration_hook: true } } },
  }),
};
