/**
 * MongoDB store (adapters/mongodb.ts).
 *
 * 1. Query building, unit-tested without a server: nested paths, ObjectId / number / string / UUID ids, collation vs
 *    normalized fields, operator-looking strings staying $eq values, mark / unmark / upsert documents, scan pagination.
 * 2. The UserStore contract and MongoDB-specific behaviour against a real server when TEST_MONGODB_URL is set, e.g.
 *      TEST_MONGODB_URL=mongodb://127.0.0.1:27017
 *    Each run creates a uniquely named database, seeds it, and drops it afterwards. Without TEST_MONGODB_URL the
 *    server tests are reported as skipped, even with TEST_REQUIRE_DB=1 (no MongoDB server can be installed on this
 *    machine); a URL that is set but unreachable fails under TEST_REQUIRE_DB=1 / CI, as for the other databases.
 *
 *    No MongoDB is installable here, but a MongoDB-wire-protocol server is: jongodb, an in-memory re-implementation
 *    (a native executable inside the npm package @jongodb/memory-server-bin-linux-x64-gnu, no download at run time):
 *      npm install --no-save --prefix /tmp/jongodb @jongodb/memory-server-bin-linux-x64-gnu@0.1.6
 *      /tmp/jongodb/node_modules/@jongodb/memory-server-bin-linux-x64-gnu/bin/jongodb --host=127.0.0.1 --port=27017 &
 *      TEST_MONGODB_URL=mongodb://127.0.0.1:27017 node --test .../test/adapters/mongodb.test.js
 *    It is an emulation, not MongoDB: it has no drop / dropDatabase / listCollections commands (cleanup falls back to
 *    deleteMany), and its collation and planner are its own. Passing here is strong evidence, not proof, for MongoDB.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type * as Mongo from 'mongodb';
import {
  activeCutoffs,
  baseConditions,
  buildExportedPipeline,
  buildIdQuery,
  buildIdsQuery,
  buildKeysLookup,
  buildLedgerDoc,
  buildMarkedActivePipeline,
  buildPerDay,
  buildLoginQuery,
  buildMarkUpdate,
  buildMigratedCount,
  buildProjection,
  buildScanQuery,
  buildSideLookup,
  buildSideMark,
  buildSideUnmark,
  buildTotalCount,
  buildUnmarkUpdate,
  canonicalId,
  createMongoStore,
  databaseName,
  docToUser,
  eq,
  idCandidates,
  jsonValue,
  MongoUserStore,
  pickById,
  readPath,
  toIso,
  laterTypeConditions,
  typeBracket,
  type BsonTypes,
  type Doc,
  type Filter,
  type MongoHandles,
  type MongoMapping,
} from '../../adapters/mongodb.js';
import { isAmbiguous, StoreError } from '../../adapters/types.js';
import { ConfigError, parseConfig, testEnvironment } from '../../src/config.js';
import { getScheme } from '../../src/passwords/index.js';
import { passportLocalMongoose } from '../../src/passwords/plm.js';
import { PRESETS } from '../../src/presets.js';
import { contractMapping, LEDGER_TABLE, userStoreContract, type ContractMapping, type MigrationMode, type RawAccess, type SeedUser } from './contract.js';
import { CANDIDATE_LIMIT, findByLogin } from '../../src/matching.js';
import { startFaultProxy } from '../helpers/faultproxy.js';

const mongodb = createRequire(import.meta.url)('mongodb') as typeof Mongo;
const { ObjectId, UUID, Long, Decimal128, Binary, Int32 } = mongodb;
const BSON: BsonTypes = { ObjectId, UUID, Long, Binary };
const env = testEnvironment();

type Users = MongoMapping['users'];
type UsersOver = Partial<Omit<Users, 'columns'>> & { columns?: Partial<Users['columns']> };
function mapping(users: UsersOver = {}, rest: Partial<MongoMapping> = {}): MongoMapping {
  return {
    users: {
      table: 'users',
      joins: [],
      filter: [],
      app_metadata: [],
      user_metadata: [],
      ...users,
      columns: { id: '_id', email: 'email', username: 'username', password: 'hash', ...(users.columns ?? {}) } as Users['columns'],
    },
    migration: { column: 'migrated_at' },
    ...rest,
  };
}

/** Every operator key in a filter, and every string that is not an operator's operand position. */
function operatorKeys(f: unknown, out: string[] = []): string[] {
  if (Array.isArray(f)) f.forEach((x) => operatorKeys(x, out));
  else if (f && typeof f === 'object' && !(f instanceof Date) && !('_bsontype' in (f as object))) {
    for (const [k, v] of Object.entries(f)) {
      if (k.startsWith('$')) out.push(k);
      operatorKeys(v, out);
    }
  }
  return out;
}

/** Where a string occurs in a filter: as an object KEY (dangerous) or as an $eq / $in operand (a value). */
function placesOf(f: unknown, s: string, where: string[] = [], parent = ''): string[] {
  if (Array.isArray(f)) f.forEach((x) => placesOf(x, s, where, `${parent}[]`));
  else if (f && typeof f === 'object' && !(f instanceof Date) && !('_bsontype' in (f as object))) {
    for (const [k, v] of Object.entries(f)) {
      if (k === s) where.push(`key:${k}`);
      placesOf(v, s, where, k);
    }
  } else if (f === s) where.push(`value:${parent}`);
  return where;
}

// ---------------------------------------------------------------------------------------------------------
// 1. Pure query building

describe('mongodb: login queries', () => {
  test('email and username, trimmed and lower-cased, each as an $eq operand, with the default collation', () => {
    const q = buildLoginQuery(mapping(), '  Alice@Example.COM ');
    assert.deepEqual(q.filter, { $or: [{ email: { $eq: 'alice@example.com' } }, { username: { $eq: 'alice@example.com' } }] });
    assert.deepEqual(q.options.collation, { locale: 'en', strength: 2 });
    assert.equal(q.options.limit, CANDIDATE_LIMIT, 'candidates, narrowed by the gateway\'s rule');
    assert.deepEqual(q.options.projection, { _id: 1, email: 1, hash: 1, migrated_at: 1, username: 1 });
  });

  test('nested field paths are used as paths, in the filter and the projection', () => {
    const m = mapping({ columns: { email: 'profile.email', username: 'account.login.name', name: 'profile.name' }, app_metadata: ['profile.plan'] });
    const q = buildLoginQuery(m, 'Bob');
    assert.deepEqual(q.filter, { $or: [{ 'profile.email': { $eq: 'bob' } }, { 'account.login.name': { $eq: 'bob' } }] });
    assert.deepEqual(Object.keys(q.options.projection).sort(), ['_id', 'account.login.name', 'hash', 'migrated_at', 'profile.email', 'profile.name', 'profile.plan']);
  });

  test('a projection never holds a path and its parent (MongoDB refuses path collisions)', () => {
    const m = mapping({ columns: { email: 'profile.email' }, app_metadata: ['profile'], user_metadata: ['profile.prefs.lang'] });
    assert.deepEqual(buildProjection(m), { _id: 1, hash: 1, migrated_at: 1, profile: 1, username: 1 });
  });

  test('one login field: no $or', () => {
    const q = buildLoginQuery(mapping({ columns: { email: null } }), 'bob');
    assert.deepEqual(q.filter, { username: { $eq: 'bob' } });
  });

  test('a configured locale / strength is used as given', () => {
    const q = buildLoginQuery(mapping({}, { mongodb: { collation: { locale: 'de', strength: 1 } } }), 'x');
    assert.deepEqual(q.options.collation, { locale: 'de', strength: 1 });
  });

  test('normalized fields: compared with the lower-cased login, and no collation at all', () => {
    const m = mapping({ columns: { email: 'email', username: 'username' } }, { mongodb: { collation: { locale: 'en', strength: 2 }, normalized: { email: 'emailLower', username: 'meta.usernameLower' } } });
    const q = buildLoginQuery(m, ' ÉLODIE@Exemple.FR ');
    assert.deepEqual(q.filter, { $or: [{ emailLower: { $eq: 'élodie@exemple.fr' } }, { 'meta.usernameLower': { $eq: 'élodie@exemple.fr' } }] });
    assert.equal(q.options.collation, undefined);
    // The original fields are still read for the profile.
    assert.ok('email' in q.options.projection && 'username' in q.options.projection);
  });

  test('normalized must cover every configured login field (else start-up fails, not a silent case-sensitive match)', () => {
    const m = mapping({}, { mongodb: { collation: { locale: 'en', strength: 2 }, normalized: { email: 'emailLower' } } });
    assert.throws(() => buildLoginQuery(m, 'x'), (e: Error) => e instanceof StoreError && /normalized\.username: required/.test(e.message));
    const fake = fakeHandles();
    assert.throws(() => new MongoUserStore(fake.handles, m, { maxTimeMS: 1000 }), /normalized\.username/);
  });

  test('configured filters are ANDed with the login condition', () => {
    const m = mapping({ filter: [{ column: 'tenant', op: '=', value: 'acme' }, { column: 'deleted_at', op: 'is_null' }] });
    assert.deepEqual(buildLoginQuery(m, 'a').filter, {
      $and: [{ $or: [{ email: { $eq: 'a' } }, { username: { $eq: 'a' } }] }, { tenant: { $eq: 'acme' } }, { deleted_at: { $eq: null } }],
    });
  });
});

