import type { Response } from 'express';

/**
 * A signal that aborts when the client's connection closes before its response was written: an IdP whose own
 * timeout passed, a proxy that gave up. A verification still waiting for a hash slot is then skipped
 * (Gateway.verify), so that a burst of logins beyond the hash rate is not worked off for callers that have left.
 */
export function clientGone(res: Response): AbortSignal {
  const gone = new AbortController();
  // Gone already, while the token was checked or the body read: its 'close' has passed.
  if (res.req.socket.destroyed && !res.writableFinished) gone.abort();
  res.once('close', () => {
    if (!res.writableFinished) gone.abort();
  });
  return gone.signal;
}
