/**
 * `legacy-gateway dev-issuer`: a development-only OAuth2 issuer on loopback (src/devtokens.ts), so that the gateway can
 * be tried against something other than the demo without writing a JWKS server. It prints the issuer URL, the
 * jwks_uri, the `auth:` block to paste into the gateway's config, a client-credentials token, and how to get more from
 * its POST /oauth/token. The key is made at start and forgotten on exit. Runs until Ctrl-C.
 */
import { randomBytes } from 'node:crypto';
import { ALL_SCOPES, isLoopbackHost, startLocalIssuer } from '../devtokens.js';
import { parseFlags, UsageError, type CliIO } from './cli.js';

export const help = `legacy-gateway dev-issuer — a local token issuer for trying the gateway (DEVELOPMENT ONLY)

Usage:
  legacy-gateway dev-issuer [--port 0] [--host 127.0.0.1] [--scopes "..."] [--client ID] [--client-secret S]
                            [--audience AUD] [--ttl 3600]

Serves a fresh RS256 key's JWKS at /.well-known/jwks.json and a client-credentials token endpoint at
POST /oauth/token (JSON or form body; the client id and secret it prints), on a loopback address only.
Prints the auth: block to paste into the gateway's config and a token. Runs until Ctrl-C.

Options:
  --port N            port to listen on (default 0: any free port)
  --host ADDR         a loopback address: 127.0.0.1 (default), ::1 or localhost; anything else exits 2
  --scopes "A B"      scopes of the tokens (default: ${ALL_SCOPES})
  --client ID         the client id in the tokens (azp, sub "ID@clients"; default dev-client)
  --client-secret S   the secret /oauth/token asks for (default: a random one, printed)
  --audience AUD      the audience of the tokens (default https://legacy-gateway.dev)
  --ttl SECONDS       token lifetime (default 3600)

Example:
  legacy-gateway dev-issuer --port 9000 --scopes "verify:credentials read:users"
`;

const FLAGS = {
  port: { type: 'string' },
  host: { type: 'string' },
  scopes: { type: 'string' },
  client: { type: 'string' },
  'client-secret': { type: 'string' },
  audience: { type: 'string' },
  ttl: { type: 'string' },
} as const;

function integer(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, not "${value}"`);
  return n;
}

function nonEmpty(name: string, value: string | undefined, fallback: string): string {
  if (value === undefined) return fallback;
  if (!value.trim()) throw new UsageError(`--${name} must not be empty`);
  return value.trim();
}

export async function run(args: string[], io: CliIO): Promise<number> {
  const flags = parseFlags(args, FLAGS);
  if (flags.config !== undefined) throw new UsageError('dev-issuer takes no --config');
  const host = flags.host ?? '127.0.0.1';
  if (!isLoopbackHost(host)) {
    io.stderr.write(`dev-issuer: refusing to listen on ${host}: a development issuer binds loopback only (127.0.0.1, ::1, localhost)\n`);
    return 2;
  }
  const port = integer('port', flags.port, 0, 0, 65535);
  const ttl = integer('ttl', flags.ttl, 3600, 1, 7 * 86_400);
  const scopes = nonEmpty('scopes', flags.scopes, ALL_SCOPES).split(/\s+/).join(' ');
  const client = nonEmpty('client', flags.client, 'dev-client');
  const audience = nonEmpty('audience', flags.audience, 'https://legacy-gateway.dev');
  const secret = nonEmpty('client-secret', flags['client-secret'], randomBytes(18).toString('base64url'));

  const issuer = await startLocalIssuer(audience, client, { host, port, scopes, ttlSeconds: ttl, clientSecret: secret });
  const token = await issuer.mint({}, { expiresIn: `${ttl}s` });
  const tokenUrl = `${issuer.issuer}oauth/token`;
  const q = JSON.stringify;
  io.stdout.write(`=====================================================================
  legacy-gateway dev-issuer — DEVELOPMENT ONLY, never for production
  Loopback only. The signing key was made just now and is gone on exit.
=====================================================================

issuer:         ${issuer.issuer}
jwks_uri:       ${issuer.jwksUri}
token endpoint: ${tokenUrl}
client_id:      ${client}
client_secret:  ${secret}
audience:       ${audience}
scopes:         ${scopes}

Paste into the gateway's configuration:

auth:
  issuer: ${q(issuer.issuer)}
  audience: ${q(audience)}
  jwks_uri: ${q(issuer.jwksUri)}
  allow_insecure_http: true # plain http on loopback: development only
  clients: [${q(client)}]

A token valid for ${ttl} s:
  export TOKEN='${token}'

More tokens (client credentials, JSON or form):
  curl -s -X POST ${tokenUrl} -H 'Content-Type: application/json' -d '${q({ grant_type: 'client_credentials', client_id: client, client_secret: secret, audience })}'

Ctrl-C to stop.
`);
  const stop = () => {
    io.stderr.write("dev-issuer: stopped\n");
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return -1;
}
