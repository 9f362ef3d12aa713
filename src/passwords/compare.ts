import { timingSafeEqual } from 'node:crypto';

/** Constant-time equality of two byte strings (false on length mismatch, without early exit on content). */
export function safeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) {
    timingSafeEqual(a, a);
    return false;
  }
  return timingSafeEqual(a, b);
}
