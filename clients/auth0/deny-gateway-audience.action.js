/**
 * legacy-gateway: post-login Action "deny the gateway's audience" (Node 18 or Node 22 runtime, no dependency).
 *
 * The gateway trusts tokens issued for its audience, and by default anyone who can log in may ask Auth0 for a token
 * for any API of the tenant. This Action refuses every login that asks for the gateway's audience, so that only the
 * machine-to-machine application (client credentials, which never runs post-login Actions) gets such tokens. The
 * gateway also refuses tokens whose subject is not a client ("<client_id>@clients"): this is the second lock.
 *
 * Secret:
 *   GATEWAY_AUDIENCE  the gateway API's identifier in Auth0
 */
exports.onExecutePostLogin = async (event, api) => {
  const audience = event.secrets && event.secrets.GATEWAY_AUDIENCE;
  if (!audience) {
    console.log('legacy-gateway: set the GATEWAY_AUDIENCE secret; no login is refused until then');
    return;
  }
  if (event.resource_server && event.resource_server.identifier === audience) {
    api.access.deny('This API is not available to interactive logins.');
  }
};
