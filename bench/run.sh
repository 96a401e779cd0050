#!/usr/bin/env bash
# Load run on loopback: the token endpoint (client_credentials, opaque and
# ES256 JWT access tokens), token introspection of both, JWKS and discovery, with wrk, against a fresh PostgreSQL
# database. Prints requests/s and p99 for each, and the server's RSS.
#
#   bash bench/run.sh            # needs PostgreSQL on 127.0.0.1:5432 (trust) and wrk
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
work=$(mktemp -d)
db="idp_bench_$$"
psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $db"
go build -o "$work/idp" ./cmd/idp
export IDP_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
export IDP_SECRET="$(head -c 48 /dev/urandom | base64)" IDP_SMS_PROVIDER=console IDP_LOG_LEVEL=warn
export IDP_LISTEN=127.0.0.1:8090 IDP_ISSUER=http://localhost:8090 IDP_ADMIN_LISTEN=
"$work/idp" migrate >/dev/null
secret=$("$work/idp" clients create --id bench --grant-type client_credentials --scope profile | sed -n 's/.*"client_secret": "\(.*\)".*/\1/p')
jwtsecret=$("$work/idp" clients create --id bench-jwt --grant-type client_credentials --scope profile --access-token-format jwt --access-token-lifespan 5m | sed -n 's/.*"client_secret": "\(.*\)".*/\1/p')
"$work/idp" serve >"$work/out.log" 2>"$work/err.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"; rm -rf "$work"' EXIT
for _ in $(seq 1 50); do curl -sf localhost:8090/healthz >/dev/null && break; sleep 0.1; done
auth="Basic $(printf 'bench:%s' "$secret" | base64 -w0)"
at=$(curl -s -H "Authorization: $auth" -d grant_type=client_credentials -d scope=profile localhost:8090/oauth2/token | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
jwtauth="Basic $(printf 'bench-jwt:%s' "$jwtsecret" | base64 -w0)"
jwt=$(curl -s -H "Authorization: $jwtauth" -d grant_type=client_credentials -d scope=profile localhost:8090/oauth2/token | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
post() { printf 'wrk.method="POST"\nwrk.body="%s"\nwrk.headers["Content-Type"]="application/x-www-form-urlencoded"\nwrk.headers["Authorization"]="%s"\n' "$1" "${3:-$auth}" >"$work/$2.lua"; }
post "grant_type=client_credentials&scope=profile" token
post "token=$at" introspect
post "grant_type=client_credentials&scope=profile" token-jwt "$jwtauth"
post "token=$jwt" introspect-jwt "$jwtauth"
run() { # name, connections, url, [script]
  local out; out=$(wrk -t1 -c"$2" -d"${DURATION:-10s}" --latency ${4:+-s "$work/$4.lua"} "$3")
  printf '%-28s c=%-3s %10s req/s   p99 %s   non-2xx %s\n' "$1" "$2" "$(echo "$out" | awk '/Requests\/sec/{print $2}')" \
    "$(echo "$out" | awk '$1=="99%"{print $2}')" "$(echo "$out" | awk '/Non-2xx/{print $4}' | grep . || echo 0)"
}
for c in 8 32 64; do run "token client_credentials" "$c" http://127.0.0.1:8090/oauth2/token token; done
for c in 8 32 64; do run "token client_credentials JWT" "$c" http://127.0.0.1:8090/oauth2/token token-jwt; done
run "introspection" 32 http://127.0.0.1:8090/oauth2/introspect introspect
run "introspection JWT" 32 http://127.0.0.1:8090/oauth2/introspect introspect-jwt
run "jwks.json" 32 http://127.0.0.1:8090/.well-known/jwks.json
run "openid-configuration" 32 http://127.0.0.1:8090/.well-known/openid-configuration
echo "server RSS: $(ps -o rss= -p $pid) KiB"