describe('mongodb: a login can never become an operator', () => {
  const EVIL = ['$where', '{"$ne":null}', '{"$gt": ""}', 'a.b', '$gt', '$ne', "'; return true; var x='", 'this.password.length > 0', '$regex', '.*', '{"$where":"sleep(100)"}', '__proto__', 'constructor', '$or'];

  for (const s of EVIL) {
    test(`${JSON.stringify(s)} yields only {$eq: ${JSON.stringify(s)}}`, () => {
      const q = buildLoginQuery(mapping(), s);
      const v = s.trim().toLowerCase();
      assert.deepEqual(q.filter, { $or: [{ email: { $eq: v } }, { username: { $eq: v } }] });
      // The only operators are the ones the builder wrote; the string is a value, never a key; nothing was parsed.
      assert.deepEqual(operatorKeys(q.filter).sort(), ['$eq', '$eq', '$or']);
      // As a value in both $eq operands; as a key only where the builder writes that key for ANY login ('$or').
      const neutral = buildLoginQuery(mapping(), 'neutral').filter;
      assert.deepEqual(placesOf(q.filter, v), [...placesOf(neutral, v), 'value:$eq', 'value:$eq'].sort((a, b) => (a < b ? -1 : 1)));
      assert.equal(typeof (q.filter.$or as Filter[])[0]!.email, 'object');
      assert.equal(typeof ((q.filter.$or as Filter[])[0]!.email as { $eq: unknown }).$eq, 'string');
    });
  }

  test('the same for ids: the raw string is an $in element, never a key', () => {
    for (const s of ['$where', '{"$ne":null}', 'a.b', '$gt']) {
      const q = buildIdQuery(mapping(), s, BSON);
      assert.deepEqual(q.filter, { _id: { $in: [s] } });
      assert.deepEqual(placesOf(q.filter, s), ['value:$in[]']);
    }
  });

  test('anything but a string is refused by the builders (a TypeError, never a filter)', () => {
    for (const bad of [{ $ne: null }, { $gt: '' }, ['a'], 1, null, undefined]) {
      assert.throws(() => buildLoginQuery(mapping(), bad as unknown as string), TypeError);
      assert.throws(() => buildIdQuery(mapping(), bad as unknown as string, BSON), TypeError);
      assert.throws(() => eq(bad as unknown as string), TypeError);
    }
  });

  test('the store answers null for a non-string login or id without calling the driver', async () => {
    const fake = fakeHandles();
    const store = new MongoUserStore(fake.handles, mapping(), { maxTimeMS: 1000 });
    for (const bad of [{ $ne: null }, { $gt: '' }, { $where: 'sleep(100)' }, ['a'], 42, null, '']) {
      assert.deepEqual(await store.findCandidates(bad as unknown as string), []);
      assert.equal(await store.findById(bad as unknown as string), null);
      assert.equal(await store.markMigrated(bad as unknown as string), null);
      assert.equal(await store.unmarkMigrated(bad as unknown as string), false);
    }
    assert.deepEqual(await store.findCandidates('   '), [], 'a blank login names nobody');
    assert.equal(fake.calls.length, 0, `driver called: ${JSON.stringify(fake.calls)}`);
  });

  test('what the store hands the driver for operator-looking strings is exactly the built filter', async () => {
    const fake = fakeHandles();
    const store = new MongoUserStore(fake.handles, mapping(), { maxTimeMS: 1234 });
    await findByLogin(store, '{"$ne":null}');
    await store.findById('$where');
    assert.deepEqual(fake.calls[0], {
      op: 'find',
      filter: { $or: [{ email: { $eq: '{"$ne":null}' } }, { username: { $eq: '{"$ne":null}' } }] },
      options: { projection: { _id: 1, email: 1, hash: 1, migrated_at: 1, username: 1 }, limit: CANDIDATE_LIMIT, collation: { locale: 'en', strength: 2 }, maxTimeMS: 1234 },
    });
    assert.deepEqual(fake.calls[1]?.filter, { _id: { $in: ['$where'] } });
  });
});

describe('mongodb: ids', () => {
  const hex = '5f1d7a3b9c2e4d6f8a0b1c2d';

  test('canonicalId: ObjectId → hex, strings as they are, numbers → String(n), Long → digits, UUID → dashed', () => {
    assert.equal(canonicalId(new ObjectId(hex)), hex);
    assert.equal(canonicalId('abc'), 'abc');
    assert.equal(canonicalId(hex), hex);
    assert.equal(canonicalId(42), '42');
    assert.equal(canonicalId(1.5), '1.5');
    assert.equal(canonicalId(-3), '-3');
    assert.equal(canonicalId(Long.fromString('9007199254740993')), '9007199254740993');
    assert.equal(canonicalId(new Int32(7)), '7');
    assert.equal(canonicalId(new UUID('0b7e4a4e-9b0c-4a53-9d3c-2f9f1b1f0c11')), '0b7e4a4e-9b0c-4a53-9d3c-2f9f1b1f0c11');
    for (const bad of [new Date(), { a: 1 }, NaN, Infinity, null, undefined, true, new Binary(Buffer.from('xy'))]) assert.equal(canonicalId(bad), null, String(bad));
  });

  test('idCandidates: a 24-hex id is tried as ObjectId AND as the raw string', () => {
    const c = idCandidates(hex, BSON);
    assert.equal(c.length, 2);
    assert.ok(c[0] instanceof ObjectId && (c[0] as Mongo.ObjectId).toHexString() === hex);
    assert.equal(c[1], hex);
  });

  test('idCandidates: numbers only when the text is the number\'s canonical form', () => {
    assert.deepEqual(idCandidates('42', BSON), ['42', 42]);
    assert.deepEqual(idCandidates('1.5', BSON), ['1.5', 1.5]);
    assert.deepEqual(idCandidates('-7', BSON), ['-7', -7]);
    assert.deepEqual(idCandidates('0', BSON), ['0', 0]);
    for (const notCanonical of ['01', '1.0', '+1', ' 1', '1 ', '1e3', '-0', '0x10', 'NaN', 'Infinity', '1_000']) {
      assert.deepEqual(idCandidates(notCanonical, BSON), [notCanonical], notCanonical);
    }
  });

  test('idCandidates: integers beyond 2^53 as Long; upper-case hex and other strings as strings only', () => {
    const c = idCandidates('9007199254740993', BSON);
    assert.equal(c.length, 2);
    assert.equal(String(c[1]), '9007199254740993');
    assert.ok(c[1] instanceof Long);
    assert.deepEqual(idCandidates(hex.toUpperCase(), BSON), [hex.toUpperCase()]);
    assert.deepEqual(idCandidates('abc', BSON), ['abc']);
    const u = idCandidates('0b7e4a4e-9b0c-4a53-9d3c-2f9f1b1f0c11', BSON);
    assert.equal(u.length, 2);
    assert.ok(u[1] instanceof UUID);
  });

  test('buildIdQuery: one $in of every candidate, with the configured filters, room for every candidate', () => {
    const q = buildIdQuery(mapping({ filter: [{ column: 'app', op: '=', value: 'web' }] }), '42', BSON);
    assert.deepEqual(q.filter, { $and: [{ _id: { $in: ['42', 42] } }, { app: { $eq: 'web' } }] });
    assert.equal(q.options.limit, 3);
    assert.equal(q.options.collation, undefined, 'no collation: the _id index serves id lookups');
  });

  test('pickById: only a canonical match; ObjectId before its hex string', () => {
    const m = mapping();
    const docs: Doc[] = [{ _id: hex, n: 'string' }, { _id: new ObjectId(hex), n: 'oid' }, { _id: 42, n: 'num' }];
    assert.equal(pickById(docs, m, hex)?.n, 'oid');
    assert.equal(pickById([docs[0]!], m, hex)?.n, 'string');
    assert.equal(pickById(docs, m, '42')?.n, 'num');
    assert.equal(pickById([{ _id: 42.5 }], m, '42'), null);
    assert.equal(pickById([{ _id: 'ABC' }], m, 'abc'), null);
  });

  test('a non-_id id field: queried by that field, documents without it are not users', () => {
    const m = mapping({ columns: { id: 'legacy_id' } });
    assert.deepEqual(buildIdQuery(m, '7', BSON).filter, { $and: [{ legacy_id: { $in: ['7', 7] } }, { legacy_id: { $ne: null } }] });
    assert.deepEqual(buildTotalCount(m), { legacy_id: { $ne: null } });
    assert.equal(docToUser(m, { _id: new ObjectId(), legacy_id: 7, hash: 'x' })?.id, '7');
  });
});

