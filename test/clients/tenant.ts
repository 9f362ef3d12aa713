/**
 * A model of one Auth0 custom database connection with "Import Users to Auth0" on (automatic migration), as Auth0's
 * documentation describes it, driving the real scripts in the sandbox:
 * - login: a user Auth0 already has is checked against Auth0's own store and the scripts are not called; otherwise
 *   the Login script runs, and on success Auth0 creates the user ("auth0|" + the returned user_id) with the password
 *   just typed and the returned profile (metadata → app_metadata);
 * - sign-up: Get User runs first; a user it finds "already exists" and is not created;
 * - password reset: for a user Auth0 does not have, Get User runs; a found user is created with the new password and
 *   the Get User profile, and logs in through Auth0 from then on;
 * - after a successful login, the post-login Actions run in order; a deny or a throw fails the login, and their
 *   metadata writes are applied once all of them are done.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  getUserOutcome,
  loginOutcome,
  postLoginEvent,
  type ActionRun,
  type ActionsRuntime,
  type GetUserOutcome,
  type LoginOutcome,
  type ScriptContainer,
} from './sandbox.js';

export interface Auth0User {
  user_id: string;
  email?: string;
  email_verified?: boolean;
  username?: string;
  name?: string;
  given_name?: string;
  family_name?: string;
  nickname?: string;
  picture?: string;
  app_metadata: Record<string, unknown>;
  user_metadata: Record<string, unknown>;
  logins_count: number;
  /** How the user came to be: from the Login script, from Get User (a reset), or a sign-up in Auth0. */
  origin: 'login' | 'get_user' | 'signup';
  passwordDigest: string;
}

export type LoginResult =
  | { ok: true; user: Auth0User; viaScript: boolean; actions: ActionRun[] }
  | { ok: false; reason: 'wrong_password' | 'fp' | 'fu' | 'unauthorized' | 'failed' | 'error' | 'timeout' | 'denied' | 'action_error'; message?: string; viaScript: boolean; actions: ActionRun[] };

const digest = (password: string, salt: string) => createHash('sha256').update(`${salt}:${password}`).digest('hex');
const norm = (s: string) => s.trim().toLowerCase();

export class ImportModeConnection {
  readonly users = new Map<string, Auth0User & { salt: string }>();

  constructor(
    readonly name: string,
    private readonly scripts: { login: string; get_user: string },
    private readonly container: ScriptContainer,
    private readonly actions: { runtime: ActionsRuntime; sources: string[]; secrets: Record<string, string> },
  ) {}

  /** The Auth0 user with this email or username. */
  find(identifier: string): (Auth0User & { salt: string }) | undefined {
    const id = norm(identifier);
    for (const u of this.users.values()) if (u.email === id || u.username === id) return u;
    return undefined;
  }

  private create(profile: Record<string, unknown>, password: string, origin: Auth0User['origin']): Auth0User & { salt: string } {
    const salt = randomBytes(8).toString('hex');
    const user: Auth0User & { salt: string } = {
      user_id: `auth0|${String(profile.user_id ?? profile.id)}`,
      app_metadata: { ...((profile.metadata ?? profile.app_metadata ?? {}) as Record<string, unknown>) },
      user_metadata: { ...((profile.user_metadata ?? {}) as Record<string, unknown>) },
      logins_count: 0,
      origin,
      salt,
      passwordDigest: digest(password, salt),
    };
    for (const k of ['email', 'username'] as const) if (typeof profile[k] === 'string') user[k] = norm(profile[k] as string);
    for (const k of ['name', 'given_name', 'family_name', 'nickname', 'picture'] as const) if (typeof profile[k] === 'string') user[k] = profile[k] as string;
    if (typeof profile.email_verified === 'boolean') user.email_verified = profile.email_verified;
    if (this.users.has(user.user_id)) throw new Error(`user already exists: ${user.user_id}`);
    this.users.set(user.user_id, user);
    return user;
  }

  private async postLogin(user: Auth0User & { salt: string }, viaScript: boolean, audience?: string): Promise<LoginResult> {
    user.logins_count += 1;
    const runs: ActionRun[] = [];
    const event = postLoginEvent({
      connection: this.name,
      user: {
        user_id: user.user_id,
        ...(user.email !== undefined ? { email: user.email } : {}),
        ...(user.username !== undefined ? { username: user.username } : {}),
        app_metadata: user.app_metadata,
        user_metadata: user.user_metadata,
      },
      secrets: this.actions.secrets,
      loginsCount: user.logins_count,
      ...(audience !== undefined ? { audience } : {}),
    });
    for (const source of this.actions.sources) {
      const run = await this.actions.runtime.postLogin(source, event);
      runs.push(run);
      if (run.denied !== undefined) return { ok: false, reason: 'denied', message: run.denied, viaScript, actions: runs };
      if (run.threw !== undefined || run.timedOut) return { ok: false, reason: 'action_error', message: String((run.threw as Error)?.message ?? 'timeout'), viaScript, actions: runs };
    }
    for (const run of runs) {
      Object.assign(user.app_metadata, run.appMetadata);
      Object.assign(user.user_metadata, run.userMetadata);
    }
    return { ok: true, user, viaScript, actions: runs };
  }

  async login(identifier: string, password: string, opts: { audience?: string } = {}): Promise<LoginResult & { outcome?: LoginOutcome }> {
    const known = this.find(identifier);
    if (known) {
      if (known.passwordDigest !== digest(password, known.salt)) return { ok: false, reason: 'wrong_password', viaScript: false, actions: [] };
      return this.postLogin(known, false, opts.audience);
    }
    const outcome = loginOutcome(await this.container.login(this.scripts.login, identifier, password));
    if (outcome.kind !== 'profile') {
      const message = 'message' in outcome ? outcome.message : undefined;
      return { ok: false, reason: outcome.kind, ...(message !== undefined ? { message } : {}), viaScript: true, actions: [], outcome };
    }
    return { ...(await this.postLogin(this.create(outcome.profile, password, 'login'), true, opts.audience)), outcome };
  }

  async signup(email: string, password: string): Promise<{ ok: true; user: Auth0User } | { ok: false; reason: 'user_exists' | 'error'; outcome?: GetUserOutcome }> {
    if (this.find(email)) return { ok: false, reason: 'user_exists' };
    const outcome = getUserOutcome(await this.container.getUser(this.scripts.get_user, email));
    if (outcome.kind === 'profile') return { ok: false, reason: 'user_exists', outcome };
    if (outcome.kind !== 'not_found') return { ok: false, reason: 'error', outcome };
    const user = this.create({ user_id: randomBytes(12).toString('hex'), email }, password, 'signup');
    return { ok: true, user };
  }

  /** The whole reset flow (request, link, new password). */
  async resetPassword(email: string, newPassword: string): Promise<{ ok: true; user: Auth0User | null; outcome?: GetUserOutcome } | { ok: false; outcome: GetUserOutcome }> {
    const known = this.find(email);
    if (known) {
      known.passwordDigest = digest(newPassword, known.salt);
      return { ok: true, user: known };
    }
    const outcome = getUserOutcome(await this.container.getUser(this.scripts.get_user, email));
    if (outcome.kind === 'profile') return { ok: true, user: this.create(outcome.profile, newPassword, 'get_user'), outcome };
    if (outcome.kind === 'not_found') return { ok: true, user: null, outcome };
    return { ok: false, outcome };
  }
}
