#!/usr/bin/env bash
# README's tour as a newcomer meets it, in this checkout: README's command 1 (a release build,
# serving from the repository root, which makes data/ and keys/ on first start), then
# examples/tour/tour.sh against it, checking every output README shows. `.ci/run` runs this.
# It refuses a checkout that already has data/ or keys/ (that would not be a first start), and
# removes the ones it made when it ends.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -e data ] || [ -e keys ]; then
  echo "run-fresh.sh: data/ or keys/ exists here; a first start needs neither (move them away)" >&2
  exit 1
fi
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release --locked -p portcullis-server -p cli-login -p orders

VENV=$TARGET/tour-venv
# A venv is not relocatable: one copied or moved (a restored cache) is made anew.
if ! "$VENV/bin/python3" -c 'import jwt, cryptography' 2>/dev/null; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "pyjwt[crypto]==2.10.1"
fi

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
AS_PORT=$(free_port)
OS_PORT=$(free_port)
LOG=$(mktemp)
PORTCULLIS_LISTEN=127.0.0.1:$AS_PORT "$TARGET/release/portcullis" serve >"$LOG" 2>&1 &
PID=$!
trap 'kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; rm -rf data keys "$LOG"' EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$AS_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://127.0.0.1:$AS_PORT/readyz" >/dev/null || { cat "$LOG"; exit 1; }

# stderr through a pipe: step 9 tees to /dev/stderr (see tour.sh).
PATH="$VENV/bin:$PATH" PC="$TARGET/release/portcullis" AS="http://127.0.0.1:$AS_PORT" \
  OS="http://127.0.0.1:$OS_PORT" ORDERS_LISTEN="127.0.0.1:$OS_PORT" \
  bash examples/tour/tour.sh 2>&1 | cat
echo "the tour passed: every output README shows was checked"
