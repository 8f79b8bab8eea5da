// A real OpenID provider for the tests: `oidc-provider` (a certified
// implementation) with its development login pages, on a port the Rust test
// chose. It registers the relay as a confidential client that must use
// PKCE, and a second client, `another-app`, that only exists to be the
// audience of a token the relay must refuse.
//
// Accounts (any password is accepted on the provider's login page):
// - `ada`: in the `ombuds` group; the office maps her by that claim.
// - `grace`: a verified e-mail address the office lists.
// - `sam`: staff, not an ombud here.
// - `aud-trick`, `nonce-trick`: ombuds by group, but the token endpoint hands
//   the relay an ID token, genuinely signed by this provider, issued for
//   `another-app` or with another nonce (see `mischief` below).
//
// Prints `listening <issuer>` once ready. Run by caucus_tests::oidc with
// OIDC_PORT, OIDC_REDIRECT_URI and OIDC_CLIENT_SECRET set.

import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT);
const redirectUri = process.env.OIDC_REDIRECT_URI;
const clientSecret = process.env.OIDC_CLIENT_SECRET;
if (!port || !redirectUri || !clientSecret) {
  throw new Error('set OIDC_PORT, OIDC_REDIRECT_URI and OIDC_CLIENT_SECRET');
}
// `localhost`, while the relay is on 127.0.0.1: another site to the
// browser, so cookies behave as they would between a university's identity
// provider and the relay.
const issuer = `http://localhost:${port}`;

const OMBUDS_GROUP = ['staff', 'ombuds'];
const ACCOUNTS = {
  ada: { name: 'Dr. Ada Lovelace', email: 'ada@example.edu', email_verified: true, groups: OMBUDS_GROUP },
  grace: { name: 'Grace Hopper', email: 'Grace.Hopper@example.edu', email_verified: true, groups: ['staff'] },
  sam: { name: 'Sam Stranger', email: 'sam@example.edu', email_verified: true, groups: ['staff'] },
  'aud-trick': { name: 'Audience Trick', email: 'aud@example.edu', email_verified: true, groups: OMBUDS_GROUP },
  'nonce-trick': { name: 'Nonce Trick', email: 'nonce@example.edu', email_verified: true, groups: OMBUDS_GROUP },
};

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'caucus',
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      client_id: 'another-app',
      client_secret: 'another-app-secret-another-app-secret',
      redirect_uris: ['http://localhost/another-app'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    },
  ],
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  // Scope claims in the ID token itself, as institutional providers send
  // them (the relay reads the ID token, not the userinfo endpoint).
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  cookies: { keys: ['caucus-test-provider-cookie-key'] },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    const account = ACCOUNTS[id];
    if (!account) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...account }) };
  },
});
provider.proxy = false;

function jwtPayload(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
}

// The mischief: for the trick accounts, swap the ID token in the token
// endpoint's answer for another real one, signed with this provider's key.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path !== '/token' || ctx.status !== 200 || !ctx.body || !ctx.body.id_token) return;
  const original = jwtPayload(ctx.body.id_token);
  if (original.sub !== 'aud-trick' && original.sub !== 'nonce-trick') return;
  const client = original.sub === 'aud-trick' ? await provider.Client.find('another-app') : ctx.oidc.client;
  const token = new provider.IdToken({ sub: original.sub, ...ACCOUNTS[original.sub] }, { ctx, client });
  token.scope = 'openid email profile groups';
  token.set('nonce', original.sub === 'nonce-trick' ? 'a-nonce-this-sign-in-never-sent' : original.nonce);
  ctx.body = { ...ctx.body, id_token: await token.issue({ use: 'idtoken' }) };
});

provider.on('server_error', (ctx, err) => console.error('provider error:', err));

const server = provider.listen(port, () => {
  console.log(`listening ${issuer}`);
});

function stop() {
  server.close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// The Rust test holds our stdin; when it goes away, so do we.
process.stdin.on('end', stop);
process.stdin.resume();
