/**
 * MongoDB store (the official `mongodb` driver, loaded lazily). Same semantics as the relational stores
 * (adapters/sql.ts): canonical string ids, the same field mapping into LegacyUser, candidate documents for a login
 * (narrowed by the gateway's matching rule), idempotent marks that keep the first timestamp under concurrency, counts done by the server.
 *
 * Query BUILDING is pure and exported (build*Query, build*Update, idCandidates, canonicalId, docToUser) so that it is
 * unit-tested without a server. The one rule that makes operator injection impossible: a value that came from a
 * request (login, user id) only ever appears as the operand of $eq or inside an $in array, as a string (or as an
 * ObjectId / number / UUID constructed here from a string that round-trips exactly). It is never spread into a filter,
 * never used as a key, and never parsed as JSON, so '{"$ne":null}', '$where' or 'a.b' are compared as plain strings.
 *
 * Mapping:
 *  - store.users.table is the collection; columns are field paths ('email', 'profile.email'). A path that crosses an
 *    array (Meteor's 'emails.address') reads the first element's value and matches any element.
 *  - user_id: canonical string of columns.id (normally '_id'): ObjectId → 24 lower-case hex digits, string as is,
 *    number → String(n) (1, 1.5, -3), Long → its decimal digits, UUID (binary subtype 4) → lower-case dashed form.
 *    Documents whose id is of another type (a Date, an embedded document) are not users of the gateway.
 *    findById tries every reading of the requested id: a 24-hex id as an ObjectId AND as the raw string (legacy
 *    collections mix them), a canonical number as a number, a dashed UUID as a UUID; a document is found only when
 *    canonicalId(its id) === the requested id. If both ObjectId(x) and the string x exist, the ObjectId wins.
 *  - app_metadata / user_metadata keys are the LAST segment of the path ('profile.plan' → plan); BSON values become
 *    JSON (ObjectId → hex, Date → ISO 8601, Decimal128 → string, Long → number or string, binary → base64).
 *  - store.users.filter: '=' → $eq, '<>' → $ne value AND $ne null (as in SQL, a missing/null field is neither = nor <>),
 *    is_null → $eq null (missing or null), is_not_null → $ne null.
 *
 * Case-insensitive login (store.mongodb, see mongodb-config.ts): the login query carries an ICU collation
 * ({ locale: 'en', strength: 2 } by default; fast only with an index of the same collation on each login field),
 * or compares configured normalized fields (emailLower, ...) with the lower-cased login. With a collation, string
 * filter values in the login query compare under it too. ICU folding is a superset of toLowerCase() (ß matches ss).
 * Id lookups, scans and counts use no collation, so that the _id index serves them.
 *
 * Migration state: { column: field } sets the field with { $set } guarded by "$exists: false or null" (one atomic
 * single-document update: the first writer's timestamp stays), and unmark $unset's it; { table: collection } keeps
 * { _id: user_id, user_id, migrated_at, user } documents written with an upsert of $setOnInsert (a duplicate-key race
 * between two upserts is the same outcome: the first document stays); `user` is the stored id, which status joins on.
 * The _id index makes it unique: no index to create. Least privilege: find on the users collection, plus update on it
 * (field mode) or find/insert/update/remove on the side collection; find/insert on the export ledger collection
 * (exportsTable(store.migration): { _id: user_id, user, exported_at }, written by `export`). status aggregates ($lookup
 * across these collections, $facet, $group), which the find privilege on each of them covers.
 *
 * scan(): keyset pagination on the id field in BSON order. Because "$gt" only compares within one BSON type, the
 * continuation is "$gt last OR any id of a later type" (one range per later type), so ids of mixed types (numbers,
 * strings, UUIDs, ObjectIds) are all visited, in the server's sort order.
 */
import type * as Mongo from 'mongodb';
import { describeConnectionError, isConnectionError, storeTarget } from '../src/dbhints.js';
import { exportsTable, type Config } from '../src/config.js';
import { loadDriver } from './driver.js';
import type { MongodbStoreConfig } from './mongodb-config.js';
import { CANDIDATE_LIMIT } from '../src/matching.js';
import { instantIso, StoreError, type LegacyUser, type MigrationStatus, type UserStore } from './types.js';

export type Doc = Record<string, unknown>;
export type Filter = Record<string, unknown>;

/** The parts of the configuration the queries are built from. */
export type MongoMapping = Pick<Config['store'], 'users' | 'migration'> & { mongodb?: MongodbStoreConfig | undefined };
export type MongoStoreConfig = MongoMapping & Pick<Config['store'], 'url' | 'query_timeout_ms' | 'pool_max'>;

/** The BSON constructors the builders need: the driver's own, passed in so that this module never loads the driver. */
export interface BsonTypes {
  ObjectId: new (hex: string) => unknown;
  UUID?: new (hex: string) => unknown;
  Long?: { fromString(s: string): { toString(): string } };
  Binary?: new (bytes: Uint8Array, subType: number) => unknown;
}

export interface Collation {
  locale: string;
  strength: number;
}

export interface FindQuery {
  filter: Filter;
  options: { projection: Record<string, 1>; limit: number; collation?: Collation; sort?: Record<string, 1> };
}

/** Logical field → LegacyUser property, as in sql.ts. */
const FIELDS = {
  email: 'email',
  username: 'username',
  password: 'password',
  salt: 'salt',
  password_scheme: 'passwordScheme',
  email_verified: 'emailVerified',
  name: 'name',
  given_name: 'givenName',
  family_name: 'familyName',
  nickname: 'nickname',
  picture: 'picture',
  blocked: 'blocked',
  active: 'active',
  locked_until: 'lockedUntil',
} as const;

const TEXT_FIELDS = new Set(['email', 'username', 'password', 'salt', 'passwordScheme', 'name', 'givenName', 'familyName', 'nickname', 'picture']);

/** Documents per page when scanning. */
export const SCAN_PAGE = 500;

export const DEFAULT_COLLATION: Collation = Object.freeze({ locale: 'en', strength: 2 });

