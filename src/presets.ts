/**
 * Schema presets for the stores people actually migrate from. A preset fills in store.users (and
 * passwords.scheme_map where the schema names its hash format); anything set in the configuration wins,
 * column by column. store.table_prefix is prepended to every table of the preset (WordPress's wp_, ...).
 */

type Obj = Record<string, unknown>;

export interface Preset {
  description: string;
  /** The framework's own default table prefix (WordPress's wp_), used when store.table_prefix is not set. */
  table_prefix?: string;
  users: Obj;
  passwords?: Obj;
}

export const PRESETS: Record<string, Preset> = {
  'aspnet-membership': {
    description:
      'ASP.NET Membership (SqlMembershipProvider): aspnet_Users + aspnet_Membership + aspnet_Applications ' +
      '(several applications in one database: filter [{ column: a.LoweredApplicationName, value: /yourapp }])',
    users: {
      table: 'aspnet_Users',
      // Anonymous-profile rows (IsAnonymous = 1) have no aspnet_Membership row and drop out of the inner join.
      joins: [
        { table: 'aspnet_Membership', alias: 'm', on: { UserId: 'UserId' } },
        { table: 'aspnet_Applications', alias: 'a', on: { ApplicationId: 'ApplicationId' } },
      ],
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
    description:
      'ASP.NET Universal Providers (System.Web.Providers): Users + Memberships + Applications ' +
      '(several applications in one database: filter [{ column: a.ApplicationName, value: /yourapp }])',
    users: {
      table: 'Users',
      joins: [
        { table: 'Memberships', alias: 'm', on: { UserId: 'UserId' } },
        { table: 'Applications', alias: 'a', on: { ApplicationId: 'ApplicationId' } },
      ],
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
    description:
      'ASP.NET Core Identity: AspNetUsers (for ASP.NET Identity 2 on EF6 the lock-out column is LockoutEndDateUtc: ' +
      'set columns.locked_until: LockoutEndDateUtc)',
    // Identity ignores LockoutEnd while LockoutEnabled is false; the gateway cannot combine two columns, so such a
    // row (lock-out switched off after a lock was set) counts as locked until LockoutEnd passes.
    users: {
      table: 'AspNetUsers',
      columns: {
        id: 'Id', username: 'UserName', email: 'Email', password: 'PasswordHash',
        email_verified: 'EmailConfirmed', locked_until: 'LockoutEnd',
      },
    },
  },
  wordpress: {
    description: 'WordPress: wp_users (set table_prefix for another $table_prefix); login by user_login or user_email',
    // WordPress's wp-config.php default; an empty store.table_prefix ('') selects plain "users".
    table_prefix: 'wp_',
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
    description:
      'Rails Devise: users.encrypted_password (set passwords.params.pepper if config.pepper was used). locked_at set = ' +
      'blocked, as with unlock_strategy :email; under :time or :both (Devise\'s default, unlock_in 1 hour) a lock ' +
      'expires: set columns.blocked: null',
    users: {
      table: 'users',
      columns: { id: 'id', email: 'email', password: 'encrypted_password', email_verified: 'confirmed_at', blocked: 'locked_at' },
    },
  },
  'passport-local-mongoose': {
    description:
      'passport-local-mongoose (Express + Mongoose; adapter mongodb): collection users (the User model), fields username, ' +
      'hash, salt: PBKDF2-HMAC-SHA256, 25000 iterations, 512-byte key, hex, the hex salt used as text. Hashes written ' +
      'before version 2.0 (2015) use SHA-1: set passwords.scheme: passport_local_mongoose_sha1. With usernameField: ' +
      "'email' set columns: { username: null, email: email }",
    users: {
      table: 'users',
      columns: { id: '_id', username: 'username', password: 'hash', salt: 'salt' },
    },
    passwords: { scheme: 'passport_local_mongoose' },
  },
  // Forums and shops: their hashes are bare hex with the salt (or the user name) in another column, so the scheme is
  // named here (src/passwords/forum.ts). None of these tables has a plain banned/disabled flag except OpenCart's
  // status. So the vBulletin, MyBB and SMF presets filter out, by default, the members those forums ban (closed by
  // default: a banned member must not log in to the IdP with the forum's password); `users.filter: []` turns that off.
  // PunBB keeps its bans in a table of their own (by name, email or IP), which is not read: see docs/presets.md. The
  // group columns go to app_metadata as stored.
  vbulletin: {
    description:
      'vBulletin 3.x/4.x: user (set table_prefix for TABLE_PREFIX); md5(md5(password) . salt). Banned members ' +
      '(usergroupid 8) are left out; usergroupid goes to app_metadata (3/4 = awaiting confirmation/moderation by default)',
    users: {
      table: 'user',
      // usergroupid 8: vBulletin's "Banned Users" group.
      filter: [{ column: 'usergroupid', op: '<>', value: 8 }],
      columns: { id: 'userid', username: 'username', email: 'email', password: 'password', salt: 'salt' },
      app_metadata: ['usergroupid'],
    },
    passwords: { scheme: 'vbulletin' },
  },
  mybb: {
    description:
      'MyBB 1.x: mybb_users (table_prefix for another prefix); md5(md5(salt) . md5(password)). Banned members ' +
      '(usergroup 7) are left out; usergroup goes to app_metadata (5 = awaiting activation by default)',
    table_prefix: 'mybb_',
    users: {
      table: 'users',
      // usergroup 7: MyBB's "Banned" group.
      filter: [{ column: 'usergroup', op: '<>', value: 7 }],
      columns: { id: 'uid', username: 'username', email: 'email', password: 'password', salt: 'salt' },
      app_metadata: ['usergroup'],
    },
    passwords: { scheme: 'mybb' },
  },
  punbb: {
    description:
      'PunBB 1.3/1.4: users (id 1 is the guest account and is left out); sha1(salt . sha1(password)), and the unsalted ' +
      'sha1/md5 values PunBB 1.2 and FluxBB left behind. group_id goes to app_metadata (0 = unverified)',
    users: {
      table: 'users',
      filter: [{ column: 'id', op: '<>', value: 1 }],
      columns: { id: 'id', username: 'username', email: 'email', password: 'password', salt: 'salt', name: 'realname' },
      app_metadata: ['group_id'],
    },
    passwords: { scheme: 'punbb' },
  },
  smf: {
    description:
      'Simple Machines Forum 2.0/2.1: smf_members (table_prefix for another $db_prefix); sha1(lower(member_name) . ' +
      'password) or SMF 2.1 bcrypt of the same. Only is_activated = 1 (the members SMF lets log in) by default: ' +
      'waiting (0, 2-5) and banned (10 and over) members are left out; is_activated goes to app_metadata',
    table_prefix: 'smf_',
    users: {
      table: 'members',
      // SMF lets only is_activated = 1 log in (0 and 2-5: waiting for activation, approval or deletion; 10 and over:
      // banned).
      filter: [{ column: 'is_activated', value: 1 }],
      columns: { id: 'id_member', username: 'member_name', email: 'email_address', password: 'passwd', name: 'real_name' },
      app_metadata: ['is_activated'],
    },
    passwords: { scheme: 'smf' },
  },
  opencart: {
    description:
      'OpenCart customers: oc_customer (table_prefix for another DB_PREFIX); sha1(salt . sha1(salt . sha1(password))) ' +
      '(1.5-3.x), md5 and OpenCart 4 bcrypt; status = 0 blocks; login by email. Admin users: set users.table: oc_user',
    table_prefix: 'oc_',
    users: {
      table: 'customer',
      columns: {
        id: 'customer_id', email: 'email', password: 'password', salt: 'salt',
        given_name: 'firstname', family_name: 'lastname', active: 'status',
      },
    },
    passwords: { scheme: 'opencart' },
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
  const configured = typeof store.table_prefix === 'string' ? store.table_prefix : undefined;
  if (store.preset === undefined) {
    const prefix = configured ?? '';
    return prefix && isObj(store.users) ? { ...raw, store: { ...store, users: prefixed(store.users, prefix) } } : raw;
  }
  const name = String(store.preset);
  const preset = Object.hasOwn(PRESETS, name) ? PRESETS[name] : undefined;
  if (!preset) {
    problems.push(`store.preset: unknown preset "${name}" (known: ${Object.keys(PRESETS).join(', ')})`);
    return raw;
  }
  // A table_prefix that is not a string is left for the schema to report.
  const prefix = configured ?? (store.table_prefix === undefined ? (preset.table_prefix ?? '') : '');
  const users = merge(prefixed(preset.users, prefix), store.users) as Obj;
  return {
    ...raw,
    store: { ...store, ...(store.table_prefix === undefined ? { table_prefix: prefix } : {}), users },
    passwords: merge(preset.passwords ?? {}, raw.passwords),
  };
}
