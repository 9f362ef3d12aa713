/**
 * Auth0's user-import JSON schema, for the export tests. test/fixtures/auth0/auth0-users-import.schema.json is a
 * byte-identical copy of the "User JSON schema" code block of Auth0's bulk-import schema page
 * (auth0/docs-v2, docs/manage-users/user-migration/bulk-user-import-schema.mdx at commit 3bc5f0b2), as kept with the
 * project's Auth0 reference notes. It describes one user; an import file is a JSON array of them. Formats (email) are
 * checked with ajv-formats, as a JSON-schema validator would.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';

const addFormats = (addFormatsModule.default ?? addFormatsModule) as unknown as typeof addFormatsModule.default;

const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);
const validate = ajv.compile(JSON.parse(readFileSync(path.resolve('test/fixtures/auth0/auth0-users-import.schema.json'), 'utf8')) as object);

/** The schema's errors for one import record ([] when valid). */
export function importRecordErrors(record: unknown): string[] {
  return validate(record) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '(record)'} ${e.message ?? e.keyword}`);
}