// ---------------------------------------------------------------------------------------------------------
// Values

function tag(v: unknown): string | undefined {
  if (v === null || typeof v !== 'object') return undefined;
  const t = (v as { _bsontype?: unknown })._bsontype;
  return typeof t === 'string' ? t : undefined;
}

/** The binary's bytes (bson's Binary keeps them in .buffer, trimmed to .position). */
function binaryBytes(v: unknown): Buffer {
  const b = v as { buffer: Uint8Array; position?: number };
  const bytes = Buffer.from(b.buffer.buffer, b.buffer.byteOffset, b.buffer.byteLength);
  return typeof b.position === 'number' ? bytes.subarray(0, b.position) : bytes;
}

function isUuidBinary(v: unknown): boolean {
  return tag(v) === 'Binary' && (v as { sub_type?: number }).sub_type === 4 && binaryBytes(v).length === 16;
}

function uuidString(v: unknown): string {
  const h = binaryBytes(v).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * The canonical string form of a stored id, or null for a type that cannot be a user id.
 * ObjectId → hex; string → itself; finite number → String(n); Long / Int32 / Double / Decimal128 → their decimal
 * text; UUID → dashed lower-case hex.
 */
export function canonicalId(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : null;
  if (typeof v === 'bigint') return String(v);
  switch (tag(v)) {
    case 'ObjectId':
    case 'ObjectID':
      return (v as { toHexString(): string }).toHexString();
    case 'Long':
    case 'Decimal128':
      return (v as { toString(): string }).toString();
    case 'Int32':
    case 'Double': {
      const n = (v as { valueOf(): number }).valueOf();
      return Number.isFinite(n) ? String(n) : null;
    }
    case 'Binary':
      return isUuidBinary(v) ? uuidString(v) : null;
    default:
      return null;
  }
}

const HEX24 = /^[0-9a-f]{24}$/;
const NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?$/;
const INTEGER = /^-?[1-9][0-9]*$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Every stored value whose canonical form could be `id`, most native first: ObjectId(id) for 24 lower-case hex
 * digits, then the string itself (always), then a number, a Long or a UUID when the text is exactly that value's
 * canonical form ('01', '1.0', ' 1' and upper-case hex name nothing but the string).
 */
export function idCandidates(id: string, bson: BsonTypes): unknown[] {
  if (typeof id !== 'string') throw new TypeError('id must be a string');
  const out: unknown[] = [];
  if (HEX24.test(id)) out.push(new bson.ObjectId(id));
  out.push(id);
  if (NUMBER.test(id)) {
    const n = Number(id);
    if (Number.isFinite(n) && String(n) === id) out.push(n);
    else if (INTEGER.test(id) && bson.Long) {
      const l = bson.Long.fromString(id);
      if (l.toString() === id) out.push(l);
    }
  }
  if (bson.UUID && UUID_RE.test(id)) out.push(new bson.UUID(id));
  return out;
}

/** A field's value; through arrays, the first element that has it (MongoDB matches any element). */
export function readPath(doc: unknown, path: string): unknown {
  const walk = (v: unknown, parts: string[]): unknown => {
    if (parts.length === 0) return v;
    if (Array.isArray(v)) {
      for (const el of v) {
        const r = walk(el, parts);
        if (r !== undefined && r !== null) return r;
      }
      return undefined;
    }
    if (v === null || typeof v !== 'object' || tag(v) !== undefined || v instanceof Date) return undefined;
    return walk((v as Doc)[parts[0]!], parts.slice(1));
  };
  return walk(doc, path.split('.'));
}

/** Text columns: strings as they are; numbers, ids and dates as text; anything structured is absent. */
function text(v: unknown): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : v.toISOString();
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  const t = tag(v);
  if (t === 'Binary') return isUuidBinary(v) ? uuidString(v) : binaryBytes(v).toString('utf8');
  if (t === 'BSONSymbol') return String((v as { valueOf(): unknown }).valueOf());
  const id = canonicalId(v);
  return id ?? undefined;
}

/** Flag columns (blocked, active, email_verified, locked_until): BSON number wrappers to plain values. */
function flag(v: unknown): unknown {
  if (v === null || v === undefined) return undefined;
  switch (tag(v)) {
    case 'Long': {
      const n = Number((v as { toString(): string }).toString());
      return Number.isSafeInteger(n) ? n : BigInt((v as { toString(): string }).toString());
    }
    case 'Int32':
    case 'Double':
      return (v as { valueOf(): number }).valueOf();
    case 'Decimal128':
      return (v as { toString(): string }).toString();
    case 'Binary':
      return binaryBytes(v);
    case 'ObjectId':
      return (v as { toHexString(): string }).toHexString();
    default:
      return v;
  }
}

/** A BSON value as JSON-safe data, for app_metadata / user_metadata. */
export function jsonValue(v: unknown, depth = 0): unknown {
  if (v === null || v === undefined) return v;
  if (depth > 32) return undefined;
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : String(v);
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : v.toISOString();
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (Array.isArray(v)) return v.map((x) => jsonValue(x, depth + 1) ?? null);
  const t = tag(v);
  if (t === 'Binary') return isUuidBinary(v) ? uuidString(v) : binaryBytes(v).toString('base64');
  if (t === 'Long') {
    const s = (v as { toString(): string }).toString();
    return Number.isSafeInteger(Number(s)) ? Number(s) : s;
  }
  if (t === 'Int32' || t === 'Double') return jsonValue((v as { valueOf(): number }).valueOf(), depth);
  if (t !== undefined) return canonicalId(v) ?? String(v);
  if (v instanceof RegExp) return String(v);
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Doc)) {
      const j = jsonValue(x, depth + 1);
      if (j !== undefined) out[k] = j;
    }
    return out;
  }
  return undefined;
}

