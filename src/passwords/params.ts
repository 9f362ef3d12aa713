/**
 * passwords.params: the knobs some schemes need. Parsed once at start-up (unknown keys and bad values are
 * start-up errors), then handed to every verifier as VerifyContext.params.
 */
import { z } from 'zod';

const encoding = z.enum(['utf8', 'hex', 'base64']);

export const schemeParamsSchema = z
  .object({
    /** Appended to the password before hashing (Devise's pepper, some custom apps). */
    pepper: z.string().optional(),
    /** Key for HMAC-based schemes, and its encoding. */
    hmac_key: z.string().optional(),
    hmac_key_encoding: encoding.default('utf8'),
    /** Where a plain digest's salt comes from and where it goes. */
    salt: z
      .object({
        source: z.enum(['column', 'constant']).default('column'),
        value: z.string().optional(),
        position: z.enum(['prefix', 'suffix']).default('prefix'),
        encoding: encoding.default('utf8'),
      })
      .strict()
      .optional(),
    /** Encoding of a plain digest's stored value. 'auto' accepts hex (any case) or base64. */
    digest_encoding: z.enum(['auto', 'hex', 'base64']).default('auto'),
    /** How the password's characters become bytes (ASP.NET uses utf16le). */
    password_encoding: z.enum(['utf8', 'utf16le', 'latin1']).default('utf8'),
    /** passport-local-mongoose's plugin options, when the app changed them (defaults: 25000, sha256, hex). */
    passport_local_mongoose: z
      .object({
        iterations: z.number().int().min(1).optional(),
        digest: z.enum(['sha1', 'sha256', 'sha512']).optional(),
        encoding: z.enum(['hex', 'base64']).optional(),
      })
      .strict()
      .optional(),
    /** Firebase's modified scrypt: the project's hash parameters (base64 as Firebase shows them). */
    firebase: z
      .object({
        signer_key: z.string().min(1),
        salt_separator: z.string().default('Bw=='),
        rounds: z.number().int().min(1).max(8),
        mem_cost: z.number().int().min(1).max(14),
      })
      .strict()
      .optional(),
  })
  .strict();

export type SchemeParams = z.infer<typeof schemeParamsSchema>;

export function parseSchemeParams(raw: unknown): { params: SchemeParams; problems: string[] } {
  const r = schemeParamsSchema.safeParse(raw ?? {});
  if (r.success) return { params: r.data, problems: [] };
  return {
    params: schemeParamsSchema.parse({}),
    problems: r.error.issues.map((i) => `passwords.params.${i.path.join('.')}: ${i.message}`),
  };
}

/** Decode a configured byte string (key, constant salt) in its declared encoding. */
export function decodeBytes(value: string, enc: 'utf8' | 'hex' | 'base64'): Buffer {
  return Buffer.from(value, enc);
}
