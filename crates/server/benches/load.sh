#!/usr/bin/env bash
# Load benchmark of Portcullis, side by side with the peer (panva/oidc-provider) in the same
# session, with the same load tool (oha), durations and concurrencies.
#
#   bash crates/server/benches/load.sh                 # Portcullis, the box's RSA limit, then the peer
#   SKIP_PEER=1 bash crates/server/benches/load.sh     # Portcullis only
#   bash crates/server/benches/load.sh refresh         # refresh grants/s (benches/refresh_load.rs),
#                                                      # each request rotating its own family;
#                                                      # BENCH_USER_AGENT="Mozilla/5.0 …" sends a
#                                                      # browser's (unset: none)
#   bash crates/server/benches/load.sh flood           # introspection, JWKS and client_credentials
#                                                      # p99 at c=8, quiet and then during a flood of
#                                                      # wrong passwords (c=32, real argon2 cost,
#                                                      # throttling off so every guess is hashed)
#   DUR=20s CONCS="16 64" WARMUP=5s                    # defaults shown
#   BENCH_BIN=/path/to/portcullis                 # run that server binary instead of building
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
OUT=${OUT:-$(mktemp -d -t portcullis-bench-XXXX)}
mkdir -p "$OUT"
BASE="http://127.0.0.1:$PORT"
log() { printf '%s\n' "$*" >&2; }

export PATH="$HOME/.cargo/bin:$PATH"
command -v oha >/dev/null || { log "# installing oha"; cargo install oha --locked >"$OUT/oha-install.log" 2>&1; }
[ -f "$SUMMARIZE" ] || { log "need $SUMMARIZE (the shared peer folder beside the repo)"; exit 1; }
[ -x /usr/bin/time ] || { log "need /usr/bin/time (apt-get install time)"; exit 1; }

if [ -n "${BENCH_BIN:-}" ]; then
  BIN=$BENCH_BIN   # another build of the server (an earlier commit, to compare in one session)
else
  log "# building the release binary"
  (cd "$ROOT" && cargo build --release --locked --bin portcullis >"$OUT/build.log" 2>&1)
  BIN=$ROOT/target/release/portcullis
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

MODE=${1:-token}
if [ "$MODE" = flood ] || [ "$MODE" = refresh ]; then
  # flood: every guess must reach argon2, the flood measures the argon2 bound, not the throttle.
  # refresh: the setup logs in BENCH_FAMILIES devices from one address, past the per-IP limit.
  export PORTCULLIS_LOGIN__MAX_ATTEMPTS_PER_USER=100000000 PORTCULLIS_LOGIN__MAX_ATTEMPTS_PER_IP=100000000
fi
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
"$BIN" serve >"$OUT/server.log" 2>&1 &
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

# CPU ticks (user + system) of every postgres process on this machine.
pg_ticks() {
  local t=0 pid
  for pid in $(pgrep -x postgres || true); do
    t=$((t + $(awk '{print $14+$15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}

if [ "$MODE" = refresh ]; then
  BENCH_USER="bench-$RANDOM$RANDOM"
  # A cheap password hash: argon2 is not what this measures (the cost is stored in the hash).
  echo "bench password 123" | PORTCULLIS_PASSWORDS__MEMORY_KIB=1024 PORTCULLIS_PASSWORDS__ITERATIONS=1 \
    "$BIN" user create --username "$BENCH_USER" --password-stdin --json >/dev/null
  log "# building the refresh load generator"
  (cd "$ROOT" && cargo bench --locked -p portcullis-server --bench refresh_load --no-run >>"$OUT/build.log" 2>&1)
  GEN=$(cd "$ROOT" && cargo bench --locked -p portcullis-server --bench refresh_load --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m["target"]["name"]=="refresh_load" and m.get("executable"): print(m["executable"])')
  for c in $CONCS; do
    log "# portcullis refresh_token c=$c $DUR ($(echo "$PORTCULLIS_DATABASE_URL" | cut -d: -f1))"
    before=$(awk '{print $14+$15}' "/proc/$SERVER_PID/stat")
    pg_before=$(pg_ticks)
    BENCH_URL=$BASE BENCH_CLIENT_ID=$CLIENT_ID BENCH_CLIENT_SECRET=$CLIENT_SECRET BENCH_USERNAME=$BENCH_USER \
      BENCH_PASSWORD="bench password 123" BENCH_CONCURRENCY=$c BENCH_FAMILIES=$((c * 4)) BENCH_SECONDS=${DUR%s} \
      BENCH_USER_AGENT=${BENCH_USER_AGENT:-} "$GEN" | tee -a "$OUT/refresh.jsonl"
    after=$(awk '{print $14+$15}' "/proc/$SERVER_PID/stat")
    pg_after=$(pg_ticks)
    log "# server cpu: $(awk -v a="$before" -v b="$after" -v hz="$(getconf CLK_TCK)" -v d="${DUR%s}" 'BEGIN{printf "%.0f%%", 100*(b-a)/hz/d}')"
    [ -z "$BENCH_DB" ] || log "# postgres cpu (all its processes): $(awk -v a="$pg_before" -v b="$pg_after" -v hz="$(getconf CLK_TCK)" -v d="${DUR%s}" 'BEGIN{printf "%.0f%%", 100*(b-a)/hz/d}')"
  done
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
      oha --no-tui --output-format json -z "$DUR" -w -c 8 "${args[@]}" >"$OUT/flood-$phase-$what.json"
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
  oha --no-tui --output-format json -z "$((3 * secs + 5))s" -c 32 -m POST -a "$CLIENT_ID:$CLIENT_SECRET" \
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

HZ=$(getconf CLK_TCK)
server_ticks() { awk '{print $14+$15}' "/proc/$SERVER_PID/stat"; }
TOKEN_ARGS=(-m POST -a "$CLIENT_ID:$CLIENT_SECRET" -T application/x-www-form-urlencoded -d 'grant_type=client_credentials&scope=api%3Aread')
run_oha() {
  local label=$1 c=$2; shift 2
  local json="$OUT/oha-${label}-c${c}.json" before after
  before=$(server_ticks)
  /usr/bin/time -f '%U %S' -o "$OUT/time-${label}-c${c}.txt" oha --no-tui --output-format json -z "$DUR" -w -c "$c" "$@" >"$json"
  after=$(server_ticks)
  python3 "$SUMMARIZE" "$json" "$label" "$c" \
    "$(awk -v a="$before" -v b="$after" -v hz="$HZ" 'BEGIN{print (b-a)/hz}')" \
    "$(awk '{print $1+$2}' "$OUT/time-${label}-c${c}.txt")"
}

log "# warm-up ($WARMUP)"
oha --no-tui --output-format json -z "$WARMUP" -w -c 16 "${TOKEN_ARGS[@]}" "$BASE/oauth2/token" >/dev/null
: >"$OUT/summary.jsonl"
for c in $CONCS; do
  log "# portcullis client_credentials c=$c $DUR"
  run_oha token "$c" "${TOKEN_ARGS[@]}" "$BASE/oauth2/token" | tee -a "$OUT/summary.jsonl" >&2
  log "# portcullis JWKS c=$c $DUR"
  run_oha jwks "$c" "$BASE/.well-known/jwks.json" | tee -a "$OUT/summary.jsonl" >&2
done
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
log "# raw results: $OUT"