describe('mongodb: filters, marks and counts', () => {
  test('store.users.filter: = → $eq, <> → $ne value and $ne null (SQL semantics), is_null / is_not_null', () => {
    const m = mapping({
      filter: [
        { column: 'a', op: '=', value: 1 },
        { column: 'b.c', op: '<>', value: 'x' },
        { column: 'd', op: 'is_null' },
        { column: 'e', op: 'is_not_null' },
      ],
    });
    assert.deepEqual(baseConditions(m), [{ a: { $eq: 1 } }, { 'b.c': { $ne: 'x' } }, { 'b.c': { $ne: null } }, { d: { $eq: null } }, { e: { $ne: null } }]);
  });

  test('mark (field): $set only where the field is missing or null, on the stored id → the first timestamp wins', () => {
    const now = new Date('2024-05-06T07:08:09.010Z');
    const oid = new ObjectId();
    const u = buildMarkUpdate(mapping(), oid, now);
    assert.deepEqual(u.filter, { _id: { $eq: oid }, $or: [{ migrated_at: { $exists: false } }, { migrated_at: { $eq: null } }] });
    assert.deepEqual(u.update, { $set: { migrated_at: now } });
    const nested = buildMarkUpdate(mapping({}, { migration: { column: 'gateway.migrated' } }), 5, now);
    assert.deepEqual(nested.update, { $set: { 'gateway.migrated': now } });
  });

  test('unmark (field): $unset on the stored id', () => {
    assert.deepEqual(buildUnmarkUpdate(mapping(), 42), { filter: { _id: { $eq: 42 } }, update: { $unset: { migrated_at: '' } } });
  });

  test('mark (side collection): upsert keyed by the user id, $setOnInsert only (an existing mark is never touched)', () => {
    const now = new Date('2024-01-01T00:00:00Z');
    assert.deepEqual(buildSideMark('5f1d7a3b9c2e4d6f8a0b1c2d', now), {
      filter: { _id: { $eq: '5f1d7a3b9c2e4d6f8a0b1c2d' } },
      update: { $setOnInsert: { _id: '5f1d7a3b9c2e4d6f8a0b1c2d', user_id: '5f1d7a3b9c2e4d6f8a0b1c2d', migrated_at: now } },
      options: { upsert: true },
    });
    assert.deepEqual(buildSideUnmark('$where'), { filter: { _id: { $eq: '$where' } } });
    assert.deepEqual(buildSideLookup(['1', '2']), { filter: { _id: { $in: ['1', '2'] } }, options: { projection: { migrated_at: 1 } } });
    assert.throws(() => buildSideMark({ $ne: null } as unknown as string, now), TypeError);
  });

  test('counts: total under the filters; migrated = the field is set', () => {
    const m = mapping({ filter: [{ column: 'app', op: '=', value: 'web' }] });
    assert.deepEqual(buildTotalCount(m), { app: { $eq: 'web' } });
    assert.deepEqual(buildMigratedCount(m), { $and: [{ app: { $eq: 'web' } }, { migrated_at: { $ne: null } }] });
    assert.deepEqual(buildTotalCount(mapping()), {});
    assert.throws(() => buildMigratedCount(mapping({}, { migration: { table: 'marks' } })), StoreError);
  });
});

