// A second, independent relying party for the provider's tests, built on
// openid-client (an OpenID-certified RP library). The Go test
// TestNodeOpenIDClient (idp/node_rp_test.go) runs it against a provider on
// httptest and plays the browser; the two talk over stdin and stdout, one
// JSON object (or URL) a line:
//
//   rp -> test  {"step":"authorize","authorization_url":...}
//   test -> rp  the callback URL the browser was sent to (code and state)
//   rp -> test  {"step":"tokens",...}: claims, userinfo, refresh, logout_url
//   test -> rp  the URL the browser landed on after logout_url
//   rp -> test  {"step":"done",...}: what still works after the logout
//
// Settings come from the environment: IDP_ISSUER, RP_CLIENT_ID,
// RP_CLIENT_SECRET, RP_REDIRECT_URI, RP_POST_LOGOUT_REDIRECT_URI, and
// RP_ACR_VALUES, the authentication context classes to ask for (optional).
import * as client from 'openid-client'
import { createInterface } from 'node:readline'

function setting(name) {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set`)
  return v
}

const input = createInterface({ input: process.stdin })[Symbol.asyncIterator]()

async function readLine() {
  const { value, done } = await input.next()
  if (done) throw new Error('stdin closed before the test answered')
  return value.trim()
}

function say(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

async function main() {
  const issuer = new URL(setting('IDP_ISSUER'))
  const redirectURI = setting('RP_REDIRECT_URI')
  const postLogoutURI = setting('RP_POST_LOGOUT_REDIRECT_URI')
  const secret = setting('RP_CLIENT_SECRET')

  // The test provider is http://127.0.0.1:port: openid-client refuses
  // plain http unless told, and allowInsecureRequests is its documented way.
  const config = await client.discovery(
    issuer,
    setting('RP_CLIENT_ID'),
    { client_secret: secret, redirect_uris: [redirectURI], post_logout_redirect_uris: [postLogoutURI] },
    client.ClientSecretBasic(secret),
    { execute: [client.allowInsecureRequests] },
  )

  const verifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const nonce = client.randomNonce()
  const maxAge = 600
  const params = {
    redirect_uri: redirectURI,
    scope: 'openid profile phone offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    max_age: String(maxAge),
  }
  if (process.env.RP_ACR_VALUES) params.acr_values = process.env.RP_ACR_VALUES
  const authorizationURL = client.buildAuthorizationUrl(config, params)
  say({ step: 'authorize', authorization_url: authorizationURL.href })

  // The browser part is the test's; it hands back where the RP was called.
  const callback = new URL(await readLine())

  // RFC 9207: the provider advertises iss in authorization responses, so
  // the library requires it and compares it with the issuer it sent the
  // user to. A response that says another issuer (a mix-up attack), or
  // none, must be refused before the code is used.
  const issChecks = {}
  for (const [name, iss] of [['other_issuer', 'https://attacker.example'], ['no_issuer', null]]) {
    const forged = new URL(callback.href)
    if (iss === null) forged.searchParams.delete('iss')
    else forged.searchParams.set('iss', iss)
    try {
      await client.authorizationCodeGrant(config, forged, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce })
      issChecks[name] = 'accepted'
    } catch (err) {
      issChecks[name] = `refused: ${err.message}: ${err.cause?.message ?? err.code ?? ""}`
    }
  }
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
    maxAge,
  })
  const claims = tokens.claims()
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub)
  const introspection = await client.tokenIntrospection(config, tokens.access_token)

  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token)
  const oldAccess = await client.tokenIntrospection(config, tokens.access_token)

  const logoutState = client.randomState()
  const logoutURL = client.buildEndSessionUrl(config, {
    id_token_hint: refreshed.id_token ?? tokens.id_token,
    post_logout_redirect_uri: postLogoutURI,
    state: logoutState,
  })
  say({
    step: 'tokens',
    iss_advertised: config.serverMetadata().authorization_response_iss_parameter_supported === true,
    iss_in_callback: callback.searchParams.get('iss'),
    iss_checks: issChecks,
    claims,
    userinfo,
    introspection: { active: introspection.active, client_id: introspection.client_id, sub: introspection.sub },
    refreshed: {
      new_access_token: refreshed.access_token !== tokens.access_token,
      new_refresh_token: Boolean(refreshed.refresh_token) && refreshed.refresh_token !== tokens.refresh_token,
      claims: refreshed.claims() ?? null,
    },
    old_access_token_active: oldAccess.active,
    logout_url: logoutURL.href,
    logout_state: logoutState,
  })

  // The test follows logout_url in its browser and says where it landed.
  const landed = new URL(await readLine())
  const afterLogout = await client.tokenIntrospection(config, refreshed.access_token)
  let refreshAfterLogout = null
  try {
    const again = await client.refreshTokenGrant(config, refreshed.refresh_token)
    refreshAfterLogout = Boolean(again.access_token)
  } catch (err) {
    refreshAfterLogout = `${err.name}: ${err.message}`
  }
  say({
    step: 'done',
    landed: landed.origin + landed.pathname,
    logout_state_returned: landed.searchParams.get('state') === logoutState,
    access_token_active_after_logout: afterLogout.active,
    refresh_after_logout: refreshAfterLogout,
  })
}

main().then(
  () => process.exit(0),
  (err) => {
    say({ step: 'error', error: `${err.name}: ${err.message}`, code: err.code ?? null, cause: err.cause ? String(err.cause?.message ?? err.cause) : null })
    process.exit(1)
  },
)
