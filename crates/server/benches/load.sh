#!/usr/bin/env bash
# Load benchmark of Portcullis, side by side with the peer (panva/oidc-provider) in the same
# session, with the same load tool (oha), durations and concurrencies.
#
#   bash crates/server/benches/load.sh                 # Portcullis, the box's RSA limit, then the peer;
#                                                      # also the server's RSS idle and its peak (VmHWM)
#                                                      # after the client_credentials load
#   SKIP_PEER=1 bash crates/server/benches/load.sh     # Portcullis only
#   bash crates/server/benches/load.sh refresh         # refresh grants/s (benches/refresh_load.rs),
#                                                      # each request rotating its own family;
#                                                      # BENCH_USER_AGENT="Mozilla/5.0 …" sends a
#                                                      # browser's (unset: none); RATE=N: open loop at
#                                                      # N/s instead (latency from the due time)
#   bash crates/server/benches/load.sh flood           # introspection, JWKS and client_credentials
#                                                      # p99 at c=8, quiet and then during a flood of
#                                                      # wrong passwords (c=32, real argon2 cost,
#                                                      # throttling off so every guess is hashed)
#   bash crates/server/benches/load.sh latency         # client_credentials, password, JWKS, refresh:
#                                                      # closed-loop peak at c=64, then p50/p99 open
#                                                      # loop at half of it (RATE=N: at N/s instead),
#                                                      # corrected for coordinated omission; then the
#                                                      # peer's client_credentials and JWKS the same
#                                                      # way, at half of its own peak (SKIP_PEER=1: not;
#                                                      # OPS="refresh": only those operations)
#   BENCH_DATABASE_URL=… bash crates/server/benches/load.sh history
#                                                      # refresh rate (c=64) and open-loop p99 at half
#                                                      # of it, on an empty database and then on one
#                                                      # with a history (5M refresh tokens, 1M device
#                                                      # sessions, 1M audit rows; HISTORY_TOKENS,
#                                                      # HISTORY_SESSIONS, HISTORY_AUDIT, HISTORY_USERS)
#   bash crates/server/benches/load.sh overload        # client_credentials peak, then 3x it open loop
#                                                      # (c=512): 200 vs 503, Retry-After, p99, and
#                                                      # how fast a low rate is served again after it
#   bash crates/server/benches/load.sh otp             # one-time-code login beside the password grant,
#                                                      # c=64 closed loop: /oauth2/otp sends and OTP
#                                                      # grants (benches/otp_load.rs; BENCH_CODES
#                                                      # numbers, signed up, then logging in again),
#                                                      # password grants at the default argon2 cost
#                                                      # and at a token one
#   bash crates/server/benches/load.sh memory          # RSS, smaps, threads and mimalloc's stats, idle
#                                                      # and under client_credentials load
#   DUR=20s CONCS="16 64" WARMUP=5s BENCH_USERS=64     # defaults shown (BENCH_USERS: the refresh
#                                                      # families' users, see make_user)
#   OPEN_CONC=128 OPEN_FAMILIES=1024                   # open loop: oha connections, refresh families
#   SERVER_CPUS=0 LOAD_CPUS=1                          # server and oha pinned apart (taskset)
#   OVER_RATE=8400                                     # overload: offer this rate, not 3x the peak
#   BENCH_BIN=/path/to/portcullis                 # run that server binary instead of building
#   BENCH_GEN=/path/to/refresh_load-…             # that refresh generator instead of building
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test   # PostgreSQL instead of a SQLite file:
#                                                      # a fresh database beside that one, dropped after
#
# The load generator shares the two cores with the server, as in the peer's script. Results:
# $OUT (raw oha JSON, summary.jsonl) and a summary with the ratios on stdout.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
PEER_DIR=${PEER_DIR:-$ROOT/../shared/bench/peer}
SUMMARIZE=$PEER_DIR/summarize.py
DUR=${DUR:-20s}
CONCS=${CONCS:-"16 64"}
WARMUP=${WARMUP:-5s}
PORT=${PORT:-8199}
OPEN_CONC=${OPEN_CONC:-128}
OPEN_FAMILIES=${OPEN_FAMILIES:-1024}
OUT=${OUT:-$(mktemp -d -t portcullis-bench-XXXX)}
mkdir -p "$OUT"
BASE="http://127.0.0.1:$PORT"
log() { printf '%s\n' "$*" >&2; }
# SERVER_CPUS / LOAD_CPUS (taskset lists, e.g. 0 and 1): the server and oha each on their own
# cores, so a load generator short of CPU does not count its own backlog as the server's latency
# (overload: at 3x the peak, oha on shared cores falls behind its schedule). Unset: shared.
SERVER_PIN=(); [ -z "${SERVER_CPUS:-}" ] || SERVER_PIN=(taskset -c "$SERVER_CPUS")
LOAD_PIN=(); [ -z "${LOAD_CPUS:-}" ] || LOAD_PIN=(taskset -c "$LOAD_CPUS")

export PATH="$HOME/.cargo/bin:$PATH"
command -v oha >/dev/null || { log "# installing oha"; cargo install oha --locked >"$OUT/oha-install.log" 2>&1; }
[ -f "$SUMMARIZE" ] || { log "need $SUMMARIZE (the shared peer folder beside the repo)"; exit 1; }
[ -x /usr/bin/time ] || { log "need /usr/bin/time (apt-get install time)"; exit 1; }

MODE=${1:-token}
case $MODE in
  token | refresh | flood | latency | history | overload | memory | otp) ;;
  *) log "unknown mode $MODE (token, refresh, flood, latency, history, overload, memory, otp)"; exit 2 ;;
esac
if [ "$MODE" = history ] && [ -z "${BENCH_DATABASE_URL:-}" ]; then
  log "history runs on PostgreSQL: set BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test"; exit 2
fi

if [ -n "${BENCH_BIN:-}" ]; then
  BIN=$BENCH_BIN   # another build of the server (an earlier commit, to compare in one session)
else
  log "# building the release binary"
  (cd "$ROOT" && nice -n 10 cargo build --release --locked --bin portcullis >"$OUT/build.log" 2>&1)
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/portcullis
fi

