// A real OpenID Connect provider for OpenTaco's end-to-end login tests.
//
// panva/node-oidc-provider with one public client (no secret, as a CLI is),
// PKCE S256 required, and the library's built-in development login and
// consent pages, which accept any login name with any password. Never use it
// outside tests.
//
// Environment: PORT (default 3000), CLIENT_ID (default opentaco-cli),
// REDIRECT_URIS (comma-separated, default http://127.0.0.1:8585/callback),
// APPLICATION_TYPE (default native; web allows https://localhost redirects,
// which a server's own callback for `terraform login` needs).
import Provider from 'oidc-provider';

const PORT = Number(process.env.PORT || 3000);
const ISSUER = `http://127.0.0.1:${PORT}`;
const CLIENT_ID = process.env.CLIENT_ID || 'opentaco-cli';
const REDIRECT_URIS = (process.env.REDIRECT_URIS || 'http://127.0.0.1:8585/callback').split(',');
const APPLICATION_TYPE = process.env.APPLICATION_TYPE || 'native';

const oidc = new Provider(ISSUER, {
  clients: [{
    client_id: CLIENT_ID,
    token_endpoint_auth_method: 'none',
    application_type: APPLICATION_TYPE,
    redirect_uris: REDIRECT_URIS,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  }],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: `${id}@example.test`, email_verified: true, name: id };
      },
    };
  },
  pkce: { required: () => true },
  // Otherwise the ID token carries only sub (email and name go to userinfo only).
  conformIdTokenClaims: false,
  cookies: { keys: ['opentaco-test-cookie-key'] },
});
oidc.on('server_error', (ctx, err) => console.error(err));
oidc.listen(PORT, '127.0.0.1', () => console.log(`oidc-provider listening on ${ISSUER}`));
