import { verify as bcryptVerify } from '@node-rs/bcrypt';
import { bcryptCostAllowed } from './limits.js';
import type { PasswordScheme } from './types.js';

const BCRYPT = /^\$2[abxy]\$(\d{2})\$[./A-Za-z0-9]{53}$/;

/** bcrypt $2a$/$2b$/$2y$ (and $2x$ labels), verified natively on the libuv thread pool; cost capped by limits.ts. */
export const bcrypt: PasswordScheme = {
  name: 'bcrypt',
  detect: (stored) => BCRYPT.test(stored.trim()),
  async verify(password, stored, ctx) {
    const hash = stored.trim();
    const m = BCRYPT.exec(hash);
    if (!m || !bcryptCostAllowed(m[1]!)) return false;
    // Devise (config.pepper) and some custom apps hash password + pepper.
    return bcryptVerify(ctx?.params?.pepper ? password + ctx.params.pepper : password, hash);
  },
};
