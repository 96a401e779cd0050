// A device app for the provider's tests, built on openid-client: the
// device authorization grant (RFC 8628) as the library does it. The Go
// test TestNodeOpenIDClientDevice (idp/node_rp_test.go) runs it and plays
// the user's browser; the script prints one JSON object a line:
//
//   {"step":"device",...}: the codes and URIs the device shows
//   {"step":"tokens",...}: what the library got once the user allowed it
//
// Settings come from the environment: IDP_ISSUER, RP_CLIENT_ID (a public
// client registered for the grant), and RP_DPOP=1 to hold a DPoP key
// (RFC 9449): the tokens are then bound to it, userinfo and a refresh
// are made with proofs, and the last line reports the refresh too.
import * as client from 'openid-client'

function setting(name) {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set`)
  return v
}

function say(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

async function main() {
  // The test provider is plain http on 127.0.0.1: allowInsecureRequests is
  // the library's documented way to allow it.
  const config = await client.discovery(new URL(setting('IDP_ISSUER')), setting('RP_CLIENT_ID'), {}, client.None(),
    { execute: [client.allowInsecureRequests] })
  const meta = config.serverMetadata()
  const device = await client.initiateDeviceAuthorization(config, { scope: 'openid profile offline_access' })
  say({
    step: 'device',
    advertised: meta.device_authorization_endpoint ?? null,
    user_code: device.user_code,
    verification_uri: device.verification_uri,
    verification_uri_complete: device.verification_uri_complete,
    expires_in: device.expires_in,
    interval: device.interval,
  })
  const opts = process.env.RP_DPOP ? { DPoP: client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256')) } : undefined
  const tokens = await client.pollDeviceAuthorizationGrant(config, device, undefined, opts)
  const claims = tokens.claims()
  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub, opts)
  let refreshed = null
  if (opts) {
    const again = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, opts)
    const info2 = await client.fetchUserInfo(config, again.access_token, claims.sub, opts)
    refreshed = { token_type: again.token_type, userinfo_sub: info2.sub }
  }
  say({
    step: 'tokens',
    sub: claims.sub,
    amr: claims.amr ?? null,
    acr: claims.acr ?? null,
    has_refresh_token: Boolean(tokens.refresh_token),
    userinfo_sub: info.sub,
    token_type: tokens.token_type,
    refreshed,
  })
}

main().then(
  () => process.exit(0),
  (err) => {
    say({ step: 'error', error: `${err.name}: ${err.message}`, code: err.code ?? null, cause: err.cause ? String(err.cause?.message ?? err.cause) : null })
    process.exit(1)
  },
)
