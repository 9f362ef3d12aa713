/**
 * The store section most suites configure: a `users` table with id, email, username and password_hash, and the
 * migration side table. Suites add what they need (pool sizes, timeouts) by spreading it.
 */
export const TEST_USERS_TABLE = { table: 'users', columns: { id: 'id', email: 'email', username: 'username', password: 'password_hash' } } as const;

export function testStore<A extends string>(adapter: A, url: string) {
  return { adapter, url, users: TEST_USERS_TABLE, migration: { table: 'legacy_gateway_migrations' } };
}