describe('mongodb: the export ledger and status', () => {
  const now = new Date('2024-06-01T00:00:00Z');
  const cut = activeCutoffs(now.getTime());

  test('ledger entries: keyed by the user id (a value, never a key), with the stored id; existing keys read with $in', () => {
    const oid = new ObjectId('5f1d7a3b9c2e4d6f8a0b1c2d');
    assert.deepEqual(buildLedgerDoc('5f1d7a3b9c2e4d6f8a0b1c2d', oid, now), { _id: '5f1d7a3b9c2e4d6f8a0b1c2d', user: oid, exported_at: now });
    assert.deepEqual(buildLedgerDoc('$where', '$where', now), { _id: '$where', user: '$where', exported_at: now });
    assert.deepEqual(buildKeysLookup(['1', '{"$ne":null}']), { filter: { _id: { $in: ['1', '{"$ne":null}'] } }, options: { projection: { _id: 1 } } });
    assert.throws(() => buildLedgerDoc({ $ne: null } as unknown as string, 1, now), TypeError);
    assert.throws(() => buildKeysLookup([{ $gt: '' } as unknown as string]), TypeError);
    const q = buildIdsQuery(mapping(), ['5f1d7a3b9c2e4d6f8a0b1c2d', '42', '$where'], BSON);
    assert.deepEqual(q.filter, { _id: { $in: [oid, '5f1d7a3b9c2e4d6f8a0b1c2d', '42', 42, '$where'] } });
    assert.deepEqual(q.options, { projection: { _id: 1 }, limit: 5 });
    assert.deepEqual(placesOf(q.filter, '$where'), ['value:$in[]']);
  });

  test('side-collection marks carry the stored id (status joins marks to users through it)', () => {
    assert.deepEqual(buildSideMark('42', now, 42).update, { $setOnInsert: { _id: '42', user_id: '42', migrated_at: now, user: 42 } });
  });

  test('cut-offs: 30 and 90 days before now', () => {
    assert.deepEqual(cut.map((d) => d.toISOString()), ['2024-05-02T00:00:00.000Z', '2024-03-03T00:00:00.000Z']);
  });

  test('exported (field mode): ledger entries joined to their users on the id index, under the filters, not migrated', () => {
    const m = mapping({ filter: [{ column: 'app', op: '=', value: 'web' }], columns: { last_login: 'activity.last' } });
    assert.deepEqual(buildExportedPipeline(m, { users: 'users', side: null }, cut), [
      { $lookup: { from: 'users', localField: 'user', foreignField: '_id', as: 'u' } },
      { $unwind: '$u' },
      { $match: { 'u.app': { $eq: 'web' } } },
      { $match: { 'u.migrated_at': { $eq: null } } },
      {
        $facet: {
          all: [{ $count: 'n' }],
          active30: [{ $match: { 'u.activity.last': { $gte: cut[0] } } }, { $count: 'n' }],
          active90: [{ $match: { 'u.activity.last': { $gte: cut[1] } } }, { $count: 'n' }],
        },
      },
    ]);
    // Without last_login: the count only.
    assert.deepEqual(buildExportedPipeline(mapping(), { users: 'users', side: null }, null).at(-1), { $facet: { all: [{ $count: 'n' }] } });
  });

  test('exported (side collection): not migrated = no mark with the same user id; marked users joined for the active counts', () => {
    const m = mapping({ columns: { id: 'legacyId', last_login: 'seen' } }, { migration: { table: 'marks' } });
    const p = buildExportedPipeline(m, { users: 'accounts', side: 'marks' }, cut);
    assert.deepEqual(p.slice(0, 5), [
      { $lookup: { from: 'accounts', localField: 'user', foreignField: 'legacyId', as: 'u' } },
      { $unwind: '$u' },
      { $match: { 'u.legacyId': { $ne: null } } },
      { $lookup: { from: 'marks', localField: '_id', foreignField: '_id', as: 'm' } },
      { $match: { m: { $size: 0 } } },
    ]);
    assert.deepEqual(buildMarkedActivePipeline(m, 'accounts', cut).slice(0, 3), p.slice(0, 3));
  });

  test('per day: the server groups Date marks by UTC day (field under the filters, or the side collection)', () => {
    const field = buildPerDay(mapping({ filter: [{ column: 'app', op: '=', value: 'web' }] }));
    assert.equal(field.side, false);
    assert.deepEqual(field.match, { $and: [{ app: { $eq: 'web' } }, { migrated_at: { $type: 'date' } }] });
    assert.deepEqual(field.pipeline[1], { $group: { _id: { $dateToString: { format: '%Y-%m-%d', date: '$migrated_at', timezone: 'UTC' } }, n: { $sum: 1 } } });
    const side = buildPerDay(mapping({}, { migration: { table: 'marks' } }));
    assert.deepEqual([side.side, side.field, side.match], [true, 'migrated_at', { migrated_at: { $type: 'date' } }]);
  });

  test('docToUser: last_login (a Date, or ISO text) as ISO 8601; anything else is absent', () => {
    const m = mapping({ columns: { last_login: 'last' } });
    assert.equal(docToUser(m, { _id: 1, last: new Date('2024-05-06T07:08:09.123Z') })!.lastLogin, '2024-05-06T07:08:09.123Z');
    assert.equal(docToUser(m, { _id: 1, last: '2024-05-06 07:08:09' })!.lastLogin, '2024-05-06T07:08:09.000Z');
    assert.equal(docToUser(m, { _id: 1, last: 1714979289 })!.lastLogin, undefined);
    assert.equal(docToUser(m, { _id: 1 })!.lastLogin, undefined);
    assert.ok('last' in buildProjection(m));
  });

  test('status against a server that does not evaluate $dateToString: the marks\' times are counted here instead', async () => {
    const marks = [new Date('2024-03-01T23:30:00Z'), new Date('2024-03-01T00:10:00Z'), new Date('2023-12-31T23:59:59Z')];
    const fake = fakeHandles();
    const users = fake.handles.users as unknown as Record<string, unknown>;
    users.aggregate = (pipeline: Doc[]) => ({
      // An emulator's answer: the expression returned as it was given.
      toArray: async () => ('$group' in pipeline.at(-1)! ? [{ _id: (pipeline.at(-1)!.$group as Doc)._id, n: 3 }] : [{ all: [{ n: 2 }] }]),
    });
    users.find = () => ({ toArray: async () => [], [Symbol.asyncIterator]: async function* () { for (const d of marks) yield { _id: 1, migrated_at: d }; } });
    users.countDocuments = async () => 7;
    fake.handles.ledger = users as unknown as MongoHandles['ledger'];
    const store = new MongoUserStore(fake.handles, mapping(), { maxTimeMS: 1000 });
    const s = await store.migrationStatus();
    assert.deepEqual(s.perDay, [
      { day: '2023-12-31', count: 1 },
      { day: '2024-03-01', count: 2 },
    ]);
    assert.deepEqual([s.total, s.migrated, s.exported, s.remaining, s.activeRemaining], [7, 7, 2, 0, null]);
  });
});

describe('mongodb: scan pagination', () => {
  const LATER_THAN_NUMBERS = [
    { _id: { $gte: '' } },
    { _id: { $type: 'object' } },
    { _id: { $gte: new Binary(new Uint8Array(0), 0) } },
    { _id: { $gte: new ObjectId('000000000000000000000000') } },
    { _id: { $gte: false } },
    { _id: { $gte: new Date(-8.64e15) } },
  ];

  test('first page: id order, no condition; later pages: $gt the last id OR an id of any later BSON type', () => {
    const m = mapping();
    const first = buildScanQuery(m, null, BSON, 500);
    assert.deepEqual(first.filter, {});
    assert.deepEqual(first.options.sort, { _id: 1 });
    assert.equal(first.options.limit, 500);
    assert.equal(first.options.collation, undefined, 'no collation: the _id index gives the order');
    assert.deepEqual(buildScanQuery(m, { value: 7 }, BSON, 500).filter, { $or: [{ _id: { $gt: 7 } }, ...LATER_THAN_NUMBERS] });
    assert.deepEqual(buildScanQuery(m, { value: Long.fromNumber(7) }, BSON, 500).filter.$or, [{ _id: { $gt: Long.fromNumber(7) } }, ...LATER_THAN_NUMBERS]);
    assert.deepEqual(buildScanQuery(m, { value: 'k' }, BSON, 500).filter, { $or: [{ _id: { $gt: 'k' } }, ...LATER_THAN_NUMBERS.slice(1)] });
    const last = new Date(0);
    assert.deepEqual(buildScanQuery(m, { value: last }, BSON, 500).filter, { _id: { $gt: last } }, 'nothing sorts after dates but types ids never have');
  });

  test('type brackets follow MongoDB\'s sort order; a driver without Binary falls back to $type binData', () => {
    const order = [null, 1, Long.fromNumber(1), Decimal128.fromString('1'), 'a', { a: 1 }, new UUID(), new ObjectId(), true, new Date()];
    const brackets = order.map(typeBracket);
    assert.deepEqual(brackets, [1, 2, 2, 2, 3, 4, 6, 7, 8, 9]);
    assert.deepEqual(laterTypeConditions(new ObjectId(), BSON), [{ $gte: false }, { $gte: new Date(-8.64e15) }]);
    assert.deepEqual(laterTypeConditions('abc', { ObjectId })[1], { $type: 'binData' });
  });

  test('with filters, the continuation is ANDed with them', () => {
    const q = buildScanQuery(mapping({ filter: [{ column: 'app', op: '=', value: 'web' }] }), { value: 'k' }, BSON, 10);
    assert.ok(Array.isArray(q.filter.$and));
    assert.deepEqual((q.filter.$and as Filter[])[1], { app: { $eq: 'web' } });
  });

  test('simulated against MongoDB\'s comparison rules, every id of mixed types is visited once, in order', () => {
    // A small model of the server: BSON type order, $gt / $gte within one type only, $type by alias.
    const hexOf = (v: unknown) => (v as Mongo.ObjectId).toHexString();
    const cmp = (a: unknown, b: unknown): number => {
      const d = typeBracket(a) - typeBracket(b);
      if (d) return d;
      if (a instanceof ObjectId) return hexOf(a) < hexOf(b) ? -1 : hexOf(a) > hexOf(b) ? 1 : 0;
      if (a instanceof Binary) {
        const [x, y] = [Buffer.from((a as Mongo.Binary).buffer), Buffer.from((b as Mongo.Binary).buffer)];
        return x.length - y.length || (a as Mongo.Binary).sub_type - (b as Mongo.Binary).sub_type || Buffer.compare(x, y);
      }
      if (a instanceof Date) return a.getTime() - (b as Date).getTime();
      if (typeof a === 'object') return JSON.stringify(a) < JSON.stringify(b) ? -1 : JSON.stringify(a) > JSON.stringify(b) ? 1 : 0;
      return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
    };
    const matches = (id: unknown, f: Filter): boolean => {
      if (Object.keys(f).length === 0) return true;
      if (f.$or) return (f.$or as Filter[]).some((x) => matches(id, x));
      const c = f._id as { $gt?: unknown; $gte?: unknown; $type?: string };
      if ('$gt' in c) return typeBracket(id) === typeBracket(c.$gt) && cmp(id, c.$gt) > 0;
      if ('$gte' in c) return typeBracket(id) === typeBracket(c.$gte) && cmp(id, c.$gte) >= 0;
      if (c.$type === 'object') return typeBracket(id) === 4;
      throw new Error(`unexpected filter ${JSON.stringify(f)}`);
    };
    const ids: unknown[] = [
      3, 1, 2.5, 10, -4, 'b', 'a', 'aa', '', '5', { k: 1 }, new UUID('0b7e4a4e-9b0c-4a53-9d3c-2f9f1b1f0c11'), new Binary(Buffer.from('x')),
      new ObjectId('000000000000000000000002'), new ObjectId('000000000000000000000001'), false, true, new Date(5), new Date(-5),
    ];
    const sorted = [...ids].sort(cmp);
    for (const pageSize of [1, 2, 3, 4, 7, 100]) {
      const seen: unknown[] = [];
      let afterId: { value: unknown } | null = null;
      for (let guard = 0; guard < 100; guard++) {
        const q = buildScanQuery(mapping(), afterId, BSON, pageSize);
        const page = sorted.filter((id) => matches(id, q.filter)).slice(0, q.options.limit);
        seen.push(...page);
        if (page.length < pageSize) break;
        afterId = { value: page[page.length - 1] };
      }
      assert.equal(seen.length, ids.length, `page size ${pageSize}`);
      assert.deepEqual(seen, sorted, `page size ${pageSize}`);
    }
  });
});