/** An ISO 8601 timestamp for a migration mark (a Date from the driver, or text written by someone else). */
export function toIso(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  let s = String(flag(v));
  if (/^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?$/.test(s)) s = `${s.replace(' ', 'T')}Z`;
  const d = new Date(s);
  // Not a date but still a mark (someone wrote it): keep it as text rather than lose it.
  return Number.isNaN(d.getTime()) ? String(v) : d.toISOString();
}

// ---------------------------------------------------------------------------------------------------------
// Query building (pure)

/** The only way a request value enters a filter: the operand of $eq, as a string. */
export function eq(value: string): { $eq: string } {
  if (typeof value !== 'string') throw new TypeError('a login or id value must be a string');
  return { $eq: value };
}

function and(conds: (Filter | null | undefined)[]): Filter {
  const c = conds.filter((x): x is Filter => !!x && Object.keys(x).length > 0);
  if (c.length === 0) return {};
  if (c.length === 1) return c[0]!;
  return { $and: c };
}

function idField(m: MongoMapping): string {
  return m.users.columns.id;
}

function migrationField(m: MongoMapping): string | null {
  return 'column' in m.migration ? m.migration.column : null;
}

/** store.users.filter as filter documents (configuration values, never request values). */
export function baseConditions(m: MongoMapping): Filter[] {
  const out: Filter[] = m.users.filter.flatMap((f): Filter[] => {
    switch (f.op) {
      case 'is_null':
        return [{ [f.column]: { $eq: null } }];
      case 'is_not_null':
        return [{ [f.column]: { $ne: null } }];
      case '<>':
        // As in SQL, a missing or null field is not "<> value" either. (Two conditions rather than
        // $nin [value, null], which not every wire-compatible server applies to missing fields.)
        return [{ [f.column]: { $ne: f.value } }, { [f.column]: { $ne: null } }];
      default:
        return [{ [f.column]: { $eq: f.value } }];
    }
  });
  // A document without the configured id field is not a user (the relational key can never be NULL).
  if (idField(m) !== '_id') out.push({ [idField(m)]: { $ne: null } });
  return out;
}

/** Every field the gateway reads, with paths under an already projected path dropped (MongoDB refuses collisions). */
export function buildProjection(m: MongoMapping): Record<string, 1> {
  const paths = new Set<string>([idField(m)]);
  for (const v of Object.values(m.users.columns)) if (typeof v === 'string' && v) paths.add(v);
  for (const p of [...m.users.app_metadata, ...m.users.user_metadata]) paths.add(p);
  const mig = migrationField(m);
  if (mig) paths.add(mig);
  const all = [...paths].sort();
  const kept = all.filter((p) => !all.some((q) => q !== p && p.startsWith(`${q}.`)));
  return Object.fromEntries(kept.map((p) => [p, 1 as const]));
}

/** The login fields compared, and whether a collation does the case folding. */
export function loginPlan(m: MongoMapping): { paths: string[]; collation: Collation | null } {
  const norm = m.mongodb?.normalized;
  const paths: string[] = [];
  for (const key of ['email', 'username'] as const) {
    const col = m.users.columns[key];
    if (!col) continue;
    if (norm) {
      const n = norm[key];
      if (!n) {
        throw new StoreError(
          `store.mongodb.normalized.${key}: required because store.users.columns.${key} is set (the field holding the lower-cased ${key}, or the ${key} field itself if the app stores it lower-cased)`,
          { transient: false },
        );
      }
      paths.push(n);
    } else paths.push(col);
  }
  if (paths.length === 0) throw new StoreError('store.users.columns: set email or username', { transient: false });
  const c = m.mongodb?.collation ?? DEFAULT_COLLATION;
  return { paths, collation: norm ? null : { locale: c.locale, strength: c.strength } };
}

/**
 * findCandidates: the trimmed, lower-cased login as the $eq operand of every login field, ORed, ANDed with the
 * configured filters; at most CANDIDATE_LIMIT documents, which the gateway narrows with its own matching rule
 * (src/matching.ts: an ICU collation's wider folding, ß = ss, never widens a match). The collation (if any) goes
 * in the options.
 */
export function buildLoginQuery(m: MongoMapping, login: string): FindQuery {
  if (typeof login !== 'string') throw new TypeError('login must be a string');
  const needle = login.trim().toLowerCase();
  const plan = loginPlan(m);
  const ors = plan.paths.map((p) => ({ [p]: eq(needle) }));
  const filter = and([ors.length === 1 ? ors[0]! : { $or: ors }, ...baseConditions(m)]);
  return { filter, options: { projection: buildProjection(m), limit: CANDIDATE_LIMIT, ...(plan.collation ? { collation: plan.collation } : {}) } };
}

/** findById: every reading of the id (idCandidates) in one $in; the canonical check happens on the results. */
export function buildIdQuery(m: MongoMapping, id: string, bson: BsonTypes): FindQuery {
  const candidates = idCandidates(id, bson);
  const filter = and([{ [idField(m)]: { $in: candidates } }, ...baseConditions(m)]);
  return { filter, options: { projection: buildProjection(m), limit: candidates.length + 1 } };
}

/** Of the documents an id query returned, the one whose id is canonically `id` (ObjectId before string before number). */
export function pickById(docs: Doc[], m: MongoMapping, id: string): Doc | null {
  const rank = (v: unknown) => (tag(v) === 'ObjectId' ? 0 : typeof v === 'string' ? 1 : 2);
  const hits = docs.filter((d) => canonicalId(readPath(d, idField(m))) === id);
  hits.sort((a, b) => rank(readPath(a, idField(m))) - rank(readPath(b, idField(m))));
  return hits[0] ?? null;
}

/** Column mode: set the mark only where none is set yet, on the document's own stored id. */
export function buildMarkUpdate(m: MongoMapping, storedId: unknown, now: Date): { filter: Filter; update: Doc } {
  const col = migrationField(m);
  if (!col) throw new StoreError('buildMarkUpdate: the migration state is not kept in a field', { transient: false });
  return {
    filter: { [idField(m)]: { $eq: storedId }, $or: [{ [col]: { $exists: false } }, { [col]: { $eq: null } }] },
    update: { $set: { [col]: now } },
  };
}

