#!/usr/bin/env bash
# High availability on real engines from Debian's packages (haproxy,
# pgbouncer, patroni, etcd-server, postgresql), in three scenarios, each
# driven and judged by deploy/ha/haload (every login completed, failed
# cleanly, or failed badly; checks of what must survive after the run):
#
#   instances  two `idp serve` behind HAProxy on one PostgreSQL: 200 logins
#              at once, one instance SIGKILLed midway (50 completed).
#   pgbouncer  PgBouncer in transaction pooling: the end-to-end login test,
#              the storage conformance suite and concurrent migrations
#              through it; then `idp migrate` and two instances through it,
#              under 100 logins.
#   patroni    two PostgreSQL nodes under Patroni (etcd, synchronous
#              replication), the instances on HAProxy's primary check:
#              SIGKILL the leader's Patroni and PostgreSQL during logins,
#              measure the time to the first completed login after it.
#
#   bash deploy/ha/run.sh                    # all three
#   bash deploy/ha/run.sh patroni            # some of them
#
# Runs as root (apt-get; PostgreSQL, PgBouncer and Patroni run as the
# postgres user). The first two scenarios use the PostgreSQL server at
# 127.0.0.1:5432 (user postgres, trust), as .ci/run sets it up; the third
# makes its own clusters. Everything listens on 127.0.0.1, on free ports,
# under a temporary directory that is removed at the end (HA_KEEP=1 keeps
# it); every process started here is stopped on exit, failed or not.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
export PATH="/usr/local/go/bin:$PATH"

scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(instances pgbouncer patroni)
PG_DIRECT_HOST=127.0.0.1 PG_DIRECT_PORT=5432

log() { printf '\n== ha: %s\n' "$*"; }
die() {
  printf '\nha: FAILED: %s\n' "$*" >&2
  exit 1
}

work=$(mktemp -d /tmp/idp-ha.XXXXXX)
chmod 755 "$work"
declare -A pid=()  # name -> process id (its own process group) of what this script started
dbs=()             # databases made on the server at 127.0.0.1:5432
pgdata=()          # data directories of the Patroni cluster's nodes

# stop_all stops every process started here: Patroni first, or it
# restarts the PostgreSQL it manages, then the PostgreSQL nodes, then the
# rest.
stop_all() {
  local name d
  for name in "${!pid[@]}"; do
    case $name in patroni*) kill -9 -- "-${pid[$name]}" 2>/dev/null || true ;; esac
  done
  for d in "${pgdata[@]}"; do
    if [ -f "$d/postmaster.pid" ]; then
      "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$d" stop -m immediate -w -t 10 >/dev/null 2>&1 || true
    fi
  done
  for name in "${!pid[@]}"; do kill -9 -- "-${pid[$name]}" 2>/dev/null || true; done
  pid=()
  pgdata=()
}

cleanup() {
  local rc=$?
  set +e
  stop_all
  for db in "${dbs[@]}"; do
    psql -h "$PG_DIRECT_HOST" -p "$PG_DIRECT_PORT" -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
  done
  if [ -n "${HA_KEEP:-}" ]; then
    echo "ha: logs and data kept in $work"
  else
    rm -rf "$work"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# AS_PG runs a command as the postgres user (PostgreSQL and PgBouncer
# refuse root). env and setpriv exec, so the pid is the command's.
AS_PG=(env HOME="$work" setpriv --reuid=postgres --regid=postgres --init-groups)
PG_BIN="" # the newest PostgreSQL's bin directory, once installed

# start NAME LOGFILE COMMAND...: in the background, in a process group of
# its own, remembered for the cleanup.
start() {
  local name=$1 logfile=$2
  shift 2
  setsid "$@" >"$logfile" 2>&1 &
  pid[$name]=$!
  disown # no job notice when it is killed: that is the point
}

# port prints a free TCP port on 127.0.0.1 not handed out before, below
# the kernel's range for outgoing connections (which could take it
# between the check and the bind).
read -r ephemeral_lo _ </proc/sys/net/ipv4/ip_local_port_range
port_lo=$((ephemeral_lo > 22000 ? ephemeral_lo - 12000 : 10000)) port_span=$((ephemeral_lo > 22000 ? 12000 : ephemeral_lo - 10000))
port() {
  local p
  while :; do
    p=$((port_lo + (RANDOM * 32768 + RANDOM) % port_span))
    grep -qx "$p" "$work/ports" 2>/dev/null && continue
    ss -Htln "sport = :$p" | grep -q . && continue
    echo "$p" >>"$work/ports"
    echo "$p"
    return
  done
}

# wait_for SECONDS WHAT LOGFILE COMMAND...: until COMMAND succeeds; else
# show the log's end and fail naming WHAT.
wait_for() {
  local secs=$1 what=$2 logfile=$3
  shift 3
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $end ]; then
      [ -f "$logfile" ] && { echo "--- last lines of $logfile:"; tail -n 25 "$logfile"; } >&2
      die "$what did not come up within ${secs}s"
    fi
    sleep 0.2
  done
}

