#!/usr/bin/env bash
# Whole logins under load on loopback: a server on a fresh PostgreSQL
# database with the production argon2id settings, driven by
# bench/loginload (authorize, password, PIN from the outbox, consent,
# token), which reports logins/s beside the argon2id bound of this machine,
# CPU per login of the server and of PostgreSQL, and the server's peak RSS.
#
#   bash bench/logins.sh                 # 30 s, 8 logins in flight
#   DURATION=60s CONCURRENCY=16 bash bench/logins.sh
#   PROFILE=/tmp/cpu.prof bash bench/logins.sh   # and a CPU profile of the server
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
work=$(mktemp -d)
db="idp_logins_$$"
psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $db"
go build -o "$work/idp" ./cmd/idp
go build -o "$work/loginload" ./bench/loginload
export IDP_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
export IDP_SECRET="$(head -c 48 /dev/urandom | base64)" IDP_LOG_LEVEL=warn
export IDP_SMS_PROVIDER=file IDP_SMS_FILE="$work/outbox.jsonl"
export IDP_LISTEN=127.0.0.1:8090 IDP_ISSUER=http://localhost:8090 IDP_ADMIN_LISTEN=
if [ -n "${PROFILE:-}" ]; then
  export IDP_ADMIN_LISTEN=127.0.0.1:8091 IDP_ADMIN_TOKEN="bench-$(head -c 16 /dev/urandom | base64 | tr -d '/+=')"
fi
# Sends are not what is measured: lift the SMS limits out of the way.
for v in PHONE_HOUR PHONE_DAY USER_HOUR USER_DAY IP_HOUR IP_DAY GLOBAL_HOUR GLOBAL_DAY; do
  export "IDP_SMS_LIMIT_$v=1000000"
done
users=${USERS:-400}
"$work/loginload" -setup -db "$IDP_DATABASE_URL" -users "$users"
"$work/idp" serve >"$work/out.log" 2>"$work/err.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -sf localhost:8090/healthz >/dev/null && break; sleep 0.1; done
if [ -n "${PROFILE:-}" ]; then
  # The middle of the run, away from its start and end.
  (sleep 3; curl -sf -H "Authorization: Bearer $IDP_ADMIN_TOKEN" -o "$PROFILE" \
    "http://127.0.0.1:8091/debug/pprof/profile?seconds=10" && echo "CPU profile of the server: $PROFILE") &
fi
"$work/loginload" -issuer http://localhost:8090 -outbox "$IDP_SMS_FILE" -users "$users" \
  -duration "${DURATION:-30s}" -concurrency "${CONCURRENCY:-8}" -pid "$pid"
if grep -q . "$work/err.log"; then echo "server log (warnings and errors), last lines:"; tail -5 "$work/err.log" | cut -c1-300; fi
