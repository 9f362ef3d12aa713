function getByEmail(email, callback) {
  // The migration is over: every user lives in Auth0 now, and the legacy store is not asked any more. Keep
  // "Import Users to Auth0" on; an identifier Auth0 does not have is a user that does not exist.
  return callback(null, null);
}