WORK=$(mktemp -d -t portcullis-bench-data-XXXX)
BENCH_DB=
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
  # Each run its own database: state left by an earlier run (its signing keys, say) is not ours.
  BENCH_DB=portcullis_bench_$RANDOM$RANDOM
  psql -q "$BENCH_DATABASE_URL" -c "CREATE DATABASE $BENCH_DB"
  export PORTCULLIS_DATABASE_URL=${BENCH_DATABASE_URL%/*}/$BENCH_DB
else
  export PORTCULLIS_DATABASE_URL=sqlite://$WORK/bench.db
fi
export PORTCULLIS_KEYS_DIR=$WORK/keys
export PORTCULLIS_LISTEN=127.0.0.1:$PORT
export PORTCULLIS_LOG__FILTER=warn
cd "$WORK"

case $MODE in
  flood | refresh | latency | history)
    # flood: every guess must reach argon2, the flood measures the argon2 bound, not the throttle.
    # refresh, latency, history: the setup logs in BENCH_FAMILIES devices from one address, past
    # the per-IP limit, and latency loads the password grant from one address.
    export PORTCULLIS_LOGIN__MAX_ATTEMPTS_PER_USER=100000000 PORTCULLIS_LOGIN__MAX_ATTEMPTS_PER_IP=100000000 ;;
  otp)
    # Every code and every password from one address, and each number sent a second code a
    # second after its first: the per-address, per-client and resend limits out of the way.
    export PORTCULLIS_LOGIN__MAX_ATTEMPTS_PER_USER=100000000 PORTCULLIS_LOGIN__MAX_ATTEMPTS_PER_IP=100000000
    export PORTCULLIS_OTP__RESEND_AFTER=1s PORTCULLIS_OTP__MAX_SENDS_PER_IP=100000000 \
      PORTCULLIS_OTP__MAX_SENDS_PER_CLIENT=100000000 \
      PORTCULLIS_OTP__MAX_VERIFICATIONS_PER_IP=100000000 PORTCULLIS_OTP__OUTBOX_PATH=$WORK/outbox.jsonl \
      PORTCULLIS_ACCOUNT__MAX_SIGNUPS_PER_IP=100000000 ;;
  memory)
    # mimalloc prints its statistics (peak and current reserved and committed) at exit.
    export MIMALLOC_SHOW_STATS=1 ;;
esac
if [ "$MODE" = history ] && [ -z "${HISTORY_RETENTION:-}" ]; then
  # The retention janitor (retention.*, where the server has one) would delete the seeded history
  # while it is written and measured: no sweep during the run (HISTORY_RETENTION=1 keeps it).
  # A server without the key refuses it (unknown field), hence the trial with `migrate`.
  if PORTCULLIS_RETENTION__INTERVAL=365d "$BIN" migrate >/dev/null 2>&1; then
    export PORTCULLIS_RETENTION__INTERVAL=365d
    log "# retention sweeps off for the run (retention.interval=365d)"
  fi
fi
# What a node makes on first start; the other commands refuse to make it.
"$BIN" migrate >/dev/null
CLIENT=$("$BIN" client create --name bench --grant client_credentials --grant password --grant refresh_token --scope "api:read" --json)
CLIENT_ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_id"])' "$CLIENT")
CLIENT_SECRET=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_secret"])' "$CLIENT")

SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
  [ -z "$BENCH_DB" ] || (cd / && psql -q "$BENCH_DATABASE_URL" -c "DROP DATABASE IF EXISTS $BENCH_DB") || true
}
trap cleanup EXIT INT TERM
"${SERVER_PIN[@]}" "$BIN" serve >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -sf -o /dev/null "$BASE/healthz" && break; sleep 0.1; done
curl -sf -o /dev/null "$BASE/healthz" || { cat "$OUT/server.log" >&2; exit 1; }

# Correctness before load: 200, RS256 at+jwt, kid in the JWKS.
TOKEN=$(curl -sf -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials -d scope=api:read "$BASE/oauth2/token" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
python3 - "$TOKEN" "$(curl -sf "$BASE/.well-known/jwks.json")" <<'PY'
import base64, json, sys
tok, jwks = sys.argv[1], json.loads(sys.argv[2])
h = json.loads(base64.urlsafe_b64decode(tok.split(".")[0] + "=="))
assert h["alg"] == "RS256" and h["typ"] == "at+jwt", h
assert any(k["kid"] == h["kid"] for k in jwks["keys"]), "kid not in JWKS"
PY

# The server's memory, from /proc/PID/status, in MB: VmRSS (now), VmHWM (peak RSS), RssAnon...
status_mb() { awk -v k="$1:" '$1 == k {printf "%.1f", $2 / 1024}' "/proc/$SERVER_PID/status"; }
threads() { awk '$1 == "Threads:" {print $2}' "/proc/$SERVER_PID/status"; }
mem_now() { echo "VmRSS=$(status_mb VmRSS) MB VmHWM=$(status_mb VmHWM) MB RssAnon=$(status_mb RssAnon) MB RssFile=$(status_mb RssFile) MB threads=$(threads)"; }
# Idle: started, the checks above and a few more requests answered, then a second's rest.
for _ in $(seq 1 10); do
  curl -sf -o /dev/null -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials -d scope=api:read "$BASE/oauth2/token"
  curl -sf -o /dev/null "$BASE/.well-known/jwks.json"
done
sleep 1
RSS_IDLE=$(status_mb VmRSS)
log "# server idle: $(mem_now)"

# CPU ticks (user + system) of every postgres process on this machine.
pg_ticks() {
  local t=0 pid
  for pid in $(pgrep -x postgres || true); do
    t=$((t + $(awk '{print $14+$15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}

HZ=$(getconf CLK_TCK)
server_ticks() { awk '{print $14+$15}' "/proc/$SERVER_PID/stat"; }
TOKEN_ARGS=(-m POST -a "$CLIENT_ID:$CLIENT_SECRET" -T application/x-www-form-urlencoded -d 'grant_type=client_credentials&scope=api%3Aread')
# Closed loop: c connections, each sending its next request when the answer is in.
run_oha() {
  local label=$1 c=$2; shift 2
  local json="$OUT/oha-${label}-c${c}.json" before after
  before=$(server_ticks)
  /usr/bin/time -f '%U %S' -o "$OUT/time-${label}-c${c}.txt" "${LOAD_PIN[@]}" oha --no-tui --output-format json -z "$DUR" -w -c "$c" "$@" >"$json"
  after=$(server_ticks)
  python3 "$SUMMARIZE" "$json" "$label" "$c" \
    "$(awk -v a="$before" -v b="$after" -v hz="$HZ" 'BEGIN{print (b-a)/hz}')" \
    "$(awk '{print $1+$2}' "$OUT/time-${label}-c${c}.txt")"
}
# Open loop: `rate` requests a second on a fixed schedule, over up to c connections, each
# request's latency counted from when it was due (--latency-correction), so time spent waiting
# for a free connection or a slow server counts. c must exceed rate x latency.
run_oha_open() {
  local label=$1 rate=$2 c=$3 dur=${OPEN_DUR:-$DUR}; shift 3
  local json="$OUT/oha-${label}-q${rate}.json" before after
  before=$(server_ticks)
  /usr/bin/time -f '%U %S' -o "$OUT/time-${label}-q${rate}.txt" \
    "${LOAD_PIN[@]}" oha --no-tui --output-format json -z "$dur" -w -q "$rate" --latency-correction -c "$c" "$@" >"$json"
  after=$(server_ticks)
  python3 "$SUMMARIZE" "$json" "$label" "$c" \
    "$(awk -v a="$before" -v b="$after" -v hz="$HZ" 'BEGIN{print (b-a)/hz}')" \
    "$(awk '{print $1+$2}' "$OUT/time-${label}-q${rate}.txt")"
}
json_field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
# Half a rate, as a whole number of requests a second (at least 1).
half() { python3 -c 'import sys; print(max(1, round(float(sys.argv[1]) / 2)))' "$1"; }

# A user for the password and refresh grants, with a cheap password hash: argon2 is not what
# these measure (the cost is stored in the hash, logins verify at the cost they were made with).
BENCH_USER="bench-$RANDOM$RANDOM"
BENCH_PASSWORD="bench password 123"
# BENCH_USERS=N: N such users (BENCH_USER-0 … BENCH_USER-(N-1)), the refresh families spread
# over them as over a real user base (default 64); 1: one user with every family, the worst
# case on PostgreSQL (every rotation share-locks that one user row: a MultiXact per batch).
BENCH_USERS=${BENCH_USERS:-64}
# The one of them the password grant and the history's seed use.
BENCH_LOGIN=$BENCH_USER; [ "$BENCH_USERS" -le 1 ] || BENCH_LOGIN=$BENCH_USER-0
make_user() {
  local names=("$BENCH_USER") i
  if [ "$BENCH_USERS" -gt 1 ]; then
    names=(); for i in $(seq 0 $((BENCH_USERS - 1))); do names+=("$BENCH_USER-$i"); done
  fi
  for name in "${names[@]}"; do
    echo "$BENCH_PASSWORD" | PORTCULLIS_PASSWORDS__MEMORY_KIB=1024 PORTCULLIS_PASSWORDS__ITERATIONS=1 \
      "$BIN" user create --username "$name" --password-stdin --json >/dev/null
  done
}
# The refresh load generator (benches/refresh_load.rs): BENCH_GEN, or built here.
build_gen() {
  if [ -n "${BENCH_GEN:-}" ]; then GEN=$BENCH_GEN; return; fi
  log "# building the refresh load generator"
  (cd "$ROOT" && nice -n 10 cargo bench --locked -p portcullis-server --bench refresh_load --no-run >>"$OUT/build.log" 2>&1)
  GEN=$(cd "$ROOT" && cargo bench --locked -p portcullis-server --bench refresh_load --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m["target"]["name"]=="refresh_load" and m.get("executable"): print(m["executable"])')
}
# One run of the generator, as the bench user; further settings as NAME=VALUE arguments
# (BENCH_CONCURRENCY and BENCH_FAMILIES: closed loop; BENCH_RATE and BENCH_FAMILIES: open loop).
run_gen() {
  env BENCH_URL="$BASE" BENCH_CLIENT_ID="$CLIENT_ID" BENCH_CLIENT_SECRET="$CLIENT_SECRET" BENCH_USERNAME="$BENCH_USER" \
    BENCH_PASSWORD="$BENCH_PASSWORD" BENCH_USERS="$BENCH_USERS" BENCH_SECONDS="${DUR%s}" BENCH_USER_AGENT="${BENCH_USER_AGENT:-}" "$@" "${LOAD_PIN[@]}" "$GEN"
}

if [ "$MODE" = refresh ]; then
  make_user
  build_gen
  if [ -n "${RATE:-}" ]; then
    runs=("open $RATE")
  else
    runs=()
    for c in $CONCS; do runs+=("closed $c"); done
  fi
  for run in "${runs[@]}"; do
    set -- $run
    log "# portcullis refresh_token $1 loop ${2}$([ "$1" = open ] && echo /s || echo " connections") $DUR ($(echo "$PORTCULLIS_DATABASE_URL" | cut -d: -f1))"
    before=$(server_ticks)
    pg_before=$(pg_ticks)
    if [ "$1" = open ]; then
      run_gen BENCH_RATE="$2" BENCH_FAMILIES="$OPEN_FAMILIES" | tee -a "$OUT/refresh.jsonl"
    else
      run_gen BENCH_CONCURRENCY="$2" BENCH_FAMILIES=$(($2 * 4)) | tee -a "$OUT/refresh.jsonl"
    fi
    after=$(server_ticks)
    pg_after=$(pg_ticks)
    log "# server cpu: $(awk -v a="$before" -v b="$after" -v hz="$HZ" -v d="${DUR%s}" 'BEGIN{printf "%.0f%%", 100*(b-a)/hz/d}')"
    [ -z "$BENCH_DB" ] || log "# postgres cpu (all its processes): $(awk -v a="$pg_before" -v b="$pg_after" -v hz="$HZ" -v d="${DUR%s}" 'BEGIN{printf "%.0f%%", 100*(b-a)/hz/d}')"
  done
  exit 0
fi

if [ "$MODE" = otp ]; then
  make_user
  # And one whose hash has the server's own argon2 cost, as real users' have.
  echo "$BENCH_PASSWORD" | "$BIN" user create --username "$BENCH_USER-real" --password-stdin --json >/dev/null
  OTP_CLIENT=$("$BIN" client create --name bench-otp --grant otp --grant refresh_token --otp-signup --json)
  log "# building the one-time-code load generator"
  (cd "$ROOT" && nice -n 10 cargo bench --locked -p portcullis-server --bench otp_load --no-run >>"$OUT/build.log" 2>&1)
  OTP_GEN=$(cd "$ROOT" && cargo bench --locked -p portcullis-server --bench otp_load --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m["target"]["name"]=="otp_load" and m.get("executable"): print(m["executable"])')
  : >"$OUT/otp.jsonl"
  for who in real cheap; do
    login=$BENCH_LOGIN; [ "$who" = cheap ] || login=$BENCH_USER-real
    log "# password grant, $who argon2 cost, c=64 $DUR"
    run_oha "password-$who" 64 -m POST -a "$CLIENT_ID:$CLIENT_SECRET" -T application/x-www-form-urlencoded \
      -d "grant_type=password&username=$login&password=bench+password+123" "$BASE/oauth2/token" \
      | python3 -c 'import json,sys; r=json.load(sys.stdin); r["label"]=sys.argv[1]; print(json.dumps(r))' "password ($who argon2)" \
      | tee -a "$OUT/otp.jsonl"
  done
  log "# one-time codes, c=64 (${BENCH_CODES:-20000} numbers; sign-up round, then login round)"
  env BENCH_URL="$BASE" BENCH_OUTBOX="$WORK/outbox.jsonl" BENCH_CONCURRENCY=64 \
    BENCH_CLIENT_ID="$(json_field "$OTP_CLIENT" client_id)" BENCH_CLIENT_SECRET="$(json_field "$OTP_CLIENT" client_secret)" \
    "${LOAD_PIN[@]}" "$OTP_GEN" | tee -a "$OUT/otp.jsonl"
  python3 - "$OUT/otp.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {r["label"]: r for r in rows}
for r in rows:
    ok = r.get("ok_200_rps", r.get("rps", 0))
    print(f"{r['label']:<28} ok/s={ok:8.0f} p50_ms={r['p50_ms']:.2f} p99_ms={r['p99_ms']:.2f} codes={r.get('status_codes', r.get('codes', ''))}")
real = by["password (real argon2)"]; login = by["otp grant (login)"]
print(f"otp grant (login) / password (real argon2) = {login['ok_200_rps'] / max(real.get('ok_200_rps', 1), 1):.2f}")
PY
  exit 0
fi

if [ "$MODE" = flood ]; then
  "$BIN" user create --username flood --password-stdin --json <<<"flood password 123" >/dev/null
  AT=$(curl -sf -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=password -d username=flood -d 'password=flood password 123' \
    "$BASE/oauth2/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  probe() {
    local phase=$1
    for what in introspect jwks token; do
      case $what in
        introspect) args=(-m POST -a "$CLIENT_ID:$CLIENT_SECRET" -T application/x-www-form-urlencoded -d "token=$AT" "$BASE/oauth2/introspect") ;;
        jwks) args=("$BASE/.well-known/jwks.json") ;;
        token) args=(-m POST -a "$CLIENT_ID:$CLIENT_SECRET" -T application/x-www-form-urlencoded -d 'grant_type=client_credentials&scope=api%3Aread' "$BASE/oauth2/token") ;;
      esac
      "${LOAD_PIN[@]}" oha --no-tui --output-format json -z "$DUR" -w -c 8 "${args[@]}" >"$OUT/flood-$phase-$what.json"
      python3 - "$OUT/flood-$phase-$what.json" "$phase" "$what" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
codes = r.get("statusCodeDistribution", {})
ok = sum(v for k, v in codes.items() if k == "200") / max(1, sum(codes.values()))
p = r["latencyPercentiles"]
print(f"{sys.argv[2]:>6} {sys.argv[3]:<10} c=8 rps={r['summary']['requestsPerSec']:.0f} p50_ms={1000*p['p50']:.2f} p99_ms={1000*p['p99']:.2f} ok={100*ok:.2f}%")
PY
    done
  }
  probe quiet
  secs=${DUR%s}
  log "# flooding the password grant with wrong guesses (c=32)"
  "${LOAD_PIN[@]}" oha --no-tui --output-format json -z "$((3 * secs + 5))s" -c 32 -m POST -a "$CLIENT_ID:$CLIENT_SECRET" \
    -T application/x-www-form-urlencoded -d 'grant_type=password&username=flood&password=wrong+guess+123' \
    "$BASE/oauth2/token" >"$OUT/flood-guesses.json" &
  FLOOD_PID=$!
  sleep 3
  probe flood
  wait "$FLOOD_PID" || true
  python3 - "$OUT/flood-guesses.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"  flood  guesses/s={r['summary']['requestsPerSec']:.0f} codes={r['statusCodeDistribution']}")
PY
  exit 0
fi

if [ "$MODE" != memory ]; then
  log "# warm-up ($WARMUP)"
  "${LOAD_PIN[@]}" oha --no-tui --output-format json -z "$WARMUP" -w -c 16 "${TOKEN_ARGS[@]}" "$BASE/oauth2/token" >/dev/null
fi

if [ "$MODE" = latency ]; then
  # Each operation: the closed-loop peak at c=64, then the open loop at half of it (or RATE),
  # where a server with headroom should answer in about its unloaded latency.
  make_user
  build_gen
  PASSWORD_ARGS=(-m POST -a "$CLIENT_ID:$CLIENT_SECRET" -T application/x-www-form-urlencoded
    -d "grant_type=password&username=$BENCH_LOGIN&password=bench+password+123&scope=api%3Aread")
  : >"$OUT/latency.jsonl"
  for op in ${OPS:-client_credentials password jwks refresh}; do
    case $op in
      client_credentials) args=("${TOKEN_ARGS[@]}" "$BASE/oauth2/token") ;;
      password) args=("${PASSWORD_ARGS[@]}" "$BASE/oauth2/token") ;;
      jwks) args=("$BASE/.well-known/jwks.json") ;;
    esac
    log "# $op closed loop c=64 $DUR"
    if [ "$op" = refresh ]; then
      curl -s "$BASE/metrics" >"$OUT/metrics-refresh-0.txt"
      closed=$(run_gen BENCH_CONCURRENCY=64 BENCH_FAMILIES=256)
      curl -s "$BASE/metrics" >"$OUT/metrics-refresh-1.txt"
    else
      closed=$(run_oha "$op" 64 "${args[@]}")
    fi
    rate=${RATE:-$(half "$(json_field "$closed" ok_200_rps)")}
    log "# $op open loop at $rate/s $DUR"
    if [ "$op" = refresh ]; then
      open=$(run_gen BENCH_RATE="$rate" BENCH_FAMILIES="$OPEN_FAMILIES")
      curl -s "$BASE/metrics" >"$OUT/metrics-refresh-2.txt"
    else
      open=$(run_oha_open "$op" "$rate" "$OPEN_CONC" "${args[@]}")
    fi
    printf '{"op":"%s","rate":%s,"closed":%s,"open":%s}\n' "$op" "$rate" "$closed" "$open" >>"$OUT/latency.jsonl"
    [ "$op" = client_credentials ] && HWM_TOKEN=$(status_mb VmHWM)
  done
  python3 - "$OUT/latency.jsonl" "${RATE:+rate}" <<'PY'
import json, sys
at = "at_" + (sys.argv[2] or "half")
for line in open(sys.argv[1]):
    r = json.loads(line)
    c, o = r["closed"], r["open"]
    extra = f" shortfall={o['shortfall']} send_lag_p99_ms={o['send_lag_p99_ms']:.2f}" if "shortfall" in o else ""
    print(f"{r['op']} peak_rps_c64={c['ok_200_rps']:.0f} p50_ms_{at}={o['p50_ms']:.2f} p99_ms_{at}={o['p99_ms']:.2f} "
          f"| offered_rps={r['rate']} ok_rps={o['ok_200_rps']:.0f} ok={100*o['ok_200_rate']:.2f}% "
          f"c64_p99_ms={c['p99_ms']:.2f}{extra}")
PY
  echo "rss idle_mb=$RSS_IDLE peak_mb_after_client_credentials=${HWM_TOKEN:-n/a} peak_mb_end=$(status_mb VmHWM) threads=$(threads)"
  # Where refresh time went, closed loop and open loop apart: waiting for a rotation worker, or
  # in the batch's transaction (the server's histograms, differenced between the runs).
  python3 - "$OUT"/metrics-refresh-{0,1,2}.txt <<'PY'
import re, sys
snaps = [open(f).read() for f in sys.argv[1:]]
def hist(text, name):
    b = {m.group(1): float(m.group(2)) for m in re.finditer(name + r'_bucket\{le="([^"]+)"\} ([0-9.e+]+)', text)}
    s = re.search(name + r"_sum ([0-9.e+-]+)", text)
    return b, float(s.group(1)) if s else 0.0
for phase, (a, b) in (("closed c=64", (0, 1)), ("open at half", (1, 2))):
    for name in ("portcullis_refresh_queue_wait_seconds", "portcullis_refresh_batch_seconds", "portcullis_refresh_batch_size"):
        (b0, s0), (b1, s1) = hist(snaps[a], name), hist(snaps[b], name)
        rows = sorted(((float(le) if le != "+Inf" else float("inf")), b1[le] - b0.get(le, 0.0)) for le in b1)
        if not rows or rows[-1][1] == 0:
            continue
        n = rows[-1][1]
        q = lambda p: next(le for le, c in rows if c >= p * n)
        print(f"{phase}: {name} n={n:.0f} mean={(s1 - s0) / n:.4f} p50<={q(0.5)} p90<={q(0.9)} p99<={q(0.99)}")
PY
  if [ -z "${SKIP_PEER:-}" ]; then
    # The peer, the same way: its own peak at c=64, then the open loop at half of it, for the
    # operations it has (client_credentials and JWKS). Portcullis stops first: one server at a time.
    kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
    PEER_BASE=http://127.0.0.1:${PEER_PORT:-3100}
    (cd "$PEER_DIR/oidc-provider" && { [ -d node_modules/oidc-provider ] || npm ci --no-audit --no-fund >"$OUT/npm-ci.log" 2>&1; } \
      && NODE_ENV=production PEER_PORT=${PEER_PORT:-3100} exec node server.mjs) >"$OUT/peer-server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 300); do curl -sf -o /dev/null "$PEER_BASE/.well-known/openid-configuration" && break; sleep 0.2; done
    PEER_TOKEN=(-m POST -a "bench-client:bench-secret-0123456789abcdef0123456789abcdef" -T application/x-www-form-urlencoded
      -d 'grant_type=client_credentials&scope=api%3Aread')
    "${LOAD_PIN[@]}" oha --no-tui --output-format json -z "$WARMUP" -w -c 16 "${PEER_TOKEN[@]}" "$PEER_BASE/token" >/dev/null
    for op in client_credentials jwks; do
      case $op in
        client_credentials) args=("${PEER_TOKEN[@]}" "$PEER_BASE/token") ;;
        jwks) args=("$PEER_BASE/jwks") ;;
      esac
      closed=$(run_oha "peer-$op" 64 "${args[@]}")
      rate=${RATE:-$(half "$(json_field "$closed" ok_200_rps)")}
      open=$(run_oha_open "peer-$op" "$rate" "$OPEN_CONC" "${args[@]}")
      python3 - "$op" "$closed" "$open" "$rate" <<'PY'
import json, sys
op, c, o, rate = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
print(f"peer {op} peak_rps_c64={c['ok_200_rps']:.0f} p50_ms_at_half={o['p50_ms']:.2f} "
      f"p99_ms_at_half={o['p99_ms']:.2f} | offered_rps={rate} ok_rps={o['ok_200_rps']:.0f}")
PY
    done
  fi
  log "# raw results: $OUT"
  exit 0
fi

if [ "$MODE" = history ]; then
  make_user
  build_gen
  # The refresh rate at c=64, then the open-loop latency at half of the empty database's rate
  # (RATE: at that rate), the same offered load on both databases.
  refresh_pair() {
    local phase=$1 closed open
    log "# refresh closed loop c=64 $DUR ($phase database)"
    closed=$(run_gen BENCH_CONCURRENCY=64 BENCH_FAMILIES=256)
    rate=${rate:-${RATE:-$(half "$(json_field "$closed" ok_200_rps)")}}
    log "# refresh open loop at $rate/s $DUR ($phase database)"
    open=$(run_gen BENCH_RATE="$rate" BENCH_FAMILIES="$OPEN_FAMILIES")
    printf '{"phase":"%s","rate":%s,"closed":%s,"open":%s}\n' "$phase" "$rate" "$closed" "$open" >>"$OUT/history.jsonl"
  }
  : >"$OUT/history.jsonl"
  rate=
  refresh_pair empty
  log "# seeding the history: ${HISTORY_TOKENS:=5000000} refresh tokens, ${HISTORY_SESSIONS:=1000000} device sessions, ${HISTORY_AUDIT:=1000000} audit rows, ${HISTORY_USERS:=100000} users"
  seed_start=$(date +%s)
  psql -q -v ON_ERROR_STOP=1 -v client="$CLIENT_ID" -v bench_user="$BENCH_LOGIN" -v users="$HISTORY_USERS" \
    -v sessions="$HISTORY_SESSIONS" -v tokens="$HISTORY_TOKENS" -v audit="$HISTORY_AUDIT" \
    "$PORTCULLIS_DATABASE_URL" >"$OUT/seed.log" 2>&1 <<'SQL'
SET synchronous_commit = off;
SET work_mem = '256MB';
-- Ids shaped like the server's: 128 random bits as 22 base64url characters (here an md5 of a
-- seed text, so a token can name its parent), user ids as UUIDv7 (creation time in ms first),
-- hashes and fingerprints as 43 base64url characters of a SHA-256.
CREATE FUNCTION pg_temp.rid(text) RETURNS text LANGUAGE sql IMMUTABLE AS
  $$ SELECT translate(rtrim(encode(decode(md5($1), 'hex'), 'base64'), '='), '+/', '-_') $$;
CREATE FUNCTION pg_temp.h43(text) RETURNS text LANGUAGE sql IMMUTABLE AS
  $$ SELECT translate(rtrim(encode(sha256(convert_to($1, 'UTF8')), 'base64'), '='), '+/', '-_') $$;
CREATE FUNCTION pg_temp.uuid7(timestamptz, text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-7' || substr(h, 14, 3) || '-'
         || substr('89ab', 1 + (('x' || substr(h, 17, 1))::bit(4)::int % 4), 1) || substr(h, 18, 3) || '-' || substr(h, 21, 12)
  FROM (SELECT lpad(to_hex((extract(epoch FROM $1) * 1000)::bigint), 12, '0') || substr(md5($2), 1, 20) AS h) x $$;

-- Users, created over the last two years; a few banned; all with the bench user's (cheap) hash.
CREATE TEMP TABLE hu AS
  SELECT u, now() - (30 + random() * 700) * interval '1 day' AS created FROM generate_series(1, :users) u;
INSERT INTO users (id, username, password_hash, status, ban_reason, created_at, updated_at)
  SELECT pg_temp.uuid7(created, 'u' || u), 'history-' || u || '@example.com',
         (SELECT password_hash FROM users WHERE username = :'bench_user'),
         CASE WHEN u % 250 = 0 THEN 'banned' ELSE 'active' END, CASE WHEN u % 250 = 0 THEN 'abuse' END,
         created, created + random() * (now() - created)
  FROM hu;
CREATE TEMP TABLE uid AS SELECT row_number() OVER () AS n, id FROM users WHERE username LIKE 'history-%';
CREATE INDEX ON uid (n);

-- Device sessions over the last year: some users have many (power law), most sessions ended
-- (logout, kick, password change...) or idle-expired long ago; about a tenth still live.
CREATE TEMP TABLE hs AS
  SELECT s, 'd' || s AS seed, first_seen, least(first_seen + life, now() - interval '1 minute') AS last_seen,
         CASE WHEN r < 0.30 THEN 'logout' WHEN r < 0.36 THEN 'kicked' WHEN r < 0.40 THEN 'password_changed'
              WHEN r < 0.41 THEN 'refresh_reuse' WHEN r < 0.415 THEN 'banned' END AS reason,
         1 + (s::bigint * 7919) % 9 AS n_tokens,
         1 + floor(power(random(), 2) * :users)::bigint AS user_n
  FROM (SELECT s, now() - random() * interval '365 days' AS first_seen,
               power(random(), 3) * interval '60 days' AS life, random() AS r
        FROM generate_series(1, :sessions) s) x;
INSERT INTO device_sessions (id, user_id, client_id, device_id, fingerprint, browser, os, device, scope, last_ip,
                             first_seen, last_seen, idle_expires_at, absolute_expires_at, revoked_at, revoked_reason)
  SELECT pg_temp.rid('s' || s), uid.id, :'client', pg_temp.rid(seed), pg_temp.h43('f' || s),
         (ARRAY['Chrome', 'Safari', 'Firefox', 'Edge', 'Chrome Mobile', 'Mobile Safari', 'Other'])[1 + s % 7],
         (ARRAY['Windows', 'Mac OS X', 'Linux', 'Android', 'iOS', 'Other'])[1 + s % 6],
         (ARRAY['Other', 'iPhone', 'Samsung SM-S911B', 'Other', 'Other'])[1 + s % 5],
         'api:read', '10.' || s % 256 || '.' || (s / 256) % 256 || '.' || (s / 65536) % 256,
         first_seen, last_seen,
         least(last_seen + interval '14 days', first_seen + interval '90 days'), first_seen + interval '90 days',
         CASE WHEN reason IS NOT NULL THEN last_seen END, reason
  FROM hs JOIN uid ON uid.n = hs.user_n;

-- Each session's chain of refresh tokens (1 to 9, 5 on average), each the parent of the next:
-- every one but the last used when it was refreshed (a few superseded: retries within the
-- grace); the last one still unused, its family ended or expired.
INSERT INTO refresh_tokens (id, session_id, token_hash, parent_id, issued_at, used_at, superseded_at, expires_at)
  SELECT pg_temp.rid('t' || s || '.' || k), pg_temp.rid('s' || s), pg_temp.h43('h' || s || '.' || k),
         CASE WHEN k > 0 THEN pg_temp.rid('t' || s || '.' || (k - 1)) END,
         at, CASE WHEN k < n_tokens - 1 AND (s + k) % 50 <> 0 THEN next_at END,
         CASE WHEN k < n_tokens - 1 AND (s + k) % 50 = 0 THEN next_at END,
         least(at + interval '14 days', first_seen + interval '90 days')
  FROM (SELECT hs.*, k, first_seen + (last_seen - first_seen) * k / n_tokens AS at,
               first_seen + (last_seen - first_seen) * (k + 1) / n_tokens AS next_at
        FROM hs CROSS JOIN LATERAL generate_series(0, n_tokens - 1) k
        ORDER BY s, k LIMIT :tokens) t;

-- The audit trail of that year, oldest first (ids follow time, as in a real log).
INSERT INTO audit_events (at, kind, actor, user_id, client_id, device_id, ip, user_agent, detail)
  SELECT at, kind, CASE WHEN kind = 'session_revoked' AND a % 5 = 0 THEN 'cli' ELSE uid.id END, uid.id, :'client',
         pg_temp.rid('d' || a), '10.' || a % 256 || '.' || (a / 256) % 256 || '.' || (a / 65536) % 256,
         (ARRAY['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
                'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1',
                'okhttp/4.12.0'])[1 + a % 3],
         CASE kind WHEN 'login_failed' THEN 'wrong_password' WHEN 'session_revoked' THEN 'logout' END
  FROM (SELECT a, now() - random() * interval '365 days' AS at,
               1 + floor(power(random(), 2) * :users)::bigint AS user_n,
               CASE WHEN r < 0.60 THEN 'refreshed' WHEN r < 0.78 THEN 'login_succeeded' WHEN r < 0.93 THEN 'login_failed'
                    WHEN r < 0.99 THEN 'session_revoked' ELSE 'password_changed' END AS kind
        FROM (SELECT a, random() AS r FROM generate_series(1, :audit) a) r) x
  JOIN uid ON uid.n = x.user_n
  ORDER BY at;
-- A history grows over months, with autovacuum keeping up and checkpoints behind it; measure
-- that steady state, not the minutes after a 2.6 GB bulk load (pages without hint bits or a
-- visibility map, a checkpoint's worth of dirty buffers still to write).
VACUUM ANALYZE;
CHECKPOINT;
SQL
  log "# seeded in $(($(date +%s) - seed_start)) s: $(psql -Atq "$PORTCULLIS_DATABASE_URL" -c "SELECT string_agg(t || '=' || n, ' ') FROM (
      SELECT 'users' t, count(*) n FROM users UNION ALL SELECT 'device_sessions', count(*) FROM device_sessions
      UNION ALL SELECT 'live_sessions', count(*) FROM device_sessions WHERE revoked_at IS NULL AND idle_expires_at > now()
      UNION ALL SELECT 'refresh_tokens', count(*) FROM refresh_tokens UNION ALL SELECT 'audit_events', count(*) FROM audit_events) c") $(psql -Atq "$PORTCULLIS_DATABASE_URL" -c "SELECT 'db_size=' || pg_size_pretty(pg_database_size(current_database()))")"
  refresh_pair history
  python3 - "$OUT/history.jsonl" <<'PY'
import json, sys
r = {x["phase"]: x for x in map(json.loads, open(sys.argv[1]))}
for phase in ("empty", "history"):
    c, o = r[phase]["closed"], r[phase]["open"]
    print(f"{phase:>7} refresh rate_c64={c['ok_200_rps']:.0f} c64_p99_ms={c['p99_ms']:.2f} | open loop at {r[phase]['rate']}/s: "
          f"p50_ms={o['p50_ms']:.2f} p99_ms={o['p99_ms']:.2f} ok={100*o['ok_200_rate']:.2f}% shortfall={o['shortfall']} "
          f"codes={o['status_codes']}")
e, h = r["empty"], r["history"]
print(f"ratios rate_history/rate_empty={h['closed']['ok_200_rps'] / e['closed']['ok_200_rps']:.2f} "
      f"p99_empty/p99_history={e['open']['p99_ms'] / h['open']['p99_ms']:.2f}")
PY
  log "# raw results: $OUT"
  exit 0
fi

if [ "$MODE" = overload ]; then
  # The closed-loop peak, a low-rate baseline, then 3x the peak offered open loop: a server that
  # sheds answers the excess 503 at once (with Retry-After) and keeps the 200s fast; one that
  # queues answers everything late. Then, at once, the low rate again: how soon it is served.
  log "# client_credentials closed loop c=64 $DUR"
  closed=$(run_oha token 64 "${TOKEN_ARGS[@]}" "$BASE/oauth2/token")
  peak=$(json_field "$closed" ok_200_rps)
  low=$(python3 -c 'import sys; print(max(1, round(float(sys.argv[1]) / 10)))' "$peak")
  # OVER_RATE: offer that rate instead (a setting that sheds at c=64 lowers the measured peak,
  # and 3x it would be no overload: compare settings at the rate 3x the default's peak).
  over=${OVER_RATE:-$(python3 -c 'import sys; print(max(1, round(float(sys.argv[1]) * 3)))' "$peak")}
  log "# baseline: $low/s open loop 5s"
  base=$(OPEN_DUR=5s run_oha_open base "$low" 16 "${TOKEN_ARGS[@]}" "$BASE/oauth2/token")
  log "# overload: $over/s open loop, c=${OVER_CONC:-512}, $DUR"
  "${LOAD_PIN[@]}" oha --no-tui --output-format json -z "$DUR" -q "$over" --latency-correction --stats-success-breakdown -c "${OVER_CONC:-512}" \
    "${TOKEN_ARGS[@]}" "$BASE/oauth2/token" >"$OUT/oha-overload.json" &
  OVER_PID=$!
  # During the overload: what a 503 says (its Retry-After), from a request of our own.
  sleep 3
  probe=none
  for i in $(seq 1 50); do
    code=$(curl -s -o /dev/null -D "$OUT/probe-headers.txt" -w '%{http_code}' -m 10 -u "$CLIENT_ID:$CLIENT_SECRET" \
      -d grant_type=client_credentials -d scope=api:read "$BASE/oauth2/token" || true)
    if [ "$code" = 503 ]; then
      retry_after=$(awk 'tolower($1) == "retry-after:" {gsub("\r", ""); print $2}' "$OUT/probe-headers.txt")
      if [ -n "$retry_after" ]; then probe="503 with Retry-After: $retry_after"; else probe="503 WITHOUT Retry-After"; fi
      break
    fi
    probe="no 503 in $i probes (last: $code)"
    kill -0 "$OVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  wait "$OVER_PID" || true
  HWM_OVER=$(status_mb VmHWM)
  # At once: the low rate, in two back-to-back 2 s runs.
  rec1=$(OPEN_DUR=2s run_oha_open rec1 "$low" 16 "${TOKEN_ARGS[@]}" "$BASE/oauth2/token")
  rec2=$(OPEN_DUR=2s run_oha_open rec2 "$low" 16 "${TOKEN_ARGS[@]}" "$BASE/oauth2/token")
  over_line=$(python3 "$SUMMARIZE" "$OUT/oha-overload.json" overload "${OVER_CONC:-512}" 0 0)
  python3 - "$closed" "$base" "$over_line" "$rec1" "$rec2" "$over" "$probe" "$low" "$OUT/oha-overload.json" <<'PY'
import json, sys
closed, base, over, rec1, rec2 = (json.loads(a) for a in sys.argv[1:6])
rate, probe, low = sys.argv[6:9]
raw = json.load(open(sys.argv[9]))
# --stats-success-breakdown: percentiles of the 2xx answers and of the others, apart.
ok_lat, bad_lat = raw.get("latencyPercentilesSuccessful") or {}, raw.get("latencyPercentilesNotSuccessful") or {}
ms = lambda d, p: f"{1000 * d[p]:.1f}" if d.get(p) is not None else "-"
codes = over["status_codes"]
n = over["requests"] or 1
share = lambda k: 100 * codes.get(k, 0) / n
errors = sum(over["errors"].values())
others = {k: v for k, v in codes.items() if k not in ("200", "503")}
print(f"overload peak_rps_c64={closed['ok_200_rps']:.0f} offered_rps={rate} c={over['concurrency']} "
      f"ok_200_rps={over['ok_200_rps']:.0f} share_200={share('200'):.1f}% share_503={share('503'):.1f}% "
      f"other_statuses={others} errors={100 * errors / n:.1f}% {over['errors'] or ''}")
print(f"overload latency from the due time: 200s p50_ms={ms(ok_lat, 'p50')} p99_ms={ms(ok_lat, 'p99')} | "
      f"non-2xx p50_ms={ms(bad_lat, 'p50')} p99_ms={ms(bad_lat, 'p99')} | all p99_ms={over['p99_ms']:.1f}")
print(f"overload probe (curl, during it): {probe}")
print(f"recovery at {low}/s: baseline p99_ms={base['p99_ms']:.2f} | "
      f"first 2 s after p99_ms={rec1['p99_ms']:.2f} max_ms={rec1['max_ms']:.1f} ok={100 * rec1['ok_200_rate']:.1f}% | "
      f"next 2 s p99_ms={rec2['p99_ms']:.2f} ok={100 * rec2['ok_200_rate']:.1f}%")
PY
  echo "rss idle_mb=$RSS_IDLE peak_mb_after_overload=$HWM_OVER threads=$(threads)"
  log "# raw results: $OUT"
  exit 0
fi

if [ "$MODE" = memory ]; then
  # Where the server's memory is: idle, then under the client_credentials load (c=64).
  smaps() {
    log "## $1: $(mem_now)"
    grep -E '^(Rss|Pss_Anon|Pss_File|Anonymous|Private_Dirty|Shared_Clean):' "/proc/$SERVER_PID/smaps_rollup" | tr -s ' ' | paste -sd' ' >&2
    # The largest mappings by RSS: the binary's sections, [heap], anonymous regions (mimalloc's
    # arenas and segments, thread stacks) grouped by size.
    python3 - "/proc/$SERVER_PID/smaps" <<'PY' >&2
import collections, re, sys
maps, cur = [], None
for line in open(sys.argv[1]):
    if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
        f = line.split()
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        cur = {"size": (hi - lo) // 1024, "name": f[5] if len(f) > 5 else "[anon]", "perm": f[1], "rss": 0}
        maps.append(cur)
    elif line.startswith("Rss:"):
        cur["rss"] = int(line.split()[1])
by = collections.defaultdict(lambda: [0, 0])
for m in maps:
    key = m["name"].split("/")[-1] if m["name"] != "[anon]" else f"[anon {m['size'] // 1024} MiB {m['perm']}]" if m["size"] >= 1024 else f"[anon <1 MiB {m['perm']}]"
    by[key][0] += m["rss"]; by[key][1] += 1
for k, (rss, n) in sorted(by.items(), key=lambda kv: -kv[1][0])[:12]:
    print(f"   {rss / 1024:8.1f} MB  {n:4d} x {k}")
PY
    log "   threads by name: $(cat /proc/$SERVER_PID/task/*/comm | sort | uniq -c | sort -rn | awk '{printf "%s×%s ", $1, $2}')"
  }
  smaps idle
  log "# client_credentials c=64 $DUR, RSS sampled every 0.5 s"
  run_oha token 64 "${TOKEN_ARGS[@]}" "$BASE/oauth2/token" >"$OUT/memory-load.json" &
  LOAD_PID=$!
  max=0
  while kill -0 "$LOAD_PID" 2>/dev/null; do
    now=$(status_mb VmRSS); max=$(python3 -c 'import sys; print(max(float(sys.argv[1]), float(sys.argv[2])))' "$max" "$now")
    sleep 0.5
  done
  wait "$LOAD_PID"
  log "# load: $(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("rps=%.0f p99_ms=%.2f" % (r["ok_200_rps"], r["p99_ms"]))' "$OUT/memory-load.json") max sampled VmRSS=${max} MB"
  smaps "after the load"
  sleep 5
  smaps "5 s later"
  echo "rss idle_mb=$RSS_IDLE peak_mb=$(status_mb VmHWM) after_load_mb=$(status_mb VmRSS) threads=$(threads)"
  kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
  log "# mimalloc's statistics at exit (server.log):"
  grep -iE 'heap stats|reserved|committed|purged|touched|segments|threads|process' "$OUT/server.log" >&2 || tail -n 30 "$OUT/server.log" >&2
  exit 0
