/** Store factory. Drivers are loaded lazily: a deployment only imports the driver it uses. */
import type { Config } from '../src/config.js';
import { StoreError, type UserStore } from './types.js';

export async function createStore(store: Config['store']): Promise<UserStore> {
  switch (store.adapter) {
    case 'sqlite': {
      const { createSqliteStore } = await import('./sqlite.js');
      return createSqliteStore(store.url, store);
    }
    case 'postgres': {
      const { createPostgresStore } = await import('./postgres.js');
      return createPostgresStore(store);
    }
    case 'mysql': {
      const { createMysqlStore } = await import('./mysql.js');
      return createMysqlStore(store);
    }
    case 'mssql': {
      const { createMssqlStore } = await import('./mssql.js');
      return createMssqlStore(store);
    }
    case 'oracle': {
      const { createOracleStore } = await import('./oracle.js');
      return createOracleStore(store);
    }
    case 'mongodb': {
      const { createMongoStore } = await import('./mongodb.js');
      return createMongoStore(store);
    }
    case 'http': {
      const { createHttpStore } = await import('./http.js');
      return createHttpStore(store);
    }
    default:
      throw new StoreError(`store.adapter "${store.adapter}" is not available in this version (available: sqlite, postgres, mysql, mssql, oracle, mongodb, http)`, { transient: false });
  }
}

export * from './types.js';
