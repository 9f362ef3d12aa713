/**
 * Configuration of the mongodb store (store.mongodb). Everything else comes from the common store settings:
 * store.users.table is the collection, store.users.columns are field paths ("email", "profile.email"), store.migration
 * is { column: field } or { table: side collection }, query_timeout_ms and pool_max govern the driver.
 *
 *   store:
 *     adapter: mongodb
 *     url: mongodb://user:password@host:27017/legacy?authSource=admin
 *     mongodb:
 *       database: legacy                       # default: the URL's path
 *       collation: { locale: en, strength: 2 } # the default: case-insensitive login matching by the server
 *       normalized: { email: emailLower }      # OR: fields that already hold the lower-cased login (no collation)
 *
 * Case-insensitive login, two ways:
 *  - collation (default): the login query carries { locale, strength: 2 } (strength 1 also ignores accents). It is
 *    fast only with an index of the SAME collation on each login field:
 *      db.users.createIndex({ email: 1 }, { collation: { locale: 'en', strength: 2 } })
 *      db.users.createIndex({ username: 1 }, { collation: { locale: 'en', strength: 2 } })
 *    Without one, every login is a collection scan.
 *  - normalized: the app already keeps a lower-cased copy (emailLower, usernameLower, or passport-local-mongoose's
 *    usernameLowerCase option making `username` itself lower-case). Each login field configured in store.users.columns
 *    must then name its normalized field; the login is lower-cased (String.prototype.toLowerCase) and compared
 *    exactly, so an ordinary index on that field serves it.
 */
import { z } from 'zod';

/** A document field path: up to 8 dotted segments, no '$' at the start of a segment. */
const fieldPath = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}(\.[A-Za-z_][A-Za-z0-9_]{0,127}){0,7}$/, 'must be a field path (name or a.b.c)');

export const mongodbStoreConfig = z
  .object({
    /**
     * The database. Wins over the URL's path, which MongoDB URLs also use as the authentication database
     * (mongodb://u:p@host/admin + database: legacy). Required when the URL has no path.
     */
    database: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,63}$/, 'letters, digits, _ and - only')
      .optional(),
    /** ICU collation of the login query (ignored when `normalized` is set). Strength 3 and above are case-SENSITIVE. */
    collation: z
      .object({
        locale: z.string().regex(/^[a-z]{2,3}(_[A-Za-z0-9]{2,8})*(@collation=[a-z]+)?$/, 'an ICU locale such as en, de, fr_CA, de@collation=phonebook'),
        strength: z.union([z.literal(1), z.literal(2)]).default(2),
      })
      .strict()
      .default({ locale: 'en', strength: 2 }),
    /** Fields holding the lower-cased email / username. When set, no collation is used. */
    normalized: z
      .object({ email: fieldPath.optional(), username: fieldPath.optional() })
      .strict()
      .refine((n) => n.email !== undefined || n.username !== undefined, 'name at least one of email, username')
      .optional(),
  })
  .strict();
export type MongodbStoreConfig = z.infer<typeof mongodbStoreConfig>;
