/** Configuration of the http store (store.http): a legacy system that only exposes a web service. */
import { z } from 'zod';

// Placeholder: the http adapter's own schema is defined with the adapter.
export const httpStoreConfig = z.object({}).passthrough();
export type HttpStoreConfig = z.infer<typeof httpStoreConfig>;