describe('mongodb: documents → LegacyUser', () => {
  test('the contract columns, nested paths, BSON values and absent fields', () => {
    const m = mapping({
      columns: {
        email: 'profile.email', username: 'username', password: 'hash', salt: 'salt', name: 'profile.name',
        email_verified: 'profile.verified', blocked: 'flags.blocked', active: 'flags.active', locked_until: 'lockout.until', picture: 'profile.picture',
      },
      app_metadata: ['profile.plan', 'billing.customer', 'joined', 'balance', 'big', 'tags', 'ref', 'missing'],
      user_metadata: ['prefs'],
    });
    const oid = new ObjectId();
    const ref = new ObjectId();
    const until = new Date(Date.now() + 3600_000);
    const doc: Doc = {
      _id: oid,
      username: 'Alice',
      hash: 'h',
      salt: new Binary(Buffer.from('s4lt')),
      profile: { email: 'Alice@Example.com', name: 'Alice Doe', verified: true, plan: 'gold', picture: null },
      flags: { blocked: new Int32(0), active: Long.fromNumber(1) },
      lockout: { until },
      billing: { customer: { id: 'cus_1', since: new Date('2020-01-02T03:04:05Z') } },
      joined: new Date('2019-05-06T07:08:09.123Z'),
      balance: Decimal128.fromString('12.50'),
      big: Long.fromString('9007199254740993'),
      tags: ['a', new ObjectId('5f1d7a3b9c2e4d6f8a0b1c2d')],
      ref,
      prefs: { lang: 'fr' },
      migrated_at: new Date('2024-02-03T04:05:06.789Z'),
    };
    const u = docToUser(m, doc)!;
    assert.equal(u.id, oid.toHexString());
    assert.equal(u.email, 'Alice@Example.com');
    assert.equal(u.username, 'Alice');
    assert.equal(u.password, 'h');
    assert.equal(u.salt, 's4lt');
    assert.equal(u.name, 'Alice Doe');
    assert.equal(u.emailVerified, true);
    assert.equal(u.blocked, 0);
    assert.equal(u.active, 1);
    assert.equal(u.lockedUntil, until);
    assert.equal(u.picture, undefined, 'null is absent');
    assert.equal(u.givenName, undefined);
    assert.deepEqual(u.appMetadata, {
      plan: 'gold',
      customer: { id: 'cus_1', since: '2020-01-02T03:04:05.000Z' },
      joined: '2019-05-06T07:08:09.123Z',
      balance: '12.50',
      big: '9007199254740993',
      tags: ['a', '5f1d7a3b9c2e4d6f8a0b1c2d'],
      ref: ref.toHexString(),
    });
    assert.deepEqual(u.userMetadata, { prefs: { lang: 'fr' } });
    assert.equal(u.migratedAt, '2024-02-03T04:05:06.789Z');
    assert.doesNotThrow(() => JSON.stringify(u.appMetadata));
  });

  test('a path through an array reads the first element that has it (Meteor\'s emails.address)', () => {
    const doc = { _id: 'x', emails: [{ verified: false }, { address: 'A@B.c', verified: true }, { address: 'second@b.c' }] };
    assert.equal(readPath(doc, 'emails.address'), 'A@B.c');
    assert.equal(readPath(doc, 'emails.missing'), undefined);
    assert.equal(readPath({ a: 'str' }, 'a.b'), undefined);
    assert.equal(readPath({ a: new ObjectId() }, 'a.b'), undefined);
    const u = docToUser(mapping({ columns: { email: 'emails.address', email_verified: 'emails.verified' } }), { ...doc, hash: 'x' })!;
    assert.equal(u.email, 'A@B.c');
  });

  test('documents whose id cannot be a user id are not users', () => {
    assert.equal(docToUser(mapping(), { _id: { compound: 1 }, hash: 'x' }), null);
    assert.equal(docToUser(mapping(), { _id: new Date(), hash: 'x' }), null);
  });

  test('marks written as text by someone else are still marks', () => {
    assert.equal(toIso('2024-01-02 03:04:05'), '2024-01-02T03:04:05.000Z');
    assert.equal(toIso('yes'), 'yes');
    assert.equal(toIso(null), null);
    assert.equal(toIso(new Date('invalid')), null);
  });

  test('jsonValue never returns BSON objects', () => {
    const out = JSON.stringify(jsonValue({ a: [new ObjectId(), Long.fromNumber(5), new UUID(), new Binary(Buffer.from([1, 2]))], b: NaN }));
    assert.doesNotMatch(out, /_bsontype|"buffer"/);
  });
});