fi

: >"$OUT/summary.jsonl"
for c in $CONCS; do
  log "# portcullis client_credentials c=$c $DUR"
  run_oha token "$c" "${TOKEN_ARGS[@]}" "$BASE/oauth2/token" | tee -a "$OUT/summary.jsonl" >&2
  HWM_TOKEN=$(status_mb VmHWM)
  log "# portcullis JWKS c=$c $DUR"
  run_oha jwks "$c" "$BASE/.well-known/jwks.json" | tee -a "$OUT/summary.jsonl" >&2
done
log "# server after the load: $(mem_now)"
kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=

log "# the box's RSA-2048 sign limit: openssl speed -multi 2 rsa2048"
openssl speed -multi "$(nproc)" -seconds 10 rsa2048 >"$OUT/openssl-speed.txt" 2>/dev/null
SIGN_LIMIT=$(awk '/^rsa 2048 bits/ {print $6}' "$OUT/openssl-speed.txt" | tail -1)

PEER_LINE=
if [ -z "${SKIP_PEER:-}" ]; then
  log "# the peer: $PEER_DIR/run-peer.sh"
  PEER_LINE=$(OUT="$OUT/peer" DUR=$DUR CONCS=$CONCS WARMUP=$WARMUP bash "$PEER_DIR/run-peer.sh" 2>"$OUT/peer.log" | tee "$OUT/peer.txt" | tail -1)
