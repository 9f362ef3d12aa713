/**
 * Writes clients/auth0-deploy/: the Auth0 client kit in the directory format of Auth0's Deploy CLI (auth0-deploy-cli,
 * `a0deploy import --input_file clients/auth0-deploy/tenant --config_file config.json`), built from clients/auth0/ so
 * that the scripts and Actions exist once. Run it after changing anything in clients/auth0/:
 *
 *   npx tsc -p . && node dist/scripts/auth0-deploy-layout.js
 *
 * test/clients/deploy.test.ts fails when the committed tree differs from what this writes.
 *
 * What the tree holds:
 * - tenant/database-connections/legacy-users/: the custom database connection named ##LEGACY_CONNECTION## (the connection ("Use my own database" =
 *   options.enabledDatabaseCustomization, "Import Users to Auth0" = options.import_mode), its Login and Get User
 *   scripts, and their configuration values as keyword placeholders (##GATEWAY_CLIENT_SECRET##, ...);
 * - tenant/actions/: the two post-login Actions with their secrets as placeholders; tenant/triggers/triggers.json
 *   binds them to post-login (deny-audience first);
 * - tenant/resource-servers/: the gateway API (identifier ##GATEWAY_AUDIENCE##) with the gateway's four scopes;
 * - tenant/clients/ and tenant/grants/: the machine-to-machine application the scripts and the Action use, granted
 *   verify:credentials, read:users and migrate:users (not read:migration: that one is for operators);
 * - config.example.json: a Deploy CLI configuration limited to these resource types, never deleting anything, with
 *   the keyword mappings to fill in.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CONNECTION_DIR = 'legacy-users';
export const ACTION_NAMES = { deny: 'legacy-gateway-deny-audience', mark: 'legacy-gateway-mark-migrated' } as const;
export const M2M_CLIENT = 'legacy-gateway-scripts';
export const API_NAME = 'legacy-gateway';

/** The gateway's scopes (DESIGN §2), and the ones the kit's application is granted. */
export const API_SCOPES = [
  { value: 'verify:credentials', description: 'Verify a legacy password (the Login script)' },
  { value: 'read:users', description: 'Look up legacy users (the Get User script, the mark-migrated Action)' },
  { value: 'migrate:users', description: 'Mark legacy users migrated (the mark-migrated Action)' },
  { value: 'read:migration', description: 'Read the migration progress (operators)' },
];
export const GRANTED_SCOPES = ['verify:credentials', 'read:users', 'migrate:users'];

const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;
const placeholders = (names: string[]) => Object.fromEntries(names.map((n) => [n, `##${n}##`]));
const SCRIPT_CONFIGURATION = ['AUTH0_DOMAIN', 'GATEWAY_URL', 'GATEWAY_AUDIENCE', 'GATEWAY_CLIENT_ID', 'GATEWAY_CLIENT_SECRET'];

/** The repository root: the first directory up from here (or the working directory) with clients/auth0/login.js. */
export function repoRoot(): string {
  for (const start of [path.dirname(fileURLToPath(import.meta.url)), process.cwd()]) {
    for (let dir = start; ; dir = path.dirname(dir)) {
      try {
        if (statSync(path.join(dir, 'clients', 'auth0', 'login.js')).isFile()) return dir;
      } catch {
        // keep looking up
      }
      if (path.dirname(dir) === dir) break;
    }
  }
  throw new Error('cannot find the repository root (clients/auth0/login.js)');
}