describe('mongodb: configuration and connection', () => {
  test('databaseName: configured database wins (the URL path is then the auth database); the URL path otherwise', () => {
    assert.equal(databaseName('mongodb://u:p@h:27017/legacy?authSource=admin'), 'legacy');
    assert.equal(databaseName('mongodb+srv://u:p@cluster.example.net/app'), 'app');
    assert.equal(databaseName('mongodb://u:p@h1:1,h2:2/legacy?replicaSet=rs0'), 'legacy');
    assert.equal(databaseName('mongodb://u:p@h/admin', 'legacy'), 'legacy');
    assert.equal(databaseName('mongodb://h', 'legacy'), 'legacy');
    for (const [url, re] of [
      ['mongodb://u:secret@h:27017', /names no database/],
      ['mongodb://u:secret@h:27017/', /names no database/],
      ['postgres://u:secret@h/db', /must be a mongodb/],
      ['mongodb://u:secret@h/a.b', /not valid/],
      ['mongodb://u:secret@h/%zz', /percent-encoding/],
    ] as const) {
      assert.throws(() => databaseName(url), (e: Error) => e instanceof StoreError && re.test(e.message) && !e.message.includes('secret'), url);
    }
  });

  test('store.mongodb options parse; a case-sensitive strength or a bad locale is refused at start-up', () => {
    const base = {
      auth: { issuer: 'https://tenant.example.com/', audience: 'https://gw' },
      store: { adapter: 'mongodb', url: 'mongodb://h/legacy', users: { table: 'users', columns: { id: '_id', email: 'profile.email', password: 'hash' } } },
    };
    const c = parseConfig({ ...base, store: { ...base.store, mongodb: { collation: { locale: 'fr_CA' }, normalized: { email: 'emailLower' } } } }, {});
    assert.deepEqual(c.store.mongodb, { collation: { locale: 'fr_CA', strength: 2 }, normalized: { email: 'emailLower' } });
    assert.equal(c.store.users.columns.email, 'profile.email');
    const problems = (mongo: unknown) => {
      try {
        parseConfig({ ...base, store: { ...base.store, mongodb: mongo } }, {});
      } catch (e) {
        assert.ok(e instanceof ConfigError);
        return e.problems.join('\n');
      }
      return '';
    };
    assert.match(problems({ collation: { locale: 'en', strength: 3 } }), /store\.mongodb\.collation\.strength/);
    assert.match(problems({ collation: { locale: 'en; drop' } }), /store\.mongodb\.collation\.locale/);
    assert.match(problems({ normalized: {} }), /store\.mongodb\.normalized/);
    assert.match(problems({ normalized: { email: '$where' } }), /store\.mongodb\.normalized\.email/);
    assert.match(problems({ database: 'a/b' }), /store\.mongodb\.database/);
    assert.match(problems({ unknown: 1 }), /unknown key/);
  });

  test('the passport-local-mongoose preset: users collection, _id, username, hash, salt, its pbkdf2 scheme', () => {
    const p = PRESETS['passport-local-mongoose'];
    assert.ok(p);
    assert.deepEqual(p.users, { table: 'users', columns: { id: '_id', username: 'username', password: 'hash', salt: 'salt' } });
    assert.deepEqual(p.passwords, { scheme: 'passport_local_mongoose' });
    // The scheme's name until it is registered in src/passwords/index.ts: override it to parse the mapping now.
    const c = parseConfig(
      {
        auth: { issuer: 'https://tenant.example.com/', audience: 'https://gw' },
        store: { adapter: 'mongodb', url: 'mongodb://h/app', preset: 'passport-local-mongoose', users: { columns: { username: null, email: 'email' } } },
        passwords: { scheme: 'auto' },
      },
      {},
    );
    assert.equal(c.store.users.table, 'users');
    assert.deepEqual(c.store.users.columns, { id: '_id', username: null, email: 'email', password: 'hash', salt: 'salt' });
  });

  test('the preset with its own scheme parses once the scheme is registered', { skip: getScheme('passport_local_mongoose') ? false : 'passport_local_mongoose is not wired into src/passwords/index.ts yet' }, () => {
    const c = parseConfig({ auth: { issuer: 'https://tenant.example.com/', audience: 'https://gw' }, store: { adapter: 'mongodb', url: 'mongodb://h/app', preset: 'passport-local-mongoose' } }, {});
    assert.equal(c.passwords.scheme, 'passport_local_mongoose');
  });

  test('a bad URL is refused without echoing it (it holds the password)', async () => {
    for (const url of ['mongodb://u:secret@h:notaport/db', 'mongodb://u:secret@h/db?unknownOption=1&tls=maybe', 'mysql://u:secret@h/db']) {
      await assert.rejects(
        createMongoStore({ url, query_timeout_ms: 500, pool_max: 2, ...mapping() }),
        (e: Error) => e instanceof StoreError && !e.message.includes('secret'),
        url,
      );
    }
  });

  test('an unreachable server is an error of the queries, not of opening the store; close() works', async () => {
    const store = await createMongoStore({ url: 'mongodb://u:secret@127.0.0.1:1/legacy', query_timeout_ms: 500, pool_max: 2, ...mapping() });
    // The error the gateway logs names the database and says what to do, never the credentials.
    await assert.rejects(store.findById('1'), (e: Error) => {
      assert.ok(e instanceof StoreError);
      assert.match(e.message, /^findById failed: mongodb at 127\.0\.0\.1:1, database legacy: .*hint: server not listening/);
      assert.ok(!e.message.includes('secret') && !e.message.includes('u:'), e.message);
      return true;
    });
    await assert.rejects(store.ping(), (e: Error) => e instanceof StoreError && /^ping failed/.test(e.message) && !e.message.includes('secret'));
    await assert.rejects(findByLogin(store, 'alice'), StoreError);
    await assert.rejects(store.migrationStatus(), StoreError);
    await store.close();
    await assert.rejects(store.ping(), /closed/);
  });
});

// ---------------------------------------------------------------------------------------------------------
// A driver stand-in that records every call (and answers nothing), to see what would reach the driver.

