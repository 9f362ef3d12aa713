/** src/presets.ts: every preset expands into a valid configuration, and the configuration wins where it says so. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, parseConfig, type Config } from '../../src/config.js';
import { getScheme } from '../../src/passwords/index.js';
import { applyPreset, PRESETS } from '../../src/presets.js';

const AUTH = { issuer: 'https://tenant.example.com/', audience: 'https://legacy-gateway.example.com' };

function parse(store: Record<string, unknown>, passwords?: Record<string, unknown>): Config {
  return parseConfig({ auth: AUTH, store: { adapter: 'postgres', url: 'postgres://db.example/legacy', ...store }, ...(passwords ? { passwords } : {}) }, {});
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return e.problems;
  }
  assert.fail('expected the configuration to be rejected');
}

const NAMES = Object.keys(PRESETS);

describe('every preset', () => {
  test('the catalogue holds the presets the issue names', () => {
    for (const name of ['aspnet-membership', 'aspnet-universal', 'aspnet-simple-membership', 'aspnet-identity', 'wordpress', 'drupal7', 'django', 'laravel', 'devise']) {
      assert.ok(NAMES.includes(name), `missing preset ${name}`);
    }
  });

  for (const name of NAMES) {
    test(`${name}: parses through parseConfig into a valid configuration`, () => {
      const c = parse({ preset: name });
      const preset = PRESETS[name]!;
      const users = preset.users as { table: string; columns: Record<string, unknown>; joins?: unknown[] };
      assert.equal(c.store.preset, name);
      assert.equal(c.store.users.table, `${preset.table_prefix ?? ''}${users.table}`);
      assert.deepEqual(c.store.users.columns, users.columns);
      assert.equal(c.store.users.joins.length, users.joins?.length ?? 0);
      assert.ok(c.store.users.columns.email || c.store.users.columns.username, 'a login column');
      assert.ok(c.store.users.columns.password, 'a password column');
      // Nothing else in the configuration is disturbed.
      assert.deepEqual(c.auth.audience, AUTH.audience);
    });

    test(`${name}: its passwords section names only registered schemes`, () => {
      const pw = (PRESETS[name]!.passwords ?? {}) as { scheme?: string; scheme_map?: Record<string, string> };
      if (pw.scheme !== undefined && pw.scheme !== 'auto') assert.ok(getScheme(pw.scheme), `${name}: unknown scheme ${pw.scheme}`);
      for (const [value, scheme] of Object.entries(pw.scheme_map ?? {})) {
        assert.ok(getScheme(scheme), `${name}: scheme_map.${value} names unknown scheme ${scheme}`);
      }
      const c = parse({ preset: name });
      assert.deepEqual(c.passwords.scheme_map, pw.scheme_map ?? {});
      assert.equal(c.passwords.scheme, pw.scheme ?? 'auto');
    });
  }
});

describe('the flags and formats of each framework', () => {
  test('ASP.NET Membership: PasswordFormat 0 = Clear, 1 = Hashed; 2 (Encrypted) is deliberately unmapped', () => {
    const c = parse({ preset: 'aspnet-membership' });
    assert.deepEqual(c.passwords.scheme_map, { '0': 'plaintext', '1': 'aspnet_membership_sha1' });
    assert.equal(c.store.users.columns.password_scheme, 'm.PasswordFormat');
    assert.equal(c.store.users.columns.active, 'm.IsApproved');
    assert.equal(c.store.users.columns.blocked, 'm.IsLockedOut');
    assert.deepEqual(
      c.store.users.joins.map((j) => [j.table, j.alias]),
      [['aspnet_Membership', 'm'], ['aspnet_Applications', 'a']],
    );
  });

  test('Universal Providers: PasswordFormat 1 is the keyed HMACSHA256 hash', () => {
    assert.deepEqual(parse({ preset: 'aspnet-universal' }).passwords.scheme_map, { '0': 'plaintext', '1': 'aspnet_universal' });
  });

  test('Identity: LockoutEnd is a lock-out time, EmailConfirmed the verified flag', () => {
    const cols = parse({ preset: 'aspnet-identity' }).store.users.columns;
    assert.equal(cols.locked_until, 'LockoutEnd');
    assert.equal(cols.email_verified, 'EmailConfirmed');
    assert.equal(cols.blocked, undefined);
  });

  test('Drupal 7 leaves the anonymous uid 0 out; Django and Drupal map their "active" flags', () => {
    const d7 = parse({ preset: 'drupal7' }).store.users;
    assert.deepEqual(d7.filter, [{ column: 'uid', op: '<>', value: 0 }]);
    assert.equal(d7.columns.active, 'status');
    assert.equal(parse({ preset: 'django' }).store.users.columns.active, 'is_active');
  });

  test('Devise: locked_at blocks, confirmed_at verifies', () => {
    const cols = parse({ preset: 'devise' }).store.users.columns;
    assert.equal(cols.blocked, 'locked_at');
    assert.equal(cols.email_verified, 'confirmed_at');
    assert.equal(cols.password, 'encrypted_password');
  });
});

describe('forums and shops (their schemes are named: bare hex cannot be detected)', () => {
  test('each names its forum scheme, maps the salt (or the member name) and takes its real table and prefix', () => {
    const expect: Record<string, { table: string; scheme: string; salt?: string; username?: string; metadata?: string[] }> = {
      vbulletin: { table: 'user', scheme: 'vbulletin', salt: 'salt', username: 'username', metadata: ['usergroupid'] },
      mybb: { table: 'mybb_users', scheme: 'mybb', salt: 'salt', username: 'username', metadata: ['usergroup'] },
      punbb: { table: 'users', scheme: 'punbb', salt: 'salt', username: 'username', metadata: ['group_id'] },
      smf: { table: 'smf_members', scheme: 'smf', username: 'member_name', metadata: ['is_activated'] },
      opencart: { table: 'oc_customer', scheme: 'opencart', salt: 'salt' },
    };
    for (const [name, e] of Object.entries(expect)) {
      const c = parse({ preset: name });
      assert.equal(c.store.users.table, e.table, name);
      assert.equal(c.passwords.scheme, e.scheme, name);
      assert.ok(getScheme(e.scheme), name);
      assert.equal(c.store.users.columns.salt, e.salt, name);
      assert.equal(c.store.users.columns.username, e.username, name);
      assert.deepEqual(c.store.users.app_metadata, e.metadata ?? [], name);
    }
  });

  test('SMF hashes the login name: member_name is the username, real_name only the display name', () => {
    const cols = parse({ preset: 'smf' }).store.users.columns;
    assert.equal(cols.username, 'member_name');
    assert.equal(cols.name, 'real_name');
    assert.equal(cols.email, 'email_address');
    assert.equal(cols.password, 'passwd');
    assert.equal(cols.active, undefined, 'is_activated is not a boolean: it goes to app_metadata, not active');
  });

  test('vBulletin, MyBB and SMF leave out the members the forum bans, by default; filter: [] turns that off', () => {
    assert.deepEqual(parse({ preset: 'vbulletin' }).store.users.filter, [{ column: 'usergroupid', op: '<>', value: 8 }]);
    assert.deepEqual(parse({ preset: 'mybb' }).store.users.filter, [{ column: 'usergroup', op: '<>', value: 7 }]);
    assert.deepEqual(parse({ preset: 'smf' }).store.users.filter, [{ column: 'is_activated', op: '=', value: 1 }]);
    assert.deepEqual(parse({ preset: 'vbulletin', table_prefix: 'vb_' }).store.users.filter, [{ column: 'usergroupid', op: '<>', value: 8 }]);
    for (const preset of ['vbulletin', 'mybb', 'smf']) assert.deepEqual(parse({ preset, users: { filter: [] } }).store.users.filter, [], preset);
  });

  test("PunBB leaves the guest account out; OpenCart's status disables; prefixes follow table_prefix", () => {
    assert.deepEqual(parse({ preset: 'punbb' }).store.users.filter, [{ column: 'id', op: '<>', value: 1 }]);
    const oc = parse({ preset: 'opencart' }).store.users;
    assert.equal(oc.columns.active, 'status');
    assert.equal(oc.columns.username, undefined, 'customers log in by email');
    assert.equal(parse({ preset: 'opencart', table_prefix: 'shop_' }).store.users.table, 'shop_customer');
    assert.equal(parse({ preset: 'mybb', table_prefix: '' }).store.users.table, 'users');
    assert.equal(parse({ preset: 'vbulletin', table_prefix: 'vb_' }).store.users.table, 'vb_user');
    const admins = parse({ preset: 'opencart', users: { table: 'oc_user', columns: { id: 'user_id', username: 'username' } } });
    assert.equal(admins.store.users.table, 'oc_user');
    assert.equal(admins.store.users.columns.salt, 'salt');
    assert.equal(admins.passwords.scheme, 'opencart');
  });
});

describe('overrides', () => {
  test('configured columns win column by column; the preset keeps the rest', () => {
    const c = parse({ preset: 'aspnet-membership', users: { columns: { email: 'm.LoweredEmail', name: 'm.Comment' } } });
    const preset = PRESETS['aspnet-membership']!.users.columns as Record<string, string>;
    assert.equal(c.store.users.columns.email, 'm.LoweredEmail');
    assert.equal(c.store.users.columns.name, 'm.Comment');
    for (const [k, v] of Object.entries(preset)) if (k !== 'email') assert.equal(c.store.users.columns[k as keyof typeof c.store.users.columns], v, k);
  });

  test('a column set to null switches the preset mapping off', () => {
    const c = parse({ preset: 'wordpress', users: { columns: { nickname: null } } });
    assert.equal(c.store.users.columns.nickname, null);
    assert.equal(c.store.users.columns.name, 'display_name');
  });

  test('extra app_metadata / user_metadata columns and filters are added to the preset', () => {
    const c = parse({
      preset: 'wordpress',
      users: { app_metadata: ['user_url', 'user_registered'], user_metadata: ['user_nicename'], filter: [{ column: 'user_status', value: 0 }] },
    });
    assert.deepEqual(c.store.users.app_metadata, ['user_url', 'user_registered']);
    assert.deepEqual(c.store.users.user_metadata, ['user_nicename']);
    assert.deepEqual(c.store.users.filter, [{ column: 'user_status', op: '=', value: 0 }]);
    assert.equal(c.store.users.columns.password, 'user_pass');
  });

  test('a configured filter replaces the preset filter as a whole (lists are not merged)', () => {
    const c = parse({ preset: 'drupal7', users: { filter: [{ column: 'uid', op: '<>', value: 0 }, { column: 'login', op: '<>', value: 0 }] } });
    assert.equal(c.store.users.filter.length, 2);
  });

  test('Identity 2 (EF6): locked_until overridden to LockoutEndDateUtc', () => {
    const c = parse({ preset: 'aspnet-identity', users: { columns: { locked_until: 'LockoutEndDateUtc' } } });
    assert.equal(c.store.users.columns.locked_until, 'LockoutEndDateUtc');
    assert.equal(c.store.users.columns.password, 'PasswordHash');
  });

  test('a preset column naming an alias the override removed is reported, not silently dropped', () => {
    const problems = problemsOf(() => parse({ preset: 'aspnet-membership', users: { joins: [] } }));
    assert.ok(problems.some((p) => /store\.users\.columns\.email: no join has the alias "m"/.test(p)), problems.join('\n'));
  });

  test('passwords: the configuration wins key by key (scheme_map entries, params)', () => {
    const c = parse({ preset: 'aspnet-membership' }, { scheme_map: { '1': 'aspnet_universal' } });
    assert.deepEqual(c.passwords.scheme_map, { '0': 'plaintext', '1': 'aspnet_universal' });
    const d = parse({ preset: 'devise' }, { params: { pepper: 'p3pp3r' } });
    assert.equal(d.passwords.params.pepper, 'p3pp3r');
    assert.equal(d.passwords.scheme, 'auto');
    const s = parse({ preset: 'aspnet-simple-membership' }, { scheme: 'aspnet_identity_v2' });
    assert.equal(s.passwords.scheme, 'aspnet_identity_v2');
  });

  test('the configured users.table wins over the preset table (and is not prefixed)', () => {
    const c = parse({ preset: 'django', table_prefix: 'x_', users: { table: 'accounts_user' } });
    assert.equal(c.store.users.table, 'accounts_user');
  });
});

describe('table_prefix', () => {
  test("applies to the preset's users table and every joined table; aliases and join columns are unchanged", () => {
    const c = parse({ preset: 'aspnet-membership', table_prefix: 'app1_' });
    assert.equal(c.store.users.table, 'app1_aspnet_Users');
    assert.deepEqual(
      c.store.users.joins.map((j) => ({ table: j.table, alias: j.alias, on: j.on })),
      [
        { table: 'app1_aspnet_Membership', alias: 'm', on: { UserId: 'UserId' } },
        { table: 'app1_aspnet_Applications', alias: 'a', on: { ApplicationId: 'ApplicationId' } },
      ],
    );
    assert.equal(c.store.table_prefix, 'app1_');
  });

  test("WordPress: wp_ by default (WordPress's own default), the configured prefix otherwise, '' for none", () => {
    const def = parse({ preset: 'wordpress' });
    assert.equal(def.store.users.table, 'wp_users');
    assert.equal(def.store.table_prefix, 'wp_');
    assert.equal(parse({ preset: 'wordpress', table_prefix: 'blog_' }).store.users.table, 'blog_users');
    assert.equal(parse({ preset: 'wordpress', table_prefix: '' }).store.users.table, 'users');
  });

  test('presets without a default prefix stay unprefixed', () => {
    assert.equal(parse({ preset: 'drupal7' }).store.users.table, 'users');
    assert.equal(parse({ preset: 'django' }).store.users.table, 'auth_user');
    assert.equal(parse({ preset: 'aspnet-identity' }).store.table_prefix, '');
  });

  test('without a preset, the prefix applies to the configured table and joins', () => {
    const c = parse({
      table_prefix: 'p_',
      users: { table: 'users', joins: [{ table: 'emails', alias: 'e', on: { id: 'user_id' } }], columns: { id: 'id', email: 'e.address', password: 'pw' } },
    });
    assert.equal(c.store.users.table, 'p_users');
    assert.equal(c.store.users.joins[0]!.table, 'p_emails');
  });

  test('a bad prefix is reported by the schema', () => {
    const problems = problemsOf(() => parse({ preset: 'wordpress', table_prefix: 'wp-' }));
    assert.ok(problems.some((p) => p.startsWith('store.table_prefix:')), problems.join('\n'));
  });
});

describe('unknown presets', () => {
  test('are a reported problem that lists the known presets', () => {
    const problems = problemsOf(() => parse({ preset: 'joomla' }));
    const p = problems.find((x) => x.startsWith('store.preset:'));
    assert.ok(p, problems.join('\n'));
    assert.match(p, /unknown preset "joomla"/);
    for (const name of NAMES) assert.ok(p.includes(name), `${name} missing from: ${p}`);
  });

  test('names of Object.prototype members are unknown presets too, not a crash', () => {
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const problems: string[] = [];
      const raw = { store: { adapter: 'postgres', url: 'x', preset: name } };
      assert.doesNotThrow(() => applyPreset(raw, problems), name);
      assert.equal(problems.length, 1, `${name}: ${problems.join('; ')}`);
      assert.match(problems[0]!, /^store\.preset: unknown preset/);
    }
  });

  test('applyPreset leaves input without a store section alone', () => {
    const problems: string[] = [];
    assert.equal(applyPreset(null, problems), null);
    const raw = { auth: AUTH };
    assert.equal(applyPreset(raw, problems), raw);
    assert.deepEqual(problems, []);
  });

  test('applyPreset does not modify the preset catalogue', () => {
    const before = JSON.stringify(PRESETS);
    parse({ preset: 'aspnet-membership', table_prefix: 'z_', users: { columns: { email: 'm.LoweredEmail' } } }, { scheme_map: { '2': 'plaintext' } });
    assert.equal(JSON.stringify(PRESETS), before);
  });
});