/** Every file of clients/auth0-deploy/, relative path → content, built from clients/auth0/ under root. */
export function deployLayout(root: string): Map<string, string> {
  const kit = (f: string) => readFileSync(path.join(root, 'clients', 'auth0', f), 'utf8');
  const files = new Map<string, string>();
  const db = `tenant/database-connections/${CONNECTION_DIR}`;
  files.set(`${db}/login.js`, kit('login.js'));
  files.set(`${db}/get_user.js`, kit('get_user.js'));
  files.set(`${db}/database.json`, json({
    name: '##LEGACY_CONNECTION##',
    strategy: 'auth0',
    options: {
      enabledDatabaseCustomization: true,
      import_mode: true,
      customScripts: { login: './login.js', get_user: './get_user.js' },
      configuration: placeholders(SCRIPT_CONFIGURATION),
    },
  }));
  const action = (name: string, file: string, secrets: string[]) => {
    files.set(`tenant/actions/${name}/code.js`, kit(file));
    files.set(`tenant/actions/${name}.json`, json({
      name,
      code: `./actions/${name}/code.js`,
      runtime: 'node22',
      dependencies: [],
      secrets: secrets.map((s) => ({ name: s, value: `##${s}##` })),
      supported_triggers: [{ id: 'post-login', version: 'v3' }],
      deployed: true,
    }));
  };
  action(ACTION_NAMES.deny, 'deny-gateway-audience.action.js', ['GATEWAY_AUDIENCE']);
  action(ACTION_NAMES.mark, 'mark-migrated.action.js', ['LEGACY_CONNECTION', ...SCRIPT_CONFIGURATION, 'GATEWAY_USER_ID_PREFIX']);
  files.set('tenant/triggers/triggers.json', json({
    'post-login': [
      { action_name: ACTION_NAMES.deny, display_name: ACTION_NAMES.deny },
      { action_name: ACTION_NAMES.mark, display_name: ACTION_NAMES.mark },
    ],
  }));
  files.set(`tenant/resource-servers/${API_NAME}.json`, json({
    name: API_NAME,
    identifier: '##GATEWAY_AUDIENCE##',
    signing_alg: 'RS256',
    token_lifetime: 86400,
    allow_offline_access: false,
    skip_consent_for_verifiable_first_party_clients: true,
    scopes: API_SCOPES,
  }));
  files.set(`tenant/clients/${M2M_CLIENT}.json`, json({
    name: M2M_CLIENT,
    description: 'legacy-gateway: the custom database scripts and the mark-migrated Action call the gateway with this application',
    app_type: 'non_interactive',
    grant_types: ['client_credentials'],
    token_endpoint_auth_method: 'client_secret_post',
    is_first_party: true,
  }));
  files.set(`tenant/grants/${M2M_CLIENT}-${API_NAME}.json`, json({
    client_id: M2M_CLIENT,
    audience: '##GATEWAY_AUDIENCE##',
    scope: GRANTED_SCOPES,
  }));
  files.set('config.example.json', json({
    AUTH0_DOMAIN: 'your-tenant.eu.auth0.com',
    AUTH0_CLIENT_ID: 'client id of the application the Deploy CLI itself uses',
    AUTH0_CLIENT_SECRET: 'its secret (or leave it out and set AUTH0_CLIENT_SECRET in the environment)',
    AUTH0_ALLOW_DELETE: false,
    AUTH0_INCLUDED_ONLY: ['databases', 'actions', 'triggers', 'resourceServers', 'clients', 'clientGrants'],
    AUTH0_KEYWORD_REPLACE_MAPPINGS: {
      LEGACY_CONNECTION: 'legacy-users',
      AUTH0_DOMAIN: 'your-tenant.eu.auth0.com',
      GATEWAY_URL: 'https://legacy-gateway.example.com',
      GATEWAY_AUDIENCE: 'https://legacy-gateway.example.com',
      GATEWAY_CLIENT_ID: `client id of ${M2M_CLIENT} (known after the first deploy)`,
      GATEWAY_CLIENT_SECRET: `client secret of ${M2M_CLIENT} (known after the first deploy; keep it out of git)`,
      GATEWAY_USER_ID_PREFIX: 'legacy|',
    },
  }));
  return files;
}

/** The files under dir, relative, sorted. */
export function listFiles(dir: string, base = dir): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(full, base));
    else out.push(path.relative(base, full).split(path.sep).join('/'));
  }
  return out.sort();
}

/** Rewrite clients/auth0-deploy/ from clients/auth0/. */
export function writeDeployLayout(root = repoRoot()): string[] {
  const target = path.join(root, 'clients', 'auth0-deploy');
  rmSync(target, { recursive: true, force: true });
  const files = deployLayout(root);
  for (const [rel, content] of files) {
    const file = path.join(target, rel);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, content);
  }
  return [...files.keys()].sort();
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const f of writeDeployLayout()) process.stdout.write(`clients/auth0-deploy/${f}\n`);
}