function fakeHandles(): { handles: MongoHandles; calls: { op: string; filter?: unknown; options?: unknown }[] } {
  const calls: { op: string; filter?: unknown; options?: unknown }[] = [];
  const collection = {
    find: (filter: unknown, options: unknown) => {
      calls.push({ op: 'find', filter, options });
      return { toArray: async () => [] };
    },
    updateOne: async (filter: unknown) => void calls.push({ op: 'updateOne', filter }),
    deleteOne: async (filter: unknown) => void calls.push({ op: 'deleteOne', filter }),
    countDocuments: async (filter: unknown) => (calls.push({ op: 'count', filter }), 0),
  };
  return {
    calls,
    handles: {
      client: { close: async () => {} },
      db: { command: async () => ({ ok: 1 }) } as unknown as MongoHandles['db'],
      users: collection as unknown as MongoHandles['users'],
      side: collection as unknown as MongoHandles['users'],
      ledger: collection as unknown as MongoHandles['users'],
      bson: BSON,
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// 2. A real server

async function availability(): Promise<string | false> {
  if (!env.mongodbUrl) {
    return 'MongoDB not configured: set TEST_MONGODB_URL=mongodb://host:27017 (no MongoDB server can be installed on this machine; see this file\'s header for a wire-compatible server from npm)';
  }
  const c = new mongodb.MongoClient(env.mongodbUrl, { serverSelectionTimeoutMS: 3000 });
  try {
    await c.db('admin').command({ ping: 1 });
    return false;
  } catch (e) {
    const reason = `MongoDB at TEST_MONGODB_URL not reachable (${(e as Error).name})`;
    if (env.requireDatabases) throw new Error(`required database suite cannot run: ${reason}`);
    return reason;
  } finally {
    await c.close();
  }
}

const skip = await availability();

/** Every collection this file creates (emptied one by one on servers without dropDatabase). */
const COLLECTIONS = ['users', 'legacy_gateway_migrations', 'mixed', 'marks', LEDGER_TABLE, 'lg_absent_ledger'];

/** A uniquely named database, dropped afterwards (or emptied, on servers without dropDatabase). */
async function createDatabase(): Promise<{ name: string; db: Mongo.Db; drop(): Promise<void> }> {
  const name = `lg_test_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const client = new mongodb.MongoClient(env.mongodbUrl!, { serverSelectionTimeoutMS: 5000 });
  const db = client.db(name);
  return {
    name,
    db,
    async drop() {
      try {
        await db.dropDatabase();
      } catch (e) {
        if ((e as { code?: unknown }).code !== 59) throw e; // CommandNotFound: an emulator without dropDatabase
        for (const n of COLLECTIONS) await db.collection(n).deleteMany({});
      } finally {
        await client.close();
      }
    },
  };
}

const storeDefaults = { query_timeout_ms: 5000, pool_max: 5 };

async function open(users: SeedUser[], mode: MigrationMode) {
  const t = await createDatabase();
  const coll = t.db.collection('users');
  // The indexes the adapter's documentation recommends: the login query's collation, on each login field.
  await coll.createIndex({ email: 1 }, { collation: { locale: 'en', strength: 2 } });
  await coll.createIndex({ username: 1 }, { collation: { locale: 'en', strength: 2 } });
  await coll.insertMany(
    users.map((u) => ({
      _id: u.id as unknown as Mongo.ObjectId,
      email: u.email,
      username: u.username,
      password_hash: u.password_hash,
      full_name: u.full_name ?? null,
      email_confirmed: u.email_confirmed ?? null,
      is_disabled: u.is_disabled ?? false,
      plan: u.plan ?? null,
      last_login: u.last_login ?? null,
    })),
  );
  const reopen = (m: ContractMapping) =>
    createMongoStore({
      url: env.mongodbUrl!,
      ...storeDefaults,
      ...m,
      users: { ...m.users, columns: { ...m.users.columns, id: '_id' } },
      mongodb: { database: t.name, collation: { locale: 'en', strength: 2 } },
    });
  const store = await reopen(contractMapping(mode));
  const ledger = t.db.collection(LEDGER_TABLE);
  const raw: RawAccess = {
    async mark(id, at) {
      // As the gateway writes them: the field, or a side document with the stored id.
      if (mode === 'column') await coll.updateOne({ _id: id as unknown as Mongo.ObjectId }, { $set: { migrated_at: at } });
      else await t.db.collection('legacy_gateway_migrations').insertOne({ _id: String(id) as unknown as Mongo.ObjectId, user_id: String(id), migrated_at: at, user: id });
    },
    async lastLogin(id, at) {
      await coll.updateOne({ _id: id as unknown as Mongo.ObjectId }, { $set: { last_login: at } });
    },
    async ledger() {
      return new Map((await ledger.find({}).toArray()).map((d) => [String(d._id), (d.exported_at as Date).getTime()]));
    },
    async clearLedger() {
      await ledger.deleteMany({});
    },
    async close() {},
  };
  return {
    store,
    reopen,
    raw,
    async cleanup() {
      await store.close();
      await t.drop();
    },
  };
}

userStoreContract('mongodb', open, { skip, ledger: 'collection' });

describe('mongodb on a real server: beyond the contract', { skip }, () => {
  let t: Awaited<ReturnType<typeof createDatabase>>;
  const oid = new ObjectId('5f1d7a3b9c2e4d6f8a0b1c2d');
  const oid2 = new ObjectId('6a2e8b4c0d3f5e7a9b1c2d3e');
  const uuid = new UUID('0b7e4a4e-9b0c-4a53-9d3c-2f9f1b1f0c11');
  const MIXED: Doc[] = [
    { _id: oid, profile: { email: 'Oid@Example.com' }, login: 'oid', hash: 'h1', emailLower: 'oid@example.com' },
    { _id: '5f1d7a3b9c2e4d6f8a0b1c2e', profile: { email: 'hexstring@example.com' }, login: 'hexstring', hash: 'h2', emailLower: 'hexstring@example.com' },
    { _id: 42, profile: { email: 'int@example.com' }, login: 'int', hash: 'h3', emailLower: 'int@example.com' },
    { _id: 1.5, profile: { email: 'double@example.com' }, login: 'double', hash: 'h4', emailLower: 'double@example.com' },
    { _id: 'legacy-7', profile: { email: 'String@Example.com' }, login: 'string', hash: 'h5', emailLower: 'string@example.com' },
    { _id: Long.fromString('9007199254740993'), profile: { email: 'long@example.com' }, login: 'long', hash: 'h6', emailLower: 'long@example.com' },
    { _id: uuid, profile: { email: 'uuid@example.com' }, login: 'uuid', hash: 'h7', emailLower: 'uuid@example.com' },
    { _id: oid2, profile: { email: 'oid2@example.com' }, login: 'OID2', hash: 'h8', emailLower: 'oid2@example.com', app: 'other' },
    { _id: '$where', profile: { email: 'dollar@example.com' }, login: '{"$ne":null}', hash: 'h9', emailLower: 'dollar@example.com' },
  ];
  const m = (over: Partial<MongoMapping> = {}, users: UsersOver = {}): MongoMapping =>
    mapping({ columns: { email: 'profile.email', username: 'login', password: 'hash' }, ...users }, over);
  const openStore = (mm: MongoMapping, hooks = {}) =>
    createMongoStore({ url: env.mongodbUrl!, ...storeDefaults, ...mm, mongodb: { collation: { locale: 'en', strength: 2 }, ...(mm.mongodb ?? {}), database: t.name }, users: mm.users }, hooks);

  before(async () => {
    t = await createDatabase();
    await t.db.collection('mixed').insertMany(MIXED as Mongo.OptionalId<Doc>[]);
  });
  after(async () => t?.drop());

  test('ids of every type round-trip: findById(canonical id of each) finds that document', async () => {
    const store = await openStore(m({}, { table: 'mixed' }));
    try {
      for (const d of MIXED) {
        const id = canonicalId(d._id)!;
        const u = await store.findById(id);
        assert.equal(u?.id, id, `id ${id}`);
        assert.equal(u?.password, d.hash, `the right document for ${id}`);
      }
      for (const miss of ['042', '42.0', '1.50', oid.toHexString().toUpperCase(), '9007199254740992', 'legacy-8']) assert.equal(await store.findById(miss), null, miss);
    } finally {
      await store.close();
    }
  });

  test('nested paths and case-insensitive collation; operator-looking logins and ids are plain values', async () => {
    const store = await openStore(m({}, { table: 'mixed' }));
    try {
      assert.equal((await findByLogin(store, 'OID@example.COM') as { id: string }).id, oid.toHexString());
      assert.equal((await findByLogin(store, 'oid2') as { id: string }).id, oid2.toHexString());
      const byOperatorText = await findByLogin(store, '{"$ne":null}');
      assert.ok(byOperatorText && !isAmbiguous(byOperatorText) && byOperatorText.id === '$where', 'the string matches only the document holding that exact text');
      for (const evil of ['$where', '{"$gt": ""}', '.*', 'a.b', '$gt']) assert.equal(await findByLogin(store, evil), null, evil);
      assert.equal((await store.findById('$where'))?.password, 'h9');
    } finally {
      await store.close();
    }
  });

  test('the commands that reach the server carry request values only as $eq / $in operands', async () => {
    const seen: { commandName: string; command: Doc }[] = [];
    const store = await openStore(m({}, { table: 'mixed' }), { onCommand: (e: { commandName: string; command: Doc }) => seen.push(e) });
    try {
      await findByLogin(store, '$where');
      await findByLogin(store, '{"$ne":null}');
      await store.findById('{"$gt":""}');
      const finds = seen.filter((e) => e.commandName === 'find');
      assert.equal(finds.length, 3);
      assert.deepEqual(finds[0]!.command.filter, { $or: [{ 'profile.email': { $eq: '$where' } }, { login: { $eq: '$where' } }] });
      assert.deepEqual(finds[0]!.command.collation, { locale: 'en', strength: 2 });
      assert.deepEqual(finds[1]!.command.filter, { $or: [{ 'profile.email': { $eq: '{"$ne":null}' } }, { login: { $eq: '{"$ne":null}' } }] });
      assert.deepEqual(finds[2]!.command.filter, { _id: { $in: ['{"$gt":""}'] } });
      for (const f of finds) assert.ok(typeof f.command.maxTimeMS === 'number', 'every query carries maxTimeMS');
    } finally {
      await store.close();
    }
  });

  test('normalized fields instead of a collation', async () => {
    const seen: { commandName: string; command: Doc }[] = [];
    const store = await openStore(m({ mongodb: { collation: { locale: 'en', strength: 2 }, normalized: { email: 'emailLower', username: 'login' } } }, { table: 'mixed' }), {
      onCommand: (e: { commandName: string; command: Doc }) => seen.push(e),
    });
    try {
      assert.equal((await findByLogin(store, '  STRING@example.com ') as { id: string }).id, 'legacy-7');
      assert.equal(await findByLogin(store, 'OID2'), null, 'login field "login" holds "OID2": not normalized, so no match for oid2');
      assert.equal((await findByLogin(store, 'oid') as { id: string }).id, oid.toHexString());
      assert.equal(seen.find((e) => e.commandName === 'find')?.command.collation, undefined);
    } finally {
      await store.close();
    }
  });

  test('scan visits ids of mixed types exactly once, in BSON order, across small pages; filters apply', async (tc) => {
    // MongoDB compares binary values by range; some wire-compatible emulators (jongodb) do not, and then a page that
    // ends before the UUID bracket cannot reach it. Detect it rather than hide it.
    const binaryRanges = (await t.db.collection('mixed').countDocuments({ _id: { $gte: new Binary(new Uint8Array(0), 0) } } as unknown as Mongo.Filter<Mongo.Document>)) === 1;
    if (!binaryRanges) tc.diagnostic('this server does not compare binary values by range ($gte): UUID ids after a page boundary are not asserted');
    const all = ['1.5', '42', '9007199254740993', '$where', '5f1d7a3b9c2e4d6f8a0b1c2e', 'legacy-7', uuid.toHexString(), oid.toHexString(), oid2.toHexString()];
    for (const pageSize of [1, 2, 4, 500]) {
      const store = await openStore(m({}, { table: 'mixed' }), { pageSize });
      try {
        const ids: string[] = [];
        for await (const u of store.scan()) ids.push(u.id);
        const expected = binaryRanges || pageSize >= all.length ? all : all.filter((x) => x !== uuid.toHexString());
        assert.deepEqual(ids, expected, `page size ${pageSize}`);
      } finally {
        await store.close();
      }
    }
    const filtered = await openStore(m({}, { table: 'mixed', filter: [{ column: 'app', op: '<>', value: 'other' }] }), { pageSize: 2 });
    try {
      const ids: string[] = [];
      for await (const u of filtered.scan()) ids.push(u.id);
      assert.equal(ids.length, 0, "'<>' is SQL-like: documents without the field are neither = nor <> a value");
      assert.equal((await filtered.migrationStatus()).total, 0);
    } finally {
      await filtered.close();
    }
  });

  test('marks on an ObjectId-keyed document: field mode and side collection, concurrent marks keep one timestamp', async () => {
    for (const migration of [{ column: 'gateway.migrated_at' }, { table: 'marks' }] as const) {
      const store = await openStore(m({ migration }, { table: 'mixed' }));
      try {
        const id = oid.toHexString();
        const stamps = await Promise.all(Array.from({ length: 20 }, () => store.markMigrated(id)));
        assert.equal(new Set(stamps).size, 1, JSON.stringify(migration));
        assert.equal((await store.findById(id))?.migratedAt, stamps[0]);
        assert.equal((await findByLogin(store, 'oid@example.com') as { migratedAt: string }).migratedAt, stamps[0]);
        assert.equal((await store.migrationStatus()).migrated, 1);
        assert.equal(await store.unmarkMigrated(id), true);
        assert.equal((await store.findById(id))?.migratedAt, null);
        assert.equal((await store.migrationStatus()).migrated, 0);
        // The same hex as a plain string is another document.
        assert.ok(await store.markMigrated('5f1d7a3b9c2e4d6f8a0b1c2e'));
        assert.equal((await store.findById(id))?.migratedAt, null);
        await store.unmarkMigrated('5f1d7a3b9c2e4d6f8a0b1c2e');
      } finally {
        await store.close();
      }
    }
    const raw = await t.db.collection('mixed').findOne({ _id: oid });
    assert.deepEqual(raw?.gateway, {}, 'field mode $unset the mark; nothing else of the document changed');
    assert.equal(raw?.hash, 'h1');
  });

  test('a passport-local-mongoose collection: the preset mapping reads what the plugin wrote, and its hash verifies', async () => {
    const vectors = JSON.parse(readFileSync(path.resolve(process.cwd(), 'test/fixtures/passwords/plm.json'), 'utf8')) as { scheme: string; password: string; stored: string; expected: boolean; row: { salt: string }; note: string }[];
    const v = vectors.find((x) => x.scheme === 'passport_local_mongoose' && x.expected && x.note === 'positive')!;
    const id = new ObjectId();
    // What mongoose + passport-local-mongoose store: _id, username, salt, hash (and __v).
    await t.db.collection('users').insertOne({ _id: id, username: 'Hugo', salt: v.row.salt, hash: v.stored, __v: 0 });
    const preset = PRESETS['passport-local-mongoose']!.users as { table: string; columns: Users['columns'] };
    const store = await openStore({ users: { table: preset.table, joins: [], filter: [], app_metadata: [], user_metadata: [], columns: preset.columns }, migration: { table: 'legacy_gateway_migrations' } });
    try {
      const u = await findByLogin(store, 'hugo');
      assert.ok(u && !isAmbiguous(u));
      assert.equal(u.id, id.toHexString());
      assert.equal(u.username, 'Hugo');
      assert.equal(await passportLocalMongoose.verify(v.password, u.password!, { row: u, params: {} as never }), true);
      assert.equal(await passportLocalMongoose.verify(`${v.password}!`, u.password!, { row: u, params: {} as never }), false);
    } finally {
      await store.close();
    }
  });
});

describe('MongoDB (real server): a store opened while the server is unreachable recovers once it is up', { skip }, () => {
  test('the first calls fail with StoreError; after the server is reachable, calls succeed on the same store', async () => {
    const target = new URL(env.mongodbUrl!);
    const proxy = await startFaultProxy({ host: target.hostname, port: Number(target.port || 27017) });
    const t = await createDatabase();
    await t.db.collection('users').insertOne({ _id: 'r1' as unknown as Mongo.ObjectId, email: 'rec@example.com', username: 'rec', hash: 'h' });
    proxy.cut();
    const url = `mongodb://${proxy.host}:${proxy.port}/${t.name}?directConnection=true`;
    const store = await createMongoStore({ url, query_timeout_ms: 700, pool_max: 2, ...mapping({}, { migration: { table: 'legacy_gateway_migrations' } }) });
    try {
      await assert.rejects(store.ping(), StoreError);
      await assert.rejects(store.findById('r1'), StoreError);
      proxy.resume();
      // The driver closed the first client's topology for good; the store replaces it (the first call after that
      // may still fail, the next ones succeed).
      let found: Awaited<ReturnType<typeof store.findById>> = null;
      for (let i = 0; i < 5 && !found; i++) {
        found = await store.findById('r1').catch(() => null);
      }
      assert.equal(found?.email, 'rec@example.com');
      await store.ping();
    } finally {
      await store.close();
      await proxy.close();
      await t.drop();
    }
  });

  test('20 concurrent calls across the cut and the resume: the dead client is replaced once, not once per failed call', async () => {
    const target = new URL(env.mongodbUrl!);
    const proxy = await startFaultProxy({ host: target.hostname, port: Number(target.port || 27017) });
    const t = await createDatabase();
    await t.db.collection('users').insertOne({ _id: 'c1' as unknown as Mongo.ObjectId, email: 'conc@example.com', username: 'conc', hash: 'h' });
    // Every MongoClient.close() (the same driver module as the store's): which clients the store throws away.
    const closed: unknown[] = [];
    const realClose = mongodb.MongoClient.prototype.close;
    mongodb.MongoClient.prototype.close = function (this: Mongo.MongoClient, ...args: Parameters<Mongo.MongoClient['close']>) {
      closed.push(this);
      return realClose.apply(this, args);
    };
    proxy.cut();
    const url = `mongodb://${proxy.host}:${proxy.port}/${t.name}?directConnection=true`;
    const store = await createMongoStore({ url, query_timeout_ms: 700, pool_max: 4, ...mapping({}, { migration: { table: 'legacy_gateway_migrations' } }) });
    try {
      // 20 calls in flight on the first client while the server is unreachable: they all fail on it.
      const burst = await Promise.allSettled(Array.from({ length: 20 }, () => store.findById('c1')));
      assert.ok(burst.every((r) => r.status === 'rejected' && r.reason instanceof StoreError), 'every call fails as a StoreError');
      const reopened = burst.filter((r) => r.status === 'rejected' && /closed its topology/.test((r.reason as Error).message)).length;
      assert.ok(reopened >= 2, `several calls saw the closed topology (${reopened})`);
      assert.equal(closed.length, 1, `one dead client, closed once: a new client per failed call would close ${reopened - 1} fresh ones (closed ${closed.length})`);
      proxy.resume();
      // Back: 20 concurrent calls on the one new client all succeed (none of them loses its client to another call).
      let results: PromiseSettledResult<Awaited<ReturnType<typeof store.findById>>>[] = [];
      for (let i = 0; i < 5; i++) {
        results = await Promise.allSettled(Array.from({ length: 20 }, () => store.findById('c1')));
        if (results.every((r) => r.status === 'fulfilled')) break;
      }
      for (const r of results) assert.equal(r.status === 'fulfilled' ? r.value?.email : String((r as PromiseRejectedResult).reason), 'conc@example.com');
      assert.equal(closed.length, 1, 'no client was closed while the server answered');
    } finally {
      mongodb.MongoClient.prototype.close = realClose;
      await store.close();
      await proxy.close();
      await t.drop();
    }
  });
});