export function buildUnmarkUpdate(m: MongoMapping, storedId: unknown): { filter: Filter; update: Doc } {
  const col = migrationField(m);
  if (!col) throw new StoreError('buildUnmarkUpdate: the migration state is not kept in a field', { transient: false });
  return { filter: { [idField(m)]: { $eq: storedId } }, update: { $unset: { [col]: '' } } };
}

/**
 * Side collection: insert { _id: user_id, user_id, migrated_at, user } unless it exists; an existing mark is untouched.
 * `user` is the user document's stored id (an ObjectId, a number, ...), which status joins on (the users' id index).
 */
export function buildSideMark(userId: string, now: Date, storedId?: unknown): { filter: Filter; update: Doc; options: { upsert: true } } {
  // _id is repeated in $setOnInsert (MongoDB allows the value of the equality condition there): servers that do not
  // seed an upsert's _id from an explicit $eq still key the mark by the user id.
  return {
    filter: { _id: eq(userId) },
    update: { $setOnInsert: { _id: userId, user_id: userId, migrated_at: now, ...(storedId === undefined ? {} : { user: storedId }) } },
    options: { upsert: true },
  };
}

/**
 * An export-ledger entry (collection exportsTable(store.migration)), keyed by the user id: inserted only where none
 * exists, so a repeat keeps the first time. `user` is the stored id, as in side-collection marks.
 */
export function buildLedgerDoc(userId: string, storedId: unknown, now: Date): Doc {
  if (typeof userId !== 'string') throw new TypeError('user ids must be strings');
  return { _id: userId, user: storedId, exported_at: now };
}

/** Which of these keys a gateway collection (the ledger) already has. */
export function buildKeysLookup(keys: string[]): { filter: Filter; options: { projection: Record<string, 1> } } {
  for (const k of keys) if (typeof k !== 'string') throw new TypeError('user ids must be strings');
  return { filter: { _id: { $in: [...keys] } }, options: { projection: { _id: 1 } } };
}

/** markExported: every reading of each id (idCandidates) in one $in, the id field only. */
export function buildIdsQuery(m: MongoMapping, ids: string[], bson: BsonTypes): FindQuery {
  const candidates = ids.flatMap((id) => idCandidates(id, bson));
  return { filter: { [idField(m)]: { $in: candidates } }, options: { projection: { [idField(m)]: 1 }, limit: candidates.length } };
}

/** Conditions on the users collection, applied to a users document joined into another one under `prefix`. */
function under(prefix: string, conds: Filter[]): Filter[] {
  return conds.map((c) => Object.fromEntries(Object.entries(c).map(([path, v]) => [`${prefix}.${path}`, v])));
}

/** The recently-active cut-offs (30 and 90 days before `now`). */
export function activeCutoffs(now: number): [Date, Date] {
  return [new Date(now - 30 * 86_400_000), new Date(now - 90 * 86_400_000)];
}

/** $facet counting every document, and (with last_login mapped) those of the joined user `u` active since each cut-off. */
function facetCounts(m: MongoMapping, cutoffs: [Date, Date] | null): Doc {
  const ll = m.users.columns.last_login;
  const facets: Doc = { all: [{ $count: 'n' }] };
  if (ll && cutoffs) {
    facets.active30 = [{ $match: { [`u.${ll}`]: { $gte: cutoffs[0] } } }, { $count: 'n' }];
    facets.active90 = [{ $match: { [`u.${ll}`]: { $gte: cutoffs[1] } } }, { $count: 'n' }];
  }
  return { $facet: facets };
}

/**
 * Join each document (a ledger entry, a side-collection mark) to its user through its `user` field (the stored id,
 * so the users' id index serves the lookup), keeping the users under the configured filters.
 */
function joinUsers(m: MongoMapping, usersCollection: string): Doc[] {
  return [
    { $lookup: { from: usersCollection, localField: 'user', foreignField: idField(m), as: 'u' } },
    { $unwind: '$u' },
    { $match: and(under('u', baseConditions(m))) },
  ];
}

/**
 * migrationStatus, on the ledger: its entries whose user exists (under the filters) and is not migrated, counted, and
 * (with last_login mapped) those active since each cut-off.
 */
export function buildExportedPipeline(m: MongoMapping, collections: { users: string; side: string | null }, cutoffs: [Date, Date] | null): Doc[] {
  const mig = migrationField(m);
  const notMigrated: Doc[] = mig
    ? [{ $match: { [`u.${mig}`]: { $eq: null } } }]
    : [{ $lookup: { from: collections.side, localField: '_id', foreignField: '_id', as: 'm' } }, { $match: { m: { $size: 0 } } }];
  return [...joinUsers(m, collections.users), ...notMigrated, facetCounts(m, cutoffs)];
}

/** migrationStatus, side collection with last_login mapped: the marked users active since each cut-off. */
export function buildMarkedActivePipeline(m: MongoMapping, usersCollection: string, cutoffs: [Date, Date]): Doc[] {
  return [...joinUsers(m, usersCollection), facetCounts(m, cutoffs)];
}

/** migrationStatus: the marks (Dates) per UTC day, grouped by the server. */
export function buildPerDay(m: MongoMapping): { side: boolean; field: string; match: Filter; pipeline: Doc[] } {
  const mig = migrationField(m);
  const field = mig ?? 'migrated_at';
  const match = mig ? and([...baseConditions(m), { [mig]: { $type: 'date' } }]) : { migrated_at: { $type: 'date' } };
  const pipeline = [{ $match: match }, { $group: { _id: { $dateToString: { format: '%Y-%m-%d', date: `$${field}`, timezone: 'UTC' } }, n: { $sum: 1 } } }];
  return { side: !mig, field, match, pipeline };
}

export function buildSideUnmark(userId: string): { filter: Filter } {
  return { filter: { _id: eq(userId) } };
}

