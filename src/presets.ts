/**
 * Schema presets for the stores people actually migrate from. A preset fills in store.users (and
 * passwords.scheme_map where the schema names its hash format); anything set in the configuration wins,
 * column by column. store.table_prefix is prepended to every table of the preset (WordPress's wp_, ...).
 */

type Obj = Record<string, unknown>;

export interface Preset {
  description: string;
  users: Obj;
  passwords?: Obj;
}

export const PRESETS: Record<string, Preset> = {
  'aspnet-membership': {
    description: 'ASP.NET Membership (SqlMembershipProvider): aspnet_Users + aspnet_Membership',
    users: {
      table: 'aspnet_Users',
      joins: [{ table: 'aspnet_Membership', alias: 'm', on: { UserId: 'UserId' } }],
      columns: {
        id: 'UserId', username: 'UserName', email: 'm.Email', password: 'm.Password', salt: 'm.PasswordSalt',
        password_scheme: 'm.PasswordFormat', active: 'm.IsApproved', blocked: 'm.IsLockedOut',
      },
    },
    // PasswordFormat 0 = Clear, 1 = Hashed (SHA1 under .NET 2.0-3.5; set "1": aspnet_membership_sha256 or
    // aspnet_universal for HashAlgorithmType SHA256 / HMACSHA256), 2 = Encrypted (needs the machine key: verifies false).
    passwords: { scheme_map: { '0': 'plaintext', '1': 'aspnet_membership_sha1' } },
  },
  'aspnet-universal': {
    description: 'ASP.NET Universal Providers (System.Web.Providers): Users + Memberships',
    users: {
      table: 'Users',
      joins: [{ table: 'Memberships', alias: 'm', on: { UserId: 'UserId' } }],
      columns: {
        id: 'UserId', username: 'UserName', email: 'm.Email', password: 'm.Password', salt: 'm.PasswordSalt',
        password_scheme: 'm.PasswordFormat', active: 'm.IsApproved', blocked: 'm.IsLockedOut',
      },
    },
    passwords: { scheme_map: { '0': 'plaintext', '1': 'aspnet_universal' } },
  },
  'aspnet-simple-membership': {
    description: 'ASP.NET Simple Membership (WebMatrix / MVC 4): UserProfile + webpages_Membership',
    users: {
      table: 'UserProfile',
      joins: [{ table: 'webpages_Membership', alias: 'm', on: { UserId: 'UserId' } }],
      columns: { id: 'UserId', username: 'UserName', password: 'm.Password', active: 'm.IsConfirmed' },
    },
    passwords: { scheme: 'aspnet_simple_membership' },
  },
  'aspnet-identity': {
    description: 'ASP.NET Identity 2 / ASP.NET Core Identity: AspNetUsers',
    users: {
      table: 'AspNetUsers',
      columns: {
        id: 'Id', username: 'UserName', email: 'Email', password: 'PasswordHash',
        email_verified: 'EmailConfirmed', locked_until: 'LockoutEnd',
      },
    },
  },
  wordpress: {
    description: 'WordPress: wp_users (set table_prefix for another prefix); login by user_login or user_email',
    users: {
      table: 'users',
      columns: {
        id: 'ID', username: 'user_login', email: 'user_email', password: 'user_pass',
        name: 'display_name', nickname: 'user_nicename',
      },
    },
  },
  drupal7: {
    description: 'Drupal 7: users (uid 0 is the anonymous user and is left out)',
    users: {
      table: 'users',
      filter: [{ column: 'uid', op: '<>', value: 0 }],
      columns: { id: 'uid', username: 'name', email: 'mail', password: 'pass', active: 'status' },
    },
  },
  django: {
    description: 'Django: auth_user',
    users: {
      table: 'auth_user',
      columns: {
        id: 'id', username: 'username', email: 'email', password: 'password',
        given_name: 'first_name', family_name: 'last_name', active: 'is_active',
      },
    },
  },
  laravel: {
    description: 'Laravel: users (email_verified_at set = verified)',
    users: {
      table: 'users',
      columns: { id: 'id', email: 'email', password: 'password', name: 'name', email_verified: 'email_verified_at' },
    },
  },
  devise: {
    description: 'Rails Devise: users.encrypted_password (set passwords.params.pepper if config.pepper was used)',
    users: {
      table: 'users',
      columns: { id: 'id', email: 'email', password: 'encrypted_password', email_verified: 'confirmed_at', blocked: 'locked_at' },
    },
  },
};

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Base under override; plain objects merge key by key, anything else is replaced. */
function merge(base: unknown, override: unknown): unknown {
  if (override === undefined) return base;
  if (isObj(base) && isObj(override)) {
    const out: Obj = { ...base };
    for (const [k, v] of Object.entries(override)) out[k] = merge(base[k], v);
    return out;
  }
  return override;
}

function prefixed(users: Obj, prefix: string): Obj {
  if (!prefix) return users;
  const joins = Array.isArray(users.joins) ? users.joins.map((j) => (isObj(j) ? { ...j, table: `${prefix}${String(j.table)}` } : j)) : users.joins;
  return { ...users, table: `${prefix}${String(users.table)}`, ...(joins ? { joins } : {}) };
}

/** Expand store.preset into the configuration (before validation). Unknown presets are reported. */
export function applyPreset(raw: unknown, problems: string[]): unknown {
  if (!isObj(raw) || !isObj(raw.store)) return raw;
  const store = raw.store;
  const prefix = typeof store.table_prefix === 'string' ? store.table_prefix : '';
  if (store.preset === undefined) {
    return prefix && isObj(store.users) ? { ...raw, store: { ...store, users: prefixed(store.users, prefix) } } : raw;
  }
  const name = String(store.preset);
  const preset = PRESETS[name];
  if (!preset) {
    problems.push(`store.preset: unknown preset "${name}" (known: ${Object.keys(PRESETS).join(', ')})`);
    return raw;
  }
  const users = merge(prefixed(preset.users, prefix), store.users) as Obj;
  return {
    ...raw,
    store: { ...store, users },
    passwords: merge(preset.passwords ?? {}, raw.passwords),
  };
}
