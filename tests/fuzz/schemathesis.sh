#!/usr/bin/env bash
# The OpenAPI fuzzer against a live node: schemathesis (PyPI) reads /openapi.json and sends
# generated requests — valid and invalid — to every operation, with client, user and admin
# credentials, and runs all its checks (no 5xx, status codes, content types, response schemas,
# invalid data refused, valid data accepted). Usage: tests/fuzz/schemathesis.sh [PORTCULLIS_BIN]
# FUZZ_SEED fixes the generated data (CI does, so that a run is repeatable); unset, every run
# explores anew — run it so locally now and then.
# Needs python3 and curl; installs schemathesis into the target folder's fuzz-venv the first time.
set -euo pipefail
cd "$(dirname "$0")/../.."
TARGET=${CARGO_TARGET_DIR:-target}
BIN=${1:-$TARGET/debug/portcullis}
PORT=${FUZZ_PORT:-18931}
EXAMPLES=${FUZZ_EXAMPLES:-25}
WORK=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT

VENV=$TARGET/fuzz-venv
# A venv is not relocatable: one copied or moved (a restored cache) is made anew.
if [ "$("$VENV/bin/st" --version 2>/dev/null)" != "st, version 4.32.5" ]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==4.32.5"
fi

export PORTCULLIS_LISTEN=127.0.0.1:$PORT PORTCULLIS_DATABASE_URL="sqlite://$WORK/fuzz.db" \
  PORTCULLIS_KEYS_DIR="$WORK/keys" PORTCULLIS_PASSWORDS__MEMORY_KIB=1024 PORTCULLIS_PASSWORDS__ITERATIONS=1 \
  PORTCULLIS_LOGIN__MAX_ATTEMPTS_PER_IP=1000000 PORTCULLIS_LOGIN__MAX_ATTEMPTS_PER_USER=1000000 \
  PORTCULLIS_LOG__FORMAT=json