export function buildSideLookup(userIds: string[]): { filter: Filter; options: { projection: Record<string, 1> } } {
  for (const id of userIds) if (typeof id !== 'string') throw new TypeError('user ids must be strings');
  return { filter: { _id: { $in: [...userIds] } }, options: { projection: { migrated_at: 1 } } };
}

/** migrationStatus, column mode: the filter for "marked". */
export function buildMigratedCount(m: MongoMapping): Filter {
  const col = migrationField(m);
  if (!col) throw new StoreError('buildMigratedCount: the migration state is not kept in a field', { transient: false });
  return and([...baseConditions(m), { [col]: { $ne: null } }]);
}

export function buildTotalCount(m: MongoMapping): Filter {
  return and(baseConditions(m));
}

/**
 * BSON comparison order of types (MongoDB's sort order): 0 MinKey, 1 null, 2 numbers, 3 strings (and symbols),
 * 4 documents, 5 arrays, 6 binary, 7 ObjectId, 8 booleans, 9 dates, 10 timestamps, 11 regular expressions, 12 MaxKey.
 */
export function typeBracket(v: unknown): number {
  if (v === null || v === undefined) return 1;
  if (typeof v === 'number' || typeof v === 'bigint') return 2;
  if (typeof v === 'string') return 3;
  if (typeof v === 'boolean') return 8;
  if (v instanceof Date) return 9;
  if (v instanceof RegExp) return 11;
  if (Buffer.isBuffer(v)) return 6;
  if (Array.isArray(v)) return 5;
  switch (tag(v)) {
    case 'MinKey':
      return 0;
    case 'Long':
    case 'Int32':
    case 'Double':
    case 'Decimal128':
      return 2;
    case 'BSONSymbol':
      return 3;
    case 'Binary':
      return 6;
    case 'ObjectId':
    case 'ObjectID':
      return 7;
    case 'Timestamp':
      return 10;
    case 'BSONRegExp':
      return 11;
    case 'MaxKey':
      return 12;
    default:
      return 4;
  }
}

/**
 * For each type bracket an id can have (MongoDB refuses arrays and regular expressions as _id; symbols, timestamps,
 * MinKey and MaxKey are not keys applications create), a condition matching every value of that bracket. Ranges
 * from the bracket's smallest value where they exist, so that the id index bounds them; documents by $type.
 */
function bracketConditions(bson: BsonTypes): [number, Record<string, unknown>][] {
  return [
    [2, { $gte: -Infinity }],
    [3, { $gte: '' }],
    [4, { $type: 'object' }],
    // Binary sorts by length, then subtype, then bytes: the empty subtype-0 value is the smallest.
    [6, bson.Binary ? { $gte: new bson.Binary(new Uint8Array(0), 0) } : { $type: 'binData' }],
    [7, { $gte: new bson.ObjectId('000000000000000000000000') }],
    [8, { $gte: false }],
    [9, { $gte: new Date(-8.64e15) }],
  ];
}

/** The conditions for "an id of a type that sorts after v's type" (one per type bracket). */
export function laterTypeConditions(v: unknown, bson: BsonTypes): Record<string, unknown>[] {
  const b = typeBracket(v);
  return bracketConditions(bson)
    .filter(([n]) => n > b)
    .map(([, c]) => c);
}

/**
 * One page of scan(): id order; after the first page, "id > last" OR "id of a later type": $gt only compares within
 * one BSON type, so without the second part a page ending on a number would never reach the string or ObjectId ids.
 * `after` is the stored id of the previous page's last document.
 */
export function buildScanQuery(m: MongoMapping, after: { value: unknown } | null, bson: BsonTypes, pageSize = SCAN_PAGE): FindQuery {
  const id = idField(m);
  let cont: Filter | null = null;
  if (after) {
    const later = laterTypeConditions(after.value, bson).map((c) => ({ [id]: c }));
    const gt = { [id]: { $gt: after.value } };
    cont = later.length ? { $or: [gt, ...later] } : gt;
  }
  return { filter: and([cont, ...baseConditions(m)]), options: { projection: buildProjection(m), sort: { [id]: 1 }, limit: pageSize } };
}

/** A document as a LegacyUser; null when its id is of a type that cannot be a user id. */
export function docToUser(m: MongoMapping, doc: Doc): LegacyUser | null {
  const id = canonicalId(readPath(doc, idField(m)));
  if (id === null) return null;
  const user: LegacyUser = { id, appMetadata: {}, userMetadata: {}, migratedAt: null };
  const cols = m.users.columns as Record<string, string | null | undefined>;
  for (const [key, prop] of Object.entries(FIELDS)) {
    const path = cols[key];
    if (!path) continue;
    const raw = readPath(doc, path);
    const v = TEXT_FIELDS.has(prop) ? text(raw) : flag(raw);
    if (v !== undefined) (user as unknown as Record<string, unknown>)[prop] = v;
  }
  const meta = (paths: string[]) => {
    const out: Record<string, unknown> = {};
    for (const p of paths) {
      const v = jsonValue(readPath(doc, p));
      if (v !== null && v !== undefined) out[p.slice(p.lastIndexOf('.') + 1)] = v;
    }
    return out;
  };
  user.appMetadata = meta(m.users.app_metadata);
  user.userMetadata = meta(m.users.user_metadata);
  const mig = migrationField(m);
  if (mig) user.migratedAt = toIso(readPath(doc, mig));
  const lastLogin = m.users.columns.last_login ? instantIso(readPath(doc, m.users.columns.last_login)) : undefined;
  if (lastLogin) user.lastLogin = lastLogin;
  return user;
}

/**
 * The database: store.mongodb.database if set (the URL's path is then only the authentication database, as
 * MongoDB URLs use it), otherwise the URL's path. Never echoes the URL (it holds the password).
 */
