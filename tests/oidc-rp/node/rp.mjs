// A relying party on openid-client (npm), unmodified: the end-to-end suite (tests/src/rp.rs)
// drives it to prove that a standard OpenID Connect client library logs in to Portcullis.
//
// Everything is done through the library: discovery, PKCE/state/nonce generation, the callback
// (state, then the id_token: signature against the JWKS, iss, aud, exp, iat, nonce, azp), the
// UserInfo request (whose `sub` it compares with the id_token's) and the refresh (whose new
// id_token it validates the same way, less the nonce).
//
// Line protocol, shared with ../python/rp.py:
//   env    OIDC_ISSUER OIDC_CLIENT_ID OIDC_CLIENT_SECRET OIDC_REDIRECT_URI OIDC_SCOPE OIDC_DEVICE_ID
//   out    AUTHORIZE <authorization url>
//   in     <the callback URL the browser was redirected to>
//   out    RESULT {"id_token_claims", "userinfo", "refreshed_id_token_claims", "scope",
//                  "token_type", "refresh_rotated"}
// Any failure: the error on stderr and a non-zero exit.
import { createInterface } from 'node:readline';

import * as client from 'openid-client';

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

/** The first line of stdin, without its line ending. */
async function readLine() {
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  try {
    const { value, done } = await lines[Symbol.asyncIterator]().next();
    if (done) throw new Error('stdin closed before the callback URL came');
    return value.trim();
  } finally {
    lines.close();
  }
}

async function main() {
  const issuer = new URL(env('OIDC_ISSUER'));
  const clientId = env('OIDC_CLIENT_ID');
  const clientSecret = env('OIDC_CLIENT_SECRET');
  const redirectUri = env('OIDC_REDIRECT_URI');
  const scope = env('OIDC_SCOPE');
  // Portcullis binds refresh tokens to a device: the refresh grant requires `device_id`.
  const deviceId = env('OIDC_DEVICE_ID');

  // The library refuses plain http unless told: allowed for a loopback issuer (the tests') only.
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(issuer.hostname);
  const execute = [
    // Without it the library trusts the token endpoint's TLS for the id_token and does not check
    // its signature; with it, every id_token is verified against the discovered JWKS.
    client.enableNonRepudiationChecks,
  ];
  if (issuer.protocol === 'http:' && loopback) execute.push(client.allowInsecureRequests);

  // Discovery checks that the document's issuer is the one asked for.
  const config = await client.discovery(
    issuer,
    clientId,
    { client_secret: clientSecret },
    client.ClientSecretPost(clientSecret),
    { execute },
  );

  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authorizationUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  process.stdout.write(`AUTHORIZE ${authorizationUrl.href}\n`);

  const callback = new URL(await readLine());
  // The redirect_uri sent to the token endpoint is the callback URL less its query.
  const tokens = await client.authorizationCodeGrant(
    config,
    callback,
    { pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true },
    { device_id: deviceId },
  );
  const claims = tokens.claims();

  // Checks that the UserInfo `sub` is the id_token's.
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);

  if (!tokens.refresh_token) throw new Error('the code exchange returned no refresh token');
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, { device_id: deviceId });
  const refreshedClaims = refreshed.claims();
  if (!refreshedClaims) throw new Error('the refresh returned no id_token');
  // OpenID Connect Core §12.2, which the library leaves to the application: the refreshed
  // id_token is about the same user, and carries no nonce or the original one.
  if (refreshedClaims.sub !== claims.sub) {
    throw new Error(`the refreshed id_token's sub ${refreshedClaims.sub} is not ${claims.sub}`);
  }
  if (refreshedClaims.nonce !== undefined && refreshedClaims.nonce !== nonce) {
    throw new Error(`the refreshed id_token's nonce ${refreshedClaims.nonce} is not the original`);
  }

  const result = {
    id_token_claims: claims,
    userinfo,
    refreshed_id_token_claims: refreshedClaims,
    scope: tokens.scope,
    token_type: tokens.token_type,
    refresh_rotated: refreshed.refresh_token !== undefined && refreshed.refresh_token !== tokens.refresh_token,
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
