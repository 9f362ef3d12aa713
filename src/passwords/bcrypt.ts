import { verify as bcryptVerify } from '@node-rs/bcrypt';
import type { PasswordScheme } from './types.js';

const BCRYPT = /^\$2[abxy]\$(\d{2})\$[./A-Za-z0-9]{53}$/;
/** A stored value is data: cost 31 would hold a worker thread for days. Real stores use 4..14. */
export const MAX_BCRYPT_COST = 16;

/** bcrypt $2a$/$2b$/$2y$ (and $2x$ labels), verified natively on the libuv thread pool. */
export const bcrypt: PasswordScheme = {
  name: 'bcrypt',
  detect: (stored) => BCRYPT.test(stored.trim()),
  async verify(password, stored, ctx) {
    const hash = stored.trim();
    const m = BCRYPT.exec(hash);
    if (!m || Number(m[1]) < 4 || Number(m[1]) > MAX_BCRYPT_COST) return false;
    // Devise (config.pepper) and some custom apps hash password + pepper.
    return bcryptVerify(ctx?.params?.pepper ? password + ctx.params.pepper : password, hash);
  },
};