alive() { kill -0 "${pid[$1]}" 2>/dev/null; }

ensure_packages() {
  local missing=()
  command -v haproxy >/dev/null || missing+=(haproxy)
  command -v pgbouncer >/dev/null || missing+=(pgbouncer)
  command -v patroni >/dev/null || missing+=(patroni python3-etcd python3-psycopg2)
  command -v etcd >/dev/null || missing+=(etcd-server)
  command -v etcdctl >/dev/null || missing+=(etcd-client)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  [ ${#missing[@]} -gt 0 ] || return 0
  log "installing ${missing[*]}"
  [ "$(id -u)" = 0 ] || die "installing ${missing[*]} needs root"
  # The packages would start their own services (etcd on 2379, PgBouncer
  # on 6432, ...): nothing here uses them, so keep them from starting.
  local policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    { [ -z "$policy" ] || rm -f "$policy"; die "apt-get install ${missing[*]} failed"; }
  [ -z "$policy" ] || rm -f "$policy"
}

pg_direct_ok() { psql -h "$PG_DIRECT_HOST" -p "$PG_DIRECT_PORT" -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; }

new_database() { # NAME: on the server at 127.0.0.1:5432
  psql -h "$PG_DIRECT_HOST" -p "$PG_DIRECT_PORT" -U postgres -d postgres -qc "CREATE DATABASE $1" >/dev/null
  dbs+=("$1")
}

# The provider's settings shared by every instance: the file SMS provider
# (the driver reads the PINs from its outbox), send limits out of the way
# (sends are not under test), and the cheapest argon2id the settings
# allow: what is under test is failover, not the hash, and 200 logins at
# once at the production cost queue for many seconds on two shared cores
# (bench/logins.sh measures logins at that cost).
export IDP_ARGON2_MEMORY=8192 IDP_ARGON2_TIME=1
setup_users() { # DATABASE_URL N: the users load0000... and the client of bench/loginload
  "$work/bin/loginload" -setup -db "$1" -users "$2" -argon2-memory "$IDP_ARGON2_MEMORY" -argon2-time "$IDP_ARGON2_TIME" >/dev/null
}
export IDP_SECRET="$(head -c 48 /dev/urandom | base64 -w0)"
export IDP_LOG_LEVEL=warn IDP_SMS_PROVIDER=file IDP_ADMIN_LISTEN= IDP_TRUSTED_PROXIES=127.0.0.1/32
for v in PHONE_HOUR PHONE_DAY USER_HOUR USER_DAY IP_HOUR IP_DAY GLOBAL_HOUR GLOBAL_DAY; do
  export "IDP_SMS_LIMIT_$v=1000000"
done

# Every login step is one transaction, so any half-applied step fails the
# run. HA_KNOWN_BAD may name reasons (a regular expression) that haload
# then reports without failing, while a defect is being fixed.
known_bad=${HA_KNOWN_BAD-}

# start_idp NAME DIR DATABASE_URL: one `idp serve` on idp_port[NAME],
# behind the load balancer on lb_port.
declare -A idp_port=()
start_idp() {
  local name=$1 dir=$2 db=$3
  IDP_LISTEN=127.0.0.1:${idp_port[$name]} IDP_DATABASE_URL=$db IDP_ISSUER=http://127.0.0.1:$lb_port \
    IDP_SMS_FILE=$dir/outbox.jsonl start "$name" "$dir/$name.log" "$work/bin/idp" serve
}

# start_lb DIR CONFIG...: HAProxy with deploy/ha/haproxy/global.cfg and
# the named configs, the addresses in the environment; picks the ports
# of the load balancer (lb_port) and of the two instances.
start_lb() {
  local dir=$1
  shift
  lb_port=$(port)
  idp_port[idp1]=$(port)
  idp_port[idp2]=$(port)
  local args=(-f "$here/haproxy/global.cfg")
  for c in "$@"; do args+=(-f "$here/haproxy/$c.cfg"); done
  export IDP_HA_DIR="$here" IDP_LB_ADDR="127.0.0.1:$lb_port" HAPROXY_STATS_ADDR="127.0.0.1:$(port)"
  export IDP1_ADDR="127.0.0.1:${idp_port[idp1]}" IDP2_ADDR="127.0.0.1:${idp_port[idp2]}"
  haproxy -c -q "${args[@]}" || die "HAProxy refuses the configuration ${args[*]}"
  start haproxy "$dir/haproxy.log" haproxy -db "${args[@]}"
  wait_for 10 "HAProxy's statistics page ($HAPROXY_STATS_ADDR)" "$dir/haproxy.log" curl -sf "http://$HAPROXY_STATS_ADDR/;csv"
}

# lb_state PROXY SERVER: UP, DOWN, ... as HAProxy sees that server now.
lb_state() {
  curl -sf "http://$HAPROXY_STATS_ADDR/;csv" | awk -F, -v px="$1" -v sv="$2" '$1 == px && $2 == sv { print $18 }'
}
lb_is() { [ "$(lb_state "$1" "$2")" = "$3" ]; }

# start_instances DIR DATABASE_URL: idp1 and idp2, each answering and
# taken in by HAProxy.
start_instances() {
  local dir=$1 db=$2 n
  start_idp idp1 "$dir" "$db"
  start_idp idp2 "$dir" "$db"
  for n in idp1 idp2; do
    wait_for 60 "$n (idp serve on 127.0.0.1:${idp_port[$n]})" "$dir/$n.log" curl -sf "http://127.0.0.1:${idp_port[$n]}/readyz"
    wait_for 10 "HAProxy taking $n in" "$dir/haproxy.log" lb_is idp "$n" UP
  done
}

errors_of() { # LOGFILE: the provider's error lines, counted by message
  local lines
  lines=$(grep -o 'level=ERROR msg="[^"]*"\|level=ERROR msg=[^ ]*' "$1" 2>/dev/null | sort | uniq -c | sort -rn | head -5 || true)
  echo "${lines:-      (none)}"
}

scenario_instances() {
  log "instances: two idp serve behind HAProxy on one PostgreSQL; 200 logins at once, idp1 killed (SIGKILL) when 50 have completed"
  pg_direct_ok || die "no PostgreSQL on $PG_DIRECT_HOST:$PG_DIRECT_PORT (user postgres, trust): .ci/run starts one"
  local dir=$work/instances db=idp_ha_inst_$$
  mkdir -p "$dir"
  new_database "$db"
  local url="postgres://postgres@$PG_DIRECT_HOST:$PG_DIRECT_PORT/$db?sslmode=disable"
  setup_users "$url" 200
  start_lb "$dir" idp
  start_instances "$dir" "$url"
  local t0=$SECONDS
  "$work/bin/haload" -mode burst -logins 200 -users 200 -issuer "http://127.0.0.1:$lb_port" \
    -outbox "$dir/outbox.jsonl" -kill "kill -9 ${pid[idp1]}" -kill-at completed:50 -known-bad "$known_bad" ||
    die "instances: logins failed badly or a check failed (above)"
  alive idp2 || die "instances: idp2 died too"
  alive idp1 && die "instances: idp1 was not killed"
  echo "errors logged by idp2 (the survivor):"
  errors_of "$dir/idp2.log"
  echo "(scenario took $((SECONDS - t0)) s)"
  stop_all
}

scenario_pgbouncer() {
  log "pgbouncer: the provider through PgBouncer in transaction pooling"
  pg_direct_ok || die "no PostgreSQL on $PG_DIRECT_HOST:$PG_DIRECT_PORT (user postgres, trust): .ci/run starts one"
  local dir=$work/pgbouncer db=idp_ha_pgb_$$ p
  mkdir -p "$dir"
  new_database "$db"
  p=$(port)
  sed -e "s|@PG_HOST@|$PG_DIRECT_HOST|; s|@PG_PORT@|$PG_DIRECT_PORT|; s|@PORT@|$p|; s|@DIR@|$dir|g" \
    "$here/pgbouncer/pgbouncer.ini" >"$dir/pgbouncer.ini"
  echo '"postgres" ""' >"$dir/userlist.txt"
  chown -R postgres "$dir"
  start pgbouncer "$dir/pgbouncer.out" "${AS_PG[@]}" pgbouncer "$dir/pgbouncer.ini"
  wait_for 20 "PgBouncer on 127.0.0.1:$p" "$dir/pgbouncer.log" psql -h 127.0.0.1 -p "$p" -U postgres -d "$db" -Atqc 'select 1'
  # Every connection of the provider through the pooler: no named
  # prepared statements (default_query_exec_mode=exec).
  local url="postgres://postgres@127.0.0.1:$p/$db?sslmode=disable&default_query_exec_mode=exec"

  echo "go test through PgBouncer: end-to-end login, storage conformance, concurrent migrations"
  local t0=$SECONDS t
  IDP_TEST_DATABASE_URL=$url go test -count=1 -v \
    -run '^(TestEndToEnd|TestConformance|TestApplyConcurrently|TestApplyIsIdempotent)$/^postgres$' \
    ./idp/ ./idp/store/ ./migrations/ >"$dir/gotest.log" 2>&1 ||
    { grep -E -- '--- FAIL|^FAIL|_test.go:' "$dir/gotest.log" | head -20; die "pgbouncer: the tests failed through PgBouncer (above)"; }
  # A test that skipped its PostgreSQL half would prove nothing here.
  for t in TestEndToEnd TestConformance TestApplyConcurrently TestApplyIsIdempotent; do
    grep -q -- "--- PASS: $t/postgres " "$dir/gotest.log" || die "pgbouncer: $t/postgres did not run and pass through PgBouncer"
    echo "  $t/postgres passed"
  done
  echo "(the tests took $((SECONDS - t0)) s)"

  echo "idp migrate, then two instances, through PgBouncer"
  IDP_DATABASE_URL=$url "$work/bin/idp" migrate >"$dir/migrate.log" 2>&1 ||
    die "pgbouncer: idp migrate through PgBouncer: $(cat "$dir/migrate.log")"
  setup_users "$url" 100
  start_lb "$dir" idp
  start_instances "$dir" "$url"
  "$work/bin/haload" -mode burst -logins 100 -users 100 -issuer "http://127.0.0.1:$lb_port" \
    -outbox "$dir/outbox.jsonl" || die "pgbouncer: logins through PgBouncer failed (above)"
  if grep -q 'prepared statement' "$dir"/idp*.log; then
    grep -m3 'prepared statement' "$dir"/idp*.log
    die "pgbouncer: an instance met a prepared statement error through PgBouncer"
  fi
  echo "(scenario took $((SECONDS - t0)) s)"
  stop_all
}

scenario_patroni() {
  log "patroni: two PostgreSQL nodes under Patroni, synchronous replication; the leader's Patroni and PostgreSQL killed (SIGKILL) during logins"
  local dir=$work/patroni
  mkdir -p "$dir/pg"
  local e1 e2 t0=$SECONDS
  e1=$(port) e2=$(port)
  start etcd "$dir/etcd.log" etcd --name ha --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$e1" --advertise-client-urls "http://127.0.0.1:$e1" \
    --listen-peer-urls "http://127.0.0.1:$e2" --initial-advertise-peer-urls "http://127.0.0.1:$e2" \
    --initial-cluster "ha=http://127.0.0.1:$e2" --initial-cluster-state new
  wait_for 30 "etcd on 127.0.0.1:$e1" "$dir/etcd.log" env ETCDCTL_API=3 etcdctl --endpoints "http://127.0.0.1:$e1" endpoint health

  declare -A rest=() pgport=()
  local n
  for n in node1 node2; do
    rest[$n]=$(port)
    pgport[$n]=$(port)
    sed -e "s|@NAME@|$n|g; s|@REST_PORT@|${rest[$n]}|g; s|@PG_PORT@|${pgport[$n]}|g; s|@ETCD@|127.0.0.1:$e1|" \
      -e "s|@DATA_DIR@|$dir/pg/$n|; s|@BIN_DIR@|$PG_BIN|; s|@DIR@|$dir|g" "$here/patroni/node.yml" >"$dir/$n.yml"
    pgdata+=("$dir/pg/$n")
  done
  chown -R postgres "$dir"
  chmod 700 "$dir/pg"
  start patroni1 "$dir/node1.log" "${AS_PG[@]}" patroni "$dir/node1.yml"
  wait_for 90 "Patroni node1 as the leader (GET /primary on 127.0.0.1:${rest[node1]})" "$dir/node1.log" \
    curl -sf "http://127.0.0.1:${rest[node1]}/primary"
  start patroni2 "$dir/node2.log" "${AS_PG[@]}" patroni "$dir/node2.yml"
  wait_for 90 "Patroni node2 as the synchronous standby (GET /sync on 127.0.0.1:${rest[node2]})" "$dir/node2.log" \
    curl -sf "http://127.0.0.1:${rest[node2]}/sync"
  echo "cluster up in $((SECONDS - t0)) s:"
  patronictl -c "$dir/node1.yml" list 2>/dev/null || true

  local pglb
  pglb=$(port)
  export PG_LB_ADDR="127.0.0.1:$pglb" PG1_ADDR="127.0.0.1:${pgport[node1]}" PG2_ADDR="127.0.0.1:${pgport[node2]}"
  export PG1_REST_PORT=${rest[node1]} PG2_REST_PORT=${rest[node2]}
  start_lb "$dir" idp postgres
  # HAProxy 2.6 takes every server for up until its first check: wait
  # for the checks to have found the one primary.
  wait_for 10 "HAProxy's primary check: pg1 UP, pg2 DOWN" "$dir/haproxy.log" eval 'lb_is postgres pg1 UP && lb_is postgres pg2 DOWN'
  local url="postgres://postgres@127.0.0.1:$pglb/idp?sslmode=disable&connect_timeout=3"
  psql -h 127.0.0.1 -p "$pglb" -U postgres -d postgres -qc "CREATE DATABASE idp" >/dev/null
  setup_users "$url" 150
  start_instances "$dir" "$url"

  local leader pm
  leader=node1
  curl -sf "http://127.0.0.1:${rest[node2]}/primary" >/dev/null && leader=node2
  local other=node2
  [ $leader = node2 ] && other=node1
  pm=$(head -n1 "$dir/pg/$leader/postmaster.pid")
  local pat=${pid[patroni${leader#node}]}
  echo "leader: $leader (Patroni pid $pat, PostgreSQL pid $pm); $other is the synchronous standby"
  "$work/bin/haload" -mode soak -concurrency 12 -users 150 -park 8 -issuer "http://127.0.0.1:$lb_port" \
    -outbox "$dir/outbox.jsonl" -kill "kill -9 $pat $pm" -kill-at completed:40 \
    -after-kill 8s -max-failover 15s -watch "$other=http://127.0.0.1:${rest[$other]}/primary" -known-bad "$known_bad" ||
    die "patroni: logins failed badly, the failover took too long, or a check failed (above)"
  echo "the cluster after the failover:"
  patronictl -c "$dir/$other.yml" list 2>/dev/null || true
  grep -m1 'promoted self to leader' "$dir/$other.log" || true
  curl -sf "http://127.0.0.1:${rest[$other]}/primary" >/dev/null || die "patroni: $other is not the primary after the failover"
  for n in idp1 idp2; do
    alive "$n" || die "patroni: $n died during the failover"
    echo "errors logged by $n:"
    errors_of "$dir/$n.log"
  done
  echo "(scenario took $((SECONDS - t0)) s)"
  stop_all
}

for s in "${scenarios[@]}"; do
  case $s in
  instances | pgbouncer | patroni) ;;
  *) die "unknown scenario $s: instances, pgbouncer or patroni" ;;
  esac
done
ensure_packages
PG_BIN=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n1)")
log "building idp, bench/loginload, deploy/ha/haload"
mkdir -p "$work/bin"
go build -o "$work/bin/idp" ./cmd/idp
go build -o "$work/bin/loginload" ./bench/loginload
go build -o "$work/bin/haload" ./deploy/ha/haload
start_all=$SECONDS
for s in "${scenarios[@]}"; do
  "scenario_$s"
done
log "all passed: ${scenarios[*]} in $((SECONDS - start_all)) s"
