import { verify as bcryptVerify } from '@node-rs/bcrypt';
import type { PasswordScheme } from './types.js';

const BCRYPT = /^\$2[abxy]\$\d{2}\$[./A-Za-z0-9]{53}$/;

/** bcrypt $2a$/$2b$/$2y$ (and $2x$ labels), verified natively on the libuv thread pool. */
export const bcrypt: PasswordScheme = {
  name: 'bcrypt',
  detect: (stored) => BCRYPT.test(stored.trim()),
  async verify(password, stored) {
    const hash = stored.trim();
    if (!BCRYPT.test(hash)) return false;
    return bcryptVerify(password, hash);
  },
};