json() { python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
# The database and keys a node makes on first start (the other commands refuse to make them).
"$BIN" migrate >/dev/null
admin=$("$BIN" client create --name fuzz-admin --grant client_credentials --scope admin --json)
app=$("$BIN" client create --name fuzz-app --grant password --grant refresh_token --scope "read openid profile email phone" --json)
rs=$("$BIN" client create --name fuzz-rs --grant client_credentials --resource-server --json)
signup=$("$BIN" client create --name fuzz-signup --grant password --signup --json)
echo "fuzz user's long password" | "$BIN" user create --username fuzzer --password-stdin --json >/dev/null
"$BIN" serve >"$WORK/server.log" 2>&1 &
PID=$!
BASE=http://127.0.0.1:$PORT
up=
for _ in $(seq 1 100); do curl -fsS "$BASE/healthz" >/dev/null 2>&1 && up=1 && break; sleep 0.1; done
if [ -z "$up" ]; then
  echo "the node did not come up:"; cat "$WORK/server.log"; exit 1
fi

ADMIN_ID=$(echo "$admin" | json client_id) ADMIN_SECRET=$(echo "$admin" | json client_secret)
APP_ID=$(echo "$app" | json client_id) APP_SECRET=$(echo "$app" | json client_secret)
RS_ID=$(echo "$rs" | json client_id) RS_SECRET=$(echo "$rs" | json client_secret)
SIGNUP_ID=$(echo "$signup" | json client_id) SIGNUP_SECRET=$(echo "$signup" | json client_secret)
token() { # prints an access token, or fails the script
  local t
  t=$(curl -fsS "$BASE/oauth2/token" -u "$1:$2" "${@:3}" | json access_token)
  [ -n "$t" ] || { echo "no access token for $1" >&2; exit 1; }
  echo "$t"
}
ADMIN_TOKEN=$(token "$ADMIN_ID" "$ADMIN_SECRET" -d grant_type=client_credentials -d scope=admin)

run() { # a surface, its credentials
  local what=$1; shift
  echo "== $what"
  "$VENV/bin/st" run "$BASE/openapi.json" --checks all --max-examples "$EXAMPLES" --phases examples,coverage,fuzzing \
    ${FUZZ_SEED:+--seed "$FUZZ_SEED"} \
    --request-timeout 10 --no-color --suppress-health-check all "$@"
}
user_token() { token "$APP_ID" "$APP_SECRET" -d grant_type=password -d username=fuzzer \
  --data-urlencode "password=fuzz user's long password" -d "device_id=fuzz-$1"; }
# Every token is made before the runs (a failed substitution inside an argument would not stop
# the script, and a run with an empty token would pass on 401s).
ME_TOKEN=$(user_token me)
DEVICE_TOKEN=$(user_token device)
LOGOUT_TOKEN=$(user_token logout)
LAST_ADMIN_TOKEN=$(token "$ADMIN_ID" "$ADMIN_SECRET" -d grant_type=client_credentials -d scope=admin)
status=0
# Where schema-valid requests are refused by design, the run drops only the check that says they
# must be accepted (positive_data_acceptance), and says why:
#  - the token endpoint and the authorization endpoint answer a well-formed request with wrong
#    credentials, an unknown code or an unknown client with 400 (RFC 6749 §5.2, §4.1.2.1), and
#    the end-session endpoint an ID token hint it did not sign or a post-logout URI nobody
#    registered with an error page (RP-Initiated Logout 1.0 §3, §4);
#  - the form endpoints (token, introspection, revocation) take the client in HTTP Basic or in
#    the form, never both (RFC 6749 §2.3.1): with Basic set, a schema-valid form naming
#    client_secret is refused, which a form schema cannot say;
#  - client registration has rules across fields (a public client cannot use
#    client_credentials; authorization_code needs a redirect URI) that the schema states in words.
# The revocation feed is a stream that never ends; its own tests cover it.
run "oauth and node (a resource server's Basic credentials)" --include-tag oauth2 --include-tag operations \
  --exclude-path /oauth2/token --exclude-path /oauth2/otp --exclude-path /oauth2/authorize --exclude-path /oauth2/revocation-feed \
  --exclude-path /oauth2/introspect --exclude-path /oauth2/revoke --exclude-path /oauth2/logout \
  --exclude-path /oauth2/userinfo --auth "$RS_ID:$RS_SECRET" || status=1
run "the form endpoints" --include-path /oauth2/token --include-path /oauth2/otp --include-path /oauth2/authorize \
  --include-path /oauth2/introspect --include-path /oauth2/revoke --include-path /oauth2/logout \
  --exclude-checks positive_data_acceptance --auth "$RS_ID:$RS_SECRET" || status=1
run "userinfo (a user's token with openid)" --include-path /oauth2/userinfo -H "Authorization: Bearer $ME_TOKEN" || status=1
# Logging out, or signing out a device the fuzzer learnt from the device list, ends the session
# the token belongs to: those run last, each with a token of its own.
run "self-service (a user's token)" --include-tag me --exclude-path /me/logout \
  --exclude-path /me/devices/{device_id} --exclude-path /me/avatar --exclude-path /me/contact \
  --exclude-path /me/contact/verify -H "Authorization: Bearer $ME_TOKEN" || status=1
# An avatar's bytes must decode as the image they claim to be, and a contact is exactly one of a
# phone (valid in its numbering plan) and an email: rules a schema cannot say whole.
run "self-service: the avatar and contact codes" --include-path /me/avatar --include-path /me/contact \
  --include-path /me/contact/verify --exclude-checks positive_data_acceptance \
  -H "Authorization: Bearer $ME_TOKEN" || status=1
# Sign-up and password reset: client-authenticated as at the token endpoint (the form may not
# name the client when Basic does), with the contact rules above.
run "accounts: sign-up and password reset" --include-tag account --exclude-checks positive_data_acceptance \
  --auth "$SIGNUP_ID:$SIGNUP_SECRET" || status=1
run "self-service: signing out a device" --include-path /me/devices/{device_id} \
  -H "Authorization: Bearer $DEVICE_TOKEN" || status=1
run "self-service: logout" --include-path /me/logout -H "Authorization: Bearer $LOGOUT_TOKEN" || status=1
# Deleting clients can delete the admin client itself (the fuzzer learns its id): last.
run "admin (an admin token)" --include-tag admin --exclude-path /admin/clients/{client_id} \
  --exclude-path /admin/clients --exclude-path /admin/users --exclude-path /admin/users/{user_id} \
  -H "Authorization: Bearer $ADMIN_TOKEN" || status=1
# Registrations and profile edits whose fields a schema cannot judge whole (a redirect URI's
# rules; a phone number valid in its country's numbering plan): every other check still runs.
run "admin: client and user registration, user edits" --include-path /admin/clients --include-path /admin/users \
  --include-path /admin/users/{user_id} --exclude-checks positive_data_acceptance \
  -H "Authorization: Bearer $ADMIN_TOKEN" || status=1
run "admin: client deletion" --include-path /admin/clients/{client_id} \
  -H "Authorization: Bearer $LAST_ADMIN_TOKEN" || status=1
if grep -q '"level":"ERROR"' "$WORK/server.log"; then
  echo "the server logged errors:"; grep '"level":"ERROR"' "$WORK/server.log" | head -20; status=1
fi
exit $status
