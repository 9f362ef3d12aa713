/** Configuration of the mongodb store (store.mongodb). */
import { z } from 'zod';

// Placeholder: the mongodb adapter's own options are defined with the adapter.
export const mongodbStoreConfig = z.object({}).passthrough();
export type MongodbStoreConfig = z.infer<typeof mongodbStoreConfig>;
