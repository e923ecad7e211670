// A real OpenID Connect provider (node-oidc-provider) for the single sign-on tests.
//
//   node provider.mjs CONFIG.json
//
// CONFIG: {"client_id", "client_secret", "redirect_uris": [...], "accounts": {"<login>": {claims}}}.
// It listens on 127.0.0.1 (a free port) and prints one JSON line: {"issuer": "http://127.0.0.1:PORT"}.
// Sign-in uses the provider's development login form (any password); the account's claims come from
// CONFIG, read at each sign-in (an unknown login has only `sub`). The first-party client needs no consent screen.
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: config.client_id,
    client_secret: config.client_secret,
    redirect_uris: config.redirect_uris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: config.token_endpoint_auth_method || 'client_secret_post',
  }],
  jwks: { keys: [signingKey] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  pkce: { required: () => false },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['ollamaweb-test-cookie-key'] },
  async findAccount(ctx, id) {
    // Read again each time, so a test can change an account's claims (e.g. its groups).
    const claims = JSON.parse(readFileSync(process.argv[2], 'utf8')).accounts[id] || {};
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
  async loadExistingGrant(ctx) {
    // A first-party client: grant what it asks for without a consent screen.
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope(ctx.oidc.requestParamScopes ? [...ctx.oidc.requestParamScopes].join(' ') : 'openid email profile groups');
    await grant.save();
    return grant;
  },
});
provider.on('server_error', (ctx, error) => console.error('server_error', error));
server.on('request', provider.callback());
console.log(JSON.stringify({ issuer }));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
