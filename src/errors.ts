/** Stable error codes and the one error body shape: {"error": "<code>", "message": "<text>"}. */
export type ErrorCode =
  | 'invalid_request'
  | 'malformed_json'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'not_found'
  | 'invalid_token'
  | 'unauthorized'
  | 'insufficient_scope'
  | 'forbidden_ip'
  | 'invalid_credentials'
  | 'user_blocked'
  | 'user_not_found'
  | 'ambiguous_login'
  | 'too_many_attempts'
  | 'too_many_requests'
  | 'limiter_unavailable'
  | 'deadline_exceeded'
  /** Read by no caller: a verify whose caller left (its connection closed) before its password check started (the audit log's outcome). */
  | 'request_abandoned'
  | 'store_unavailable'
  | 'internal_error';

export class ApiError extends Error {
  constructor(
    public readonly status: number,
    public readonly code: ErrorCode,
    message: string,
    public readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const invalidCredentials = () => new ApiError(401, 'invalid_credentials', 'Wrong username or password.');
export const userNotFound = () => new ApiError(404, 'user_not_found', 'No such user.');
export const ambiguousLogin = () =>
  new ApiError(409, 'ambiguous_login', 'This login matches more than one legacy account.');
export const storeUnavailable = (retryAfterS = 5) =>
  new ApiError(503, 'store_unavailable', 'The legacy store is unavailable. Try again later.', {
    'Retry-After': String(retryAfterS),
  });
