#!/usr/bin/env bash
# Bulk import at scale, and whether sign-in slows down with many users.
# For each size (1,000 and N, default 1,000,000) on a fresh PostgreSQL
# database: generate bench/loginload's users with an argon2id hash
# (bench/importgen), import them (idp users import, timed) and import the
# same file again (nothing changes). Then, on both databases in turn, time
# the password step's lookup of random users, and drive whole logins of
# random users for DURATION (bench/loginload, a first-party client so no
# login shows consent).
#
#   bash bench/import.sh
#   N=200000 DURATION=20s bash bench/import.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
work=$(mktemp -d)
pid=""
dbs=()
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  for db in "${dbs[@]}"; do psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/idp" ./cmd/idp
go build -o "$work/importgen" ./bench/importgen
go build -o "$work/loginload" ./bench/loginload
export IDP_SECRET="$(head -c 48 /dev/urandom | base64)" IDP_LOG_LEVEL=warn
export IDP_SMS_PROVIDER=file IDP_SMS_FILE="$work/outbox.jsonl"
export IDP_LISTEN=127.0.0.1:8090 IDP_ISSUER=http://localhost:8090 IDP_ADMIN_LISTEN=
for v in PHONE_HOUR PHONE_DAY USER_HOUR USER_DAY IP_HOUR IP_DAY GLOBAL_HOUR GLOBAL_DAY; do
  export "IDP_SMS_LIMIT_$v=1000000"
done

sizes=(1000 "${N:-1000000}")
url() { echo "postgres://postgres@127.0.0.1:5432/idp_import_${1}_$$?sslmode=disable"; }
for size in "${sizes[@]}"; do
  db="idp_import_${size}_$$"
  dbs+=("$db")
  psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $db"
  export IDP_DATABASE_URL="$(url "$size")"
  "$work/idp" migrate >/dev/null
  echo "== import of $size users"
  "$work/importgen" -n "$size" >"$work/users.jsonl"
  echo "file: $(du -h "$work/users.jsonl" | cut -f1)"
  "$work/idp" users import --progress off "$work/users.jsonl" | tr -d '\n ' ; echo
  echo "-- the same file again"
  "$work/idp" users import --progress off "$work/users.jsonl" | tr -d '\n ' ; echo
  rm "$work/users.jsonl"
done

# The machine is shared: the sizes take turns, so a change of load shows
# in both.
echo "== the password step's lookup (UserByUsername of random users), sizes in turn"
for round in 1 2 3; do
  for size in "${sizes[@]}"; do
    "$work/importgen" -lookup -db "$(url "$size")" -n "$size" -count 20000 -concurrency 4
  done
done

echo "== whole logins of random users"
for size in "${sizes[@]}"; do
  export IDP_DATABASE_URL="$(url "$size")"
  "$work/loginload" -setup -first-party -db "$IDP_DATABASE_URL" -users 0 >/dev/null
  : >"$IDP_SMS_FILE"
  "$work/idp" serve >"$work/out.log" 2>"$work/err.log" &
  pid=$!
  for _ in $(seq 1 100); do curl -sf localhost:8090/healthz >/dev/null && break; sleep 0.1; done
  echo "-- $size users"
  "$work/loginload" -issuer http://localhost:8090 -outbox "$IDP_SMS_FILE" -users "$size" -random \
    -duration "${DURATION:-30s}" -concurrency "${CONCURRENCY:-8}" -pid "$pid" | grep -E 'bound|logins|latency|failed' || true
  kill "$pid"; wait "$pid" 2>/dev/null || true
  pid=""
done
