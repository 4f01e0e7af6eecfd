#!/usr/bin/env bash
# README's tour as a newcomer meets it, in this checkout: README's command 1 (a release build,
# serving from the repository root, which makes data/ and the keys in keys/ on first start),
# then examples/tour/tour.sh against it, checking every output README shows. `.ci/run` runs this.
# It refuses a checkout whose node has already started here (data/, or a file in keys/ other
# than its .gitignore), and removes what its own node made when it ends.
set -euo pipefail
cd "$(dirname "$0")/../.."
# The node must be README's: built-in defaults and config/default.toml, nothing from outside.
unset $(compgen -e | grep '^PORTCULLIS_' || true)
TARGET=${CARGO_TARGET_DIR:-target}

fresh() { [ ! -e data ] && [ -z "$(find keys -mindepth 1 ! -name .gitignore -print -quit 2>/dev/null)" ]; }
fresh || { echo "run-fresh.sh: a node has started here already (data/ or keys/); move its state away" >&2; exit 1; }

# Built as README's commands build them (each `cargo run` resolves its own features, so a
# combined build would not be reused).
cargo build --release --locked --bin portcullis
cargo build --release --locked -p cli-login
cargo build --release --locked --bin orders

VENV=$TARGET/tour-venv
# A venv is not relocatable: one copied or moved (a restored cache) is made anew.
if ! "$VENV/bin/python3" -c 'import jwt, cryptography' 2>/dev/null; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "pyjwt==2.10.1" "cryptography==48.0.0"
fi

# Four distinct free ports, taken at once: the node, orders (step 10), the second node and the
# SMS gateway (step 11).
read -r AS_PORT OS_PORT A2_PORT GW_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
LOG=$(mktemp)
fresh || { echo "run-fresh.sh: a node started here meanwhile" >&2; exit 1; }
PORTCULLIS_LISTEN=127.0.0.1:$AS_PORT "$TARGET/release/portcullis" serve >"$LOG" 2>&1 &
PID=$!
finish() {
  local status=$?
  kill "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  [ "$status" = 0 ] || { echo "--- the node's log"; cat "$LOG"; } >&2
  # What this run's node made, and nothing else (the checkout was fresh when it started).
  rm -rf data "$LOG"
  find keys -mindepth 1 ! -name .gitignore -delete
}
trap finish EXIT
for _ in $(seq 1 600); do curl -fsS "http://127.0.0.1:$AS_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://127.0.0.1:$AS_PORT/readyz" >/dev/null

# stderr through a pipe: step 9 tees to /dev/stderr (see tour.sh).
PATH="$VENV/bin:$PATH" PC="$TARGET/release/portcullis" AS="http://127.0.0.1:$AS_PORT" \
  OS="http://127.0.0.1:$OS_PORT" ORDERS_LISTEN="127.0.0.1:$OS_PORT" \
  A2="http://127.0.0.1:$A2_PORT" GW="http://127.0.0.1:$GW_PORT" \
  bash examples/tour/tour.sh 2>&1 | cat
echo "the tour passed: every output README shows was checked"