export function databaseName(url: string, configured?: string): string {
  const m = /^mongodb(?:\+srv)?:\/\/[^/?#]*(?:\/([^?#]*))?/i.exec(url);
  if (!m) throw new StoreError('store.url must be a mongodb:// or mongodb+srv:// URL', { transient: false });
  if (configured) return configured;
  let path = '';
  try {
    path = decodeURIComponent(m[1] ?? '');
  } catch {
    throw new StoreError('store.url: the database name is not valid percent-encoding', { transient: false });
  }
  if (!path) throw new StoreError('store.url names no database: add /DATABASE to the URL or set store.mongodb.database', { transient: false });
  if (!/^[^/\\. "$*<>:|?\u0000]{1,63}$/.test(path)) throw new StoreError('store.url: the database name is not valid for MongoDB', { transient: false });
  return path;
}

// ---------------------------------------------------------------------------------------------------------
// The store

export interface MongoHandles {
  client: Pick<Mongo.MongoClient, 'close'>;
  db: Pick<Mongo.Db, 'command'>;
  users: Mongo.Collection<Doc>;
  side: Mongo.Collection<Doc> | null;
  /** The export ledger (created by its first write, like any collection). */
  ledger: Mongo.Collection<Doc>;
  bson: BsonTypes;
}

export interface MongoStoreOptions {
  /** Server-side limit of every query (maxTimeMS). */
  maxTimeMS: number;
  /** Documents per scan page (tests use a small one). */
  pageSize?: number;
  /** store.url: connection failures name the host, port and database (never the credentials), with a hint. */
  url?: string;
  /**
   * A fresh client with its handles. The driver (v7) closes a client's topology for good when its first connection
   * fails (every later operation then throws MongoTopologyClosedError): the store then replaces the client, so a
   * gateway started while MongoDB was down recovers once it is up.
   */
  reopen?: () => MongoHandles;
}

function isDuplicateKey(e: unknown): boolean {
  return (e as { code?: unknown } | null)?.code === 11000;
}

/**
 * An unordered insert whose only failures are duplicate keys (a concurrent export inserted the same entries first):
 * write errors that are all 11000, or (servers that report it as the command's error) the error itself.
 */
function onlyDuplicateKeys(e: unknown): boolean {
  const err = e as { writeErrors?: unknown; writeConcernError?: unknown } | null;
  const list = Array.isArray(err?.writeErrors) ? err.writeErrors : err?.writeErrors ? [err.writeErrors] : [];
  if (err?.writeConcernError) return false;
  return list.length > 0 ? list.every(isDuplicateKey) : isDuplicateKey(e);
}

/** The count of a $facet output's branch ([{ n }] or [] for none). */
function facetCount(out: Doc | undefined, name: string): number {
  const branch = out?.[name];
  return Array.isArray(branch) && branch[0] ? Number((branch[0] as Doc).n ?? 0) : 0;
}

/** Pipeline errors of a server that lacks an operator: 168 InvalidPipelineOperator, 238 NotImplemented. */
function isUnsupported(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === 168 || code === 238;
}

/** Rows per ledger write (and per id resolution query). */
export const LEDGER_BATCH = 500;

export class MongoUserStore implements UserStore {
  private closed = false;
  private readonly pageSize: number;
  private readonly migColumn: string | null;

  constructor(
    private h: MongoHandles,
    private readonly mapping: MongoMapping,
    private readonly opts: MongoStoreOptions,
  ) {
    if (!mapping.users.table || !mapping.users.columns.password) throw new StoreError('store.users.table and columns.password are required', { transient: false });
    loginPlan(mapping); // configuration problems surface at start-up, not on the first login
    this.pageSize = opts.pageSize ?? SCAN_PAGE;
    this.migColumn = migrationField(mapping);
    if (!this.migColumn && !h.side) throw new StoreError('store.migration: a side collection handle is required', { transient: false });
  }

  private async guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreError(`${what} failed: the store is closed`);
    // The handles this call runs on: when its client's topology turns out closed, only they are replaced.
    const used = this.h;
    try {
      return await fn();
    } catch (e) {
      if (e instanceof StoreError) throw e;
      if ((e as { name?: unknown } | null)?.name === 'MongoTopologyClosedError' && !this.closed && this.opts.reopen) {
        // This call fails; the next one runs on a new client (its topology connects on first use). Every call in
        // flight on the dead client fails the same way: the first to get here replaces it, and the others leave
        // alone the client it opened (closing it would fail the calls already running on it, and reopen again).
        if (this.h === used) {
          this.h = this.opts.reopen();
          used.client.close().catch(() => {});
        }
        throw new StoreError(`${what} failed: the MongoDB client had closed its topology (the server was unreachable); a new client is opened for the next call`, { cause: e });
      }
      // A connection-level failure names the database, the driver's code and message, and a hint (src/dbhints.ts).
      if (this.opts.url && isConnectionError(e)) {
        throw new StoreError(`${what} failed: ${describeConnectionError(storeTarget('mongodb', this.opts.url), e, this.opts.url)}`, { cause: e });
      }
      // Never echo other driver messages (they may quote values or the URL); keep the error's code name only.
      const err = e as { codeName?: unknown; name?: unknown; code?: unknown };
      const code = typeof err.codeName === 'string' ? err.codeName : typeof err.name === 'string' && /^Mongo\w*Error$/.test(err.name) ? err.name : typeof err.code === 'string' ? err.code : undefined;
      throw new StoreError(`${what} failed${code ? ` (${code})` : ''}`, { cause: e });
    }
  }

  private find(q: FindQuery): Promise<Doc[]> {
    return this.h.users.find(q.filter, { ...q.options, maxTimeMS: this.opts.maxTimeMS } as Mongo.FindOptions).toArray() as Promise<Doc[]>;
  }

  private async withMarks(users: LegacyUser[]): Promise<LegacyUser[]> {
    if (this.migColumn || users.length === 0) return users;
    const q = buildSideLookup(users.map((u) => u.id));
    const marks = await this.guard('migration marks', () =>
      this.h.side!.find(q.filter, { ...q.options, maxTimeMS: this.opts.maxTimeMS }).toArray(),
    );
    const byId = new Map(marks.map((d) => [String(d._id), toIso(d.migrated_at)]));
    for (const u of users) u.migratedAt = byId.get(u.id) ?? null;
    return users;
  }

  async findCandidates(login: string): Promise<LegacyUser[]> {
    // Defence in depth: the HTTP layer only passes strings, but nothing else may ever become part of a filter.
    if (typeof login !== 'string' || login.trim() === '') return [];
    const q = buildLoginQuery(this.mapping, login);
    const docs = await this.guard('findByLogin', () => this.find(q));
    return this.withMarks(docs.map((d) => docToUser(this.mapping, d)).filter((u): u is LegacyUser => u !== null));
  }

  /** The document and its stored id (for updates), or null. */
  private async findDoc(id: string): Promise<{ doc: Doc; user: LegacyUser } | null> {
    if (typeof id !== 'string' || id === '') return null;
    const q = buildIdQuery(this.mapping, id, this.h.bson);
    const docs = await this.guard('findById', () => this.find(q));
    const doc = pickById(docs, this.mapping, id);
    const user = doc ? docToUser(this.mapping, doc) : null;
    if (!doc || !user) return null;
    await this.withMarks([user]);
    return { doc, user };
  }

  async findById(id: string): Promise<LegacyUser | null> {
    return (await this.findDoc(id))?.user ?? null;
  }

  async markMigrated(id: string): Promise<string | null> {
    const found = await this.findDoc(id);
    if (!found) return null;
    if (found.user.migratedAt) return found.user.migratedAt;
    const now = new Date();
    await this.guard('markMigrated', async () => {
      if (this.migColumn) {
        const u = buildMarkUpdate(this.mapping, readPath(found.doc, idField(this.mapping)), now);
        await this.h.users.updateOne(u.filter, u.update);
      } else {
        const s = buildSideMark(found.user.id, now, readPath(found.doc, idField(this.mapping)));
        try {
          await this.h.side!.updateOne(s.filter, s.update, s.options);
        } catch (e) {
          // Two upserts raced and the other one inserted first: its mark is the one that stays.
          if (!isDuplicateKey(e)) throw e;
        }
      }
    });
    // Read back: under concurrent marks, the first writer's timestamp is the one that stays.
    return (await this.findById(id))?.migratedAt ?? null;
  }

  async unmarkMigrated(id: string): Promise<boolean> {
    const found = await this.findDoc(id);
    if (!found) return false;
    await this.guard('unmarkMigrated', async () => {
      if (this.migColumn) {
        const u = buildUnmarkUpdate(this.mapping, readPath(found.doc, idField(this.mapping)));
        await this.h.users.updateOne(u.filter, u.update);
      } else {
        await this.h.side!.deleteOne(buildSideUnmark(found.user.id).filter);
      }
    });
    return true;
  }

  /**
   * Counted by the server, a handful of commands run together. Side-collection mode counts the marks themselves, as
   * it always has: exact unless legacy documents are deleted after they were marked. exported: the ledger's entries
   * joined to their users ($lookup on the users' id index) that exist, pass the filters and are not migrated (a
   * collection exists once written, so never null here). activeRemaining (last_login mapped): the not-migrated
   * users active since each cut-off, less the exported ones among them. Side-collection marks are joined to their
   * users through the stored id they carry. perDay: see marksPerDay.
   */
  async migrationStatus(): Promise<MigrationStatus> {
    const o = { maxTimeMS: this.opts.maxTimeMS };
    const m = this.mapping;
    const names = { users: m.users.table!, side: 'table' in m.migration ? m.migration.table : null };
    const ll = m.users.columns.last_login;
    const cutoffs = ll ? activeCutoffs(Date.now()) : null;
    const base = baseConditions(m);
    const activeCount = (since: Date) =>
      this.h.users.countDocuments(and([...base, ...(this.migColumn ? [{ [this.migColumn]: { $eq: null } }] : []), { [ll!]: { $gte: since } }]), o);
    const [total, migrated, exported, marked, active, perDay] = await this.guard('migrationStatus', () =>
      Promise.all([
        this.h.users.countDocuments(buildTotalCount(m), o),
        this.migColumn ? this.h.users.countDocuments(buildMigratedCount(m), o) : this.h.side!.countDocuments({}, o),
        this.h.ledger.aggregate(buildExportedPipeline(m, names, cutoffs), o).toArray(),
        cutoffs && !this.migColumn ? this.h.side!.aggregate(buildMarkedActivePipeline(m, names.users, cutoffs), o).toArray() : Promise.resolve([]),
        cutoffs ? Promise.all(cutoffs.map(activeCount)) : Promise.resolve(null),
        this.marksPerDay(),
      ]),
    );
    const exportedCount = facetCount(exported[0], 'all');
    const remainingActive = (i: 0 | 1) => {
      const facet = i === 0 ? 'active30' : 'active90';
      return Math.max(0, (active?.[i] ?? 0) - facetCount(marked[0], facet) - facetCount(exported[0], facet));
    };
    return {
      total,
      migrated,
      exported: exportedCount,
      remaining: Math.max(0, total - migrated - exportedCount),
      perDay,
      activeRemaining: active ? { days30: remainingActive(0), days90: remainingActive(1) } : null,
    };
  }

  /**
   * The marks per UTC day, grouped by the server ($dateToString). A server that can't evaluate that expression (it
   * refuses it, or returns it unevaluated: wire-compatible emulators) gets the marks' times read, one field, and
   * counted here.
   */
  private async marksPerDay(): Promise<MigrationStatus['perDay']> {
    const q = buildPerDay(this.mapping);
    const coll = q.side ? this.h.side! : this.h.users;
    const o = { maxTimeMS: this.opts.maxTimeMS };
    const isDay = (v: unknown): v is string => typeof v === 'string' && /^\d{4}-\d\d-\d\d$/.test(v);
    let groups: Doc[] | null;
    try {
      groups = await coll.aggregate(q.pipeline, o).toArray();
      if (!groups.every((g) => isDay(g._id))) groups = null;
    } catch (e) {
      if (!isUnsupported(e)) throw e;
      groups = null;
    }
    const counts = new Map<string, number>();
    if (groups) for (const g of groups) counts.set(g._id as string, Number(g.n));
    else {
      for await (const d of coll.find(q.match, { ...o, projection: { [q.field]: 1 } })) {
        const day = toIso(readPath(d, q.field))?.slice(0, 10);
        if (isDay(day)) counts.set(day, (counts.get(day) ?? 0) + 1);
      }
    }
    return [...counts].sort(([a], [b]) => (a < b ? -1 : 1)).map(([day, count]) => ({ day, count }));
  }

  /**
   * The export ledger, per LEDGER_BATCH ids: one query for the users' stored ids, one for the entries that exist, one
   * unordered insert of the others (a repeat keeps the first time). A concurrent export that inserted some of them
   * first makes the insert fail on those keys only: the entries are then read again and the rest inserted. Each entry
   * keeps the user's stored id (an id that names no user keeps the id as given).
   */
  async markExported(ids: string[]): Promise<void> {
    const unique = [...new Set(ids)];
    for (const id of unique) if (typeof id !== 'string') throw new TypeError('user ids must be strings');
    const now = new Date();
    await this.guard('markExported', async () => {
      for (let i = 0; i < unique.length; i += LEDGER_BATCH) {
        const batch = unique.slice(i, i + LEDGER_BATCH);
        const docs = await this.find(buildIdsQuery(this.mapping, batch, this.h.bson));
        const byId = new Map<string, Doc[]>();
        for (const d of docs) {
          const id = canonicalId(readPath(d, idField(this.mapping)));
          if (id !== null) byId.set(id, [...(byId.get(id) ?? []), d]);
        }
        const entries = batch.map((id) => {
          const doc = pickById(byId.get(id) ?? [], this.mapping, id);
          return buildLedgerDoc(id, doc ? readPath(doc, idField(this.mapping)) : id, now);
        });
        for (let attempt = 1; ; attempt++) {
          const q = buildKeysLookup(batch);
          const have = new Set((await this.h.ledger.find(q.filter, { ...q.options, maxTimeMS: this.opts.maxTimeMS }).toArray()).map((d) => String(d._id)));
          const missing = entries.filter((d) => !have.has(d._id as string));
          if (missing.length === 0) break;
          try {
            await this.h.ledger.insertMany(missing, { ordered: false });
            break;
          } catch (e) {
            if (!onlyDuplicateKeys(e) || attempt === 3) throw e;
          }
        }
      }
    });
  }

  async *scan(): AsyncIterable<LegacyUser> {
    let after: { value: unknown } | null = null;
    for (;;) {
      const q = buildScanQuery(this.mapping, after, this.h.bson, this.pageSize);
      const docs = await this.guard('scan', () => this.find(q));
      const users = docs.map((d) => docToUser(this.mapping, d)).filter((u): u is LegacyUser => u !== null);
      await this.withMarks(users);
      for (const u of users) yield u;
      if (docs.length < this.pageSize) return;
      after = { value: readPath(docs[docs.length - 1], idField(this.mapping)) };
    }
  }

  async ping(): Promise<void> {
    await this.guard('ping', () => this.h.db.command({ ping: 1 }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.h.client.close();
  }
}

/** Test seams: a smaller scan page, and the driver's command events (to see exactly what reaches the server). */
export interface MongoTestHooks {
  pageSize?: number;
  onCommand?: (e: { commandName: string; command: Doc }) => void;
}

/**
 * Open the store. The driver connects on the first operation, so an unreachable server is an error of the queries
 * (StoreError → 503), not of start-up. store.query_timeout_ms bounds server selection, connecting and each query
 * (maxTimeMS); store.pool_max is the driver's maxPoolSize.
 */
export async function createMongoStore(cfg: MongoStoreConfig, hooks: MongoTestHooks = {}): Promise<MongoUserStore> {
  const mongo = loadDriver<typeof Mongo>('mongodb', 'mongodb');
  const dbName = databaseName(cfg.url, cfg.mongodb?.database);
  const t = cfg.query_timeout_ms;
  const open = (): MongoHandles => {
    const client = new mongo.MongoClient(cfg.url, {
      appName: 'legacy-gateway',
      maxPoolSize: cfg.pool_max,
      serverSelectionTimeoutMS: t,
      connectTimeoutMS: t,
      // A stalled server must not hold a request forever; maxTimeMS normally answers first.
      socketTimeoutMS: t + 2000,
      monitorCommands: !!hooks.onCommand,
    });
    if (hooks.onCommand) {
      const cb = hooks.onCommand;
      client.on('commandStarted', (ev) => cb({ commandName: ev.commandName, command: ev.command as Doc }));
    }
    const db = client.db(dbName);
    return {
      client,
      db,
      users: db.collection<Doc>(cfg.users.table!),
      side: 'table' in cfg.migration ? db.collection<Doc>(cfg.migration.table) : null,
      ledger: db.collection<Doc>(exportsTable(cfg.migration)),
      bson: { ObjectId: mongo.ObjectId, UUID: mongo.UUID, Long: mongo.Long, Binary: mongo.Binary },
    };
  };
  let handles: MongoHandles;
  try {
    handles = open();
  } catch (e) {
    // MongoParseError messages can quote the URL: never echo them.
    const name = (e as { name?: unknown }).name;
    throw new StoreError(`store.url is not a valid MongoDB connection string${typeof name === 'string' ? ` (${name})` : ''}`, { cause: e, transient: false });
  }
  try {
    return new MongoUserStore(
      handles,
      { users: cfg.users, migration: cfg.migration, mongodb: cfg.mongodb },
      { maxTimeMS: t, url: cfg.url, reopen: open, ...(hooks.pageSize ? { pageSize: hooks.pageSize } : {}) },
    );
  } catch (e) {
    await handles.client.close().catch(() => {});
    throw e;
  }
}
