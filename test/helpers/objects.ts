// Stored objects for store tests: metadata as the pipeline builds it around any body.

import type { CachedObject, ObjectMeta, StoredBody } from '../../shared/cache/store.js';

/** One variant of `key`, fresh for 60 s, with no headers unless `meta` gives them. */
export function storedObject(key: string, body: StoredBody, meta: Partial<ObjectMeta> = {}): CachedObject {
  return {
    meta: {
      v: 2,
      key,
      variant: '',
      vary: [],
      status: 200,
      headers: [],
      requestTimeMs: 0,
      responseTimeMs: 0,
      initialAgeSec: 0,
      lifetimeSec: 60,
      staleWhileRevalidateSec: 0,
      staleIfErrorSec: 0,
      mustRevalidate: false,
      invalidated: false,
      tags: [],
      size: body.size,
      ...meta,
    },
    body,
  };
}
