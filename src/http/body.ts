/** JSON request bodies, for the /v1 API and the IdP front doors alike: UTF-8 only, bounded, objects only. */
import { isUtf8 } from 'node:buffer';
import express, { type Request, type RequestHandler } from 'express';
import { ApiError } from '../errors.js';

/** Bodies are UTF-8 JSON; body-parser alone would also take utf-16. */
export const utf8Only: RequestHandler = (req, _res, next) => {
  const type = req.headers['content-type'];
  if (type) {
    const m = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(type);
    if (m && m[1]!.toLowerCase() !== 'utf-8' && m[1]!.toLowerCase() !== 'utf8') {
      next(new ApiError(415, 'unsupported_media_type', 'Send the body as UTF-8 application/json.'));
      return;
    }
  }
  next();
};

/**
 * Refuses a body that is not valid UTF-8 (body-parser would decode it with U+FFFD for every bad byte, so a password
 * would be verified as other text than was sent). Thrown from body-parser's `verify`, it arrives as a
 * type 'entity.verify.failed' error: bodyParserError maps it to 400 malformed_json.
 */
function utf8Bytes(_req: unknown, _res: unknown, buf: Buffer): void {
  if (!isUtf8(buf)) throw new Error('the body is not valid UTF-8');
}

/**
 * utf8Only, then express.json(). strict: false so that a bare "str" / 42 / null parses and is refused as
 * invalid_request (not a JSON object) rather than as malformed JSON. `type` widens what counts as JSON (an IdP that
 * sends application/cloudevents+json).
 */
export function jsonBody(limit: string, type: string | string[] = 'application/json'): RequestHandler[] {
  return [utf8Only, express.json({ limit, strict: false, type, verify: utf8Bytes })];
}

/**
 * A body-parser error (it carries a string `type`) as the API's error: 400 malformed_json (not JSON, or not UTF-8),
 * 413 payload_too_large, 415 unsupported_media_type, any other 4xx 400 invalid_request. undefined for anything else.
 * The one mapping for the app's error handler and for a door that answers in its IdP's own shape.
 */
export function bodyParserError(err: unknown): ApiError | undefined {
  const x = err as { type?: unknown; status?: unknown } | null | undefined;
  if (!x || typeof x.type !== 'string') return undefined;
  switch (x.type) {
    case 'entity.parse.failed':
    case 'entity.verify.failed':
      return new ApiError(400, 'malformed_json', 'The body is not valid JSON.');
    case 'entity.too.large':
      return new ApiError(413, 'payload_too_large', 'The body is too large.');
    case 'charset.unsupported':
    case 'encoding.unsupported':
      return new ApiError(415, 'unsupported_media_type', 'Send the body as UTF-8 application/json.');
  }
  return typeof x.status === 'number' && x.status >= 400 && x.status < 500 ? new ApiError(400, 'invalid_request', 'The request could not be read.') : undefined;
}

export function requireJson(req: Request, type: string | string[] = 'application/json'): void {
  if (!req.is(type)) {
    throw new ApiError(415, 'unsupported_media_type', 'Send the body as application/json.');
  }
}

/** The parsed body as a plain object; anything else (an array, a string, null, no body) is a 400. */
export function bodyObject(req: Request): Record<string, unknown> {
  const b: unknown = req.body;
  if (b === undefined || b === null || typeof b !== 'object' || Array.isArray(b)) {
    throw new ApiError(400, 'invalid_request', 'The body must be a JSON object.');
  }
  return b as Record<string, unknown>;
}