fi

python3 - "$OUT/summary.jsonl" "$SIGN_LIMIT" "$PEER_LINE" <<'PY'
import json, re, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
limit = float(sys.argv[2] or 0)
peer = sys.argv[3]
by = {}
for r in rows:
    by.setdefault(r["concurrency"], {})[r["label"]] = r
for c in sorted(by):
    t, j = by[c]["token"], by[c]["jwks"]
    print(f"portcullis c={c} client_credentials rps={t['ok_200_rps']:.0f} p50_ms={t['p50_ms']:.2f} p99_ms={t['p99_ms']:.2f} "
          f"ok={100*t['ok_200_rate']:.2f}% server_cpu={t['server_cpu_pct']:.0f}% loadgen_cpu={t['loadgen_cpu_pct']:.0f}% "
          f"| jwks rps={j['ok_200_rps']:.0f} p99_ms={j['p99_ms']:.2f} ok={100*j['ok_200_rate']:.2f}%")
c = max(by)
t, j = by[c]["token"], by[c]["jwks"]
print(f"box rsa2048 sign limit (openssl speed -multi): {limit:.0f}/s")
if limit:
    print(f"client_credentials / sign limit = {t['ok_200_rps']/limit:.2f}")
m = re.search(r"rps=(\d+) p99_ms=([\d.]+) jwks_rps=(\d+)", peer or "")
if m:
    prps, pp99, pj = float(m.group(1)), float(m.group(2)), float(m.group(3))
    print(f"peer (c={c}): client_credentials rps={prps:.0f} p99_ms={pp99} jwks rps={pj:.0f}")
    print(f"ratio vs peer: client_credentials {t['ok_200_rps']/prps:.2f}x, jwks {j['ok_200_rps']/pj:.2f}x")
PY
echo "portcullis rss idle_mb=$RSS_IDLE peak_mb_after_client_credentials=$HWM_TOKEN (VmHWM)"
log "# raw results: $OUT"
