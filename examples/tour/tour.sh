#!/usr/bin/env bash
# README's tour, with a check on every output README shows. `.ci/run` runs it against a fresh
# server; tests/tidy fails when README's tour block differs from this file's lines from "# 1."
# on, less the lines that call a check (`expect`, `tour_…`, from checks.sh).
#
#   examples/tour/tour.sh                     # in the repo root, README's command 1 serving
#   PC=path/to/portcullis AS=http://127.0.0.1:PORT examples/tour/tour.sh 2>&1 | cat
# (Step 9 tees the app's output to /dev/stderr: let stderr be a terminal or a pipe, not a file,
# which /dev/stderr would reopen from its start.)
set -euo pipefail
. "$(dirname "$0")/checks.sh"
PC=${PC:-target/release/portcullis}
AS=${AS:-http://127.0.0.1:8080}
OS=${OS:-http://127.0.0.1:8081}
A2=${A2:-http://127.0.0.1:8082}
GW=${GW:-http://127.0.0.1:8083}
field() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(*(d[k] for k in sys.argv[1:]))' "$@"; }

# 1. Register a client. The secret is shown once; only a hash is stored.
CLIENT=$($PC client create --name demo --grant client_credentials --grant password \
  --grant refresh_token --scope "read write" --json)
echo "$CLIENT"
# {"client_id":"pc_…","client_secret":"pcs_…"}
expect "$CLIENT"
CLIENT_ID=$(echo "$CLIENT" | field client_id)
CLIENT_SECRET=$(echo "$CLIENT" | field client_secret)

# 2. Get a token for the client itself.
TOKEN=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials -d scope=read $AS/oauth2/token)
echo "$TOKEN"
# {"access_token":"eyJ…","token_type":"Bearer","expires_in":900,"scope":"read"}
expect "$TOKEN"

# 3. Or for a user, on a device: a refresh token and the device_id come back too.
USER_ID=$(echo 'correct horse battery' | $PC user create --username alice --password-stdin --json | field user_id)
LOGIN=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=password -d username=alice \
  -d 'password=correct horse battery' -d device_id=my-laptop $AS/oauth2/token)
echo "$LOGIN"
# {"access_token":"eyJ…","token_type":"Bearer","expires_in":900,"scope":"read write",
#  "refresh_token":"pcr_…","device_id":"my-laptop"}
expect "$LOGIN"
USER_TOKEN=$(echo "$LOGIN" | field access_token)
REFRESH=$(echo "$LOGIN" | field refresh_token)

# 4. Verify the user's token as a resource server does: the issuer's JWKS, RS256 only, and
#    every claim (iss, aud, exp, typ). With PyJWT (python3 -m pip install 'pyjwt[crypto]'):
CHECKED=$(python3 - "$USER_TOKEN" "$AS" <<'PY'
import jwt, sys
token, issuer = sys.argv[1], sys.argv[2]
key = jwt.PyJWKClient(f"{issuer}/.well-known/jwks.json").get_signing_key_from_jwt(token)
if jwt.get_unverified_header(token).get("typ") != "at+jwt":
    sys.exit("not an access token")
claims = jwt.decode(token, key, algorithms=["RS256"], issuer=issuer, audience="api",
                    options={"require": ["exp", "iat", "sub", "sid"]})
print("valid; sub", claims["sub"], "scope", claims["scope"])
PY
)
echo "$CHECKED"
# valid; sub … scope read write
expect "$CHECKED"
#    Or the same checks from the command line (--json prints the claims):
VERIFIED=$($PC token verify "$USER_TOKEN" --issuer $AS)
echo "$VERIFIED"
# valid: signature, typ, iss, aud, exp and nbf checked against http…
# sub: …
expect "$VERIFIED"
#    Checked offline, a token stays valid until it expires, even after a kick or a logout: the
#    guard crate (below) also follows the revocation feed, and introspection (step 5) asks.

# 5. Or ask the server (RFC 7662); this also knows whether the session has ended. Only a
#    resource server may: register one (an app's client gets 403 unauthorized_client).
RS=$($PC client create --name api --grant client_credentials --resource-server --json)
RS_ID=$(echo "$RS" | field client_id)
RS_SECRET=$(echo "$RS" | field client_secret)
INTROSPECTED=$(curl -s -u "$RS_ID:$RS_SECRET" -d "token=$USER_TOKEN" $AS/oauth2/introspect)
echo "$INTROSPECTED"
# {"active":true,…"sub":"…"…}
expect "$INTROSPECTED"

# 6. The user's device session: who am I, refresh (same device: the token is bound to it),
#    replay the old refresh token (reuse: the whole session is revoked).
ME=$(curl -s -H "Authorization: Bearer $USER_TOKEN" $AS/me)
echo "$ME"
# {"user_id":"…","username":"alice",…"device_id":"my-laptop","display_name":null,…}
expect "$ME"
REFRESHED=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=refresh_token -d "refresh_token=$REFRESH" \
  -d device_id=my-laptop $AS/oauth2/token)
echo "$REFRESHED"
# {"access_token":"eyJ…","refresh_token":"pcr_…","device_id":"my-laptop"}
expect "$REFRESHED"
sleep 11
REPLAYED=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=refresh_token -d "refresh_token=$REFRESH" \
  -d device_id=my-laptop $AS/oauth2/token)
echo "$REPLAYED"
# {"error":"invalid_grant","error_description":"the refresh token was already used; its device session has been revoked"}
expect "$REPLAYED"
STATUS=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $USER_TOKEN" $AS/me)
echo "$STATUS"
# 401
expect "$STATUS"
#    (sleep 11: past refresh.reuse_grace, 10 s, inside which a resent token is a retry.)
#    POST /me/logout with the access token ends a live session the same way.

# 7. Admin, from the command line (or the same through /admin/… with an admin token): alice
#    signs in on her phone, and an admin lists her devices and kicks the phone.
PHONE=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=password -d username=alice \
  -d 'password=correct horse battery' -d device_id=my-phone $AS/oauth2/token)
SESSIONS=$($PC user sessions alice)
echo "$SESSIONS"
# my-laptop  ended  … last seen 20…
# my-phone  active  … last seen 20…
expect "$SESSIONS"
KICKED=$($PC user kick alice my-phone)
echo "$KICKED"
# kicked device my-phone: 1 session(s) ended
expect "$KICKED"
AFTER_KICK=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=refresh_token \
  -d "refresh_token=$(echo "$PHONE" | field refresh_token)" -d device_id=my-phone $AS/oauth2/token)
echo "$AFTER_KICK"
# {"error":"invalid_grant",…}
expect "$AFTER_KICK"
#    Ban a user (every session ends at once; grants fail until unbanned), then lift it:
echo 'another long password' | $PC user create --username bob --password-stdin
BANNED=$($PC user ban bob --reason "chargeback")
echo "$BANNED"
# banned …  bob  banned; every session has ended
expect "$BANNED"
UNBANNED=$($PC user unban bob)
echo "$UNBANNED"
# unbanned …  bob  active
expect "$UNBANNED"
$PC user list
#    The audit trail, through the admin API: a client with scope admin gets admin tokens.
OPS=$($PC client create --name ops --grant client_credentials --scope admin --json)
ADMIN=$(curl -s -u "$(echo "$OPS" | field client_id):$(echo "$OPS" | field client_secret)" \
  -d grant_type=client_credentials -d scope=admin $AS/oauth2/token | field access_token)
AUDIT=$(curl -s -H "Authorization: Bearer $ADMIN" "$AS/admin/audit?user_id=$USER_ID&limit=3")
echo "$AUDIT"
# {"events":[{…"kind":"session_revoked","actor":"cli",…"device_id":"my-phone",…
expect "$AUDIT"

# 8. The revocation feed resource servers follow (the resource server of step 5): every kick,
#    ban, logout and password change as a CAEP-shaped session-revoked event, replayed from the
#    start for a new follower, then live (this stops after 3 s).
FEED=$(timeout 3 curl -sN -u "$RS_ID:$RS_SECRET" $AS/oauth2/revocation-feed || true)
echo "$FEED"
# event: session-revoked
# data: {"id":…,"type":"https://schemas.openid.net/secevent/caep/event-type/session-revoked",…"reason_admin":{"en":"kicked"}…
expect "$FEED"

# 9. A third-party app: authorization code with PKCE (S256). examples/cli-login is one: a
#    command-line app that logs you in through your browser (RFC 8252: a loopback redirect on
#    whatever port is free, S256 PKCE, a fresh state, a public client) and prints who you are.
#    Register it once with the loopback redirect URI, which matches on any port:
APP_ID=$($PC client create --name "CLI login" --public --grant authorization_code --grant refresh_token \
  --scope read --redirect-uri http://127.0.0.1/callback --json | field client_id)
tour_browser alice 'correct horse battery'
#    Your browser opens the login page (or open the printed URL yourself; --no-browser only
#    prints it); sign in as alice and "Allow" on the consent page:
APP=$(cargo run -q --release -p cli-login -- --issuer $AS --client-id $APP_ID --device-id my-terminal | tee /dev/stderr)
# Logged in as alice (user …) on device my-terminal with scope "read".
expect "$APP"
#    GET /me/consents lists the apps you allowed; DELETE /me/consents/$APP_ID withdraws one
#    and ends its sessions.

# 10. Protect a service: examples/orders embeds the guard (crates/guard), which checks tokens
#     offline and follows the revocation feed with the resource server's client of step 5.
ORDERS_ISSUER=$AS ORDERS_CLIENT_ID=$RS_ID ORDERS_CLIENT_SECRET=$RS_SECRET cargo run -q --release --bin orders &
tour_wait_for "$OS/orders"
TABLET=$(curl -s -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=password -d username=alice \
  -d 'password=correct horse battery' -d device_id=alice-tablet $AS/oauth2/token | field access_token)
ORDER=$(curl -s -H "Authorization: Bearer $TABLET" -H 'Content-Type: application/json' \
  -d '{"item":"coffee beans","quantity":2}' $OS/orders)
echo "$ORDER"
# {"id":1,"item":"coffee beans","quantity":2}
expect "$ORDER"
#     Kick the tablet: the token has not expired, yet orders refuses it (a kick from the CLI
#     reaches the server within revocation.poll_interval, 1 s; the admin API's at once).
$PC user kick alice alice-tablet
sleep 3
REFUSED=$(curl -s -H "Authorization: Bearer $TABLET" $OS/orders)
echo "$REFUSED"
# {"error":"invalid_token","error_description":"the access token has been revoked"}
expect "$REFUSED"

# 11. Sign in by phone with a one-time code. A client with the otp grant, which signs people up
#     on their first code; the default sender only appends each code to data/otp-outbox.jsonl
#     (for development):
PHONE_APP=$($PC client create --name "phone app" --grant otp --grant refresh_token --otp-signup --json)
PHONE_AUTH="$(echo "$PHONE_APP" | field client_id):$(echo "$PHONE_APP" | field client_secret)"
SENT=$(curl -s -u "$PHONE_AUTH" --data-urlencode phone=+8613800138000 $AS/oauth2/otp)
echo "$SENT"
# {"expires_in":300,"resend_after":60}
expect "$SENT"
CODE=$(tail -n 1 data/otp-outbox.jsonl | field code)
PHONE_LOGIN=$(curl -s -u "$PHONE_AUTH" -d grant_type=urn:portcullis:params:oauth:grant-type:otp \
  --data-urlencode phone=+8613800138000 -d code=$CODE -d device_id=bob-phone $AS/oauth2/token)
echo "$PHONE_LOGIN"
# {"access_token":"eyJ…","token_type":"Bearer",…"refresh_token":"pcr_…","device_id":"bob-phone"}
expect "$PHONE_LOGIN"
#     A code works once (and dies after five wrong tries):
AGAIN=$(curl -s -u "$PHONE_AUTH" -d grant_type=urn:portcullis:params:oauth:grant-type:otp \
  --data-urlencode phone=+8613800138000 -d code=$CODE $AS/oauth2/token)
echo "$AGAIN"
# {"error":"invalid_grant","error_description":"the code was already used; ask for a new one"}
expect "$AGAIN"
#     In production the codes go to your SMS or mail gateway as a signed webhook. A second node
#     on the same database sends them to examples/sms-gateway, a stand-in gateway that checks
#     the signature (HMAC-SHA256 under the shared secret) and prints each message. The limits
#     live in the database (or Redis), so every node keeps them: bob's number waits a minute.
export GATEWAY_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
GW_OUT=$(mktemp)
python3 examples/sms-gateway/gateway.py ${GW#http://} >"$GW_OUT" &
PORTCULLIS_LISTEN=${A2#http://} PORTCULLIS_OTP__SENDER=webhook PORTCULLIS_OTP__WEBHOOK_URL=$GW/sms \
  PORTCULLIS_OTP__WEBHOOK_SECRET=$GATEWAY_SECRET $PC serve 2>/dev/null &
tour_wait_for "$A2/readyz"
WAIT=$(curl -s -u "$PHONE_AUTH" --data-urlencode phone=+8613800138000 $A2/oauth2/otp)
echo "$WAIT"
# {"error":"temporarily_unavailable","error_description":"a code was sent to this destination moments ago;…
expect "$WAIT"
curl -s -u "$PHONE_AUTH" --data-urlencode phone=+8613800138001 $A2/oauth2/otp >/dev/null
cat "$GW_OUT"
# {"channel":"sms","to":"+8613800138001","code":"…","expires_in":300}
expect "$(cat "$GW_OUT")"
CODE=$(tail -n 1 "$GW_OUT" | field code)
BY_WEBHOOK=$(curl -s -u "$PHONE_AUTH" -d grant_type=urn:portcullis:params:oauth:grant-type:otp \
  --data-urlencode phone=+8613800138001 -d code=$CODE -d device_id=cai-phone $A2/oauth2/token | field access_token)
ME=$(curl -s -H "Authorization: Bearer $BY_WEBHOOK" $A2/me)
echo "$ME"
# {"user_id":"…","username":"+8613800138001",…"phone":"+8613800138001"…
expect "$ME"
#     Both signed up by their first code; the command line sees them like any user:
$PC user sessions +8613800138001

# 12. Your account page: open $AS/account in a browser and sign in as alice. It lists her
#     devices (browser, OS, last seen, from where; this one marked) with "Sign out" for each and
#     "Sign out everywhere else", the apps she allowed with "Remove access", her profile and
#     picture, and a password form (docs/images/account-desktop.png). The same from a shell,
#     a cookie jar standing in for the browser; every form carries the page's CSRF token:
JAR=$(mktemp)
csrf() { curl -s -b "$JAR" -c "$JAR" $AS/account | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -n 1; }
curl -s -b "$JAR" -c "$JAR" -d csrf=$(csrf) -d action=login -d username=alice \
  --data-urlencode 'password=correct horse battery' -o /dev/null $AS/account
DEVICES=$(curl -s -b "$JAR" $AS/account | grep -o 'data-device-id="[^"]*"')
echo "$DEVICES"
# data-device-id="…"
# data-device-id="my-terminal"
expect "$DEVICES"
#     Sign the terminal out (its refresh token dies at once), then remove the app's access:
SIGNED_OUT=$(curl -s -b "$JAR" -c "$JAR" -d csrf=$(csrf) -d device_id=my-terminal \
  -o /dev/null -w '%{http_code} %{redirect_url}' $AS/account/sign-out-device)
echo "$SIGNED_OUT"
# 303 http://…/account?done=device
expect "$SIGNED_OUT"
REMOVED=$(curl -s -b "$JAR" -c "$JAR" -d csrf=$(csrf) -d client_id=$APP_ID \
  -o /dev/null -w '%{http_code} %{redirect_url}' $AS/account/remove-app)
echo "$REMOVED"
# 303 http://…/account?done=app
expect "$REMOVED"
APPS=$(curl -s -b "$JAR" "$AS/account?done=app" | grep -o -e 'id="notice">[^<]*' -e 'No app has access.')
echo "$APPS"
# id="notice">Access removed: the app can no longer act for you, and it is signed out.
# No app has access.
expect "$APPS"

# Discovery, health, metrics and the API description:
METADATA=$(curl -s $AS/.well-known/oauth-authorization-server)
echo "$METADATA"
# {"issuer":"http…","authorization_endpoint":…"scopes_supported":["admin","email","openid","phone","profile","read","write"]…
expect "$METADATA"
READY=$(curl -s $AS/readyz)
echo "$READY"
# {"status":"ready","database":"up","redis":"not_configured"}
expect "$READY"
curl -s $AS/metrics | grep '^portcullis_grants_total'
curl -s $AS/openapi.json | python3 -c 'import json,sys; print(*sorted(json.load(sys.stdin)["paths"]), sep="\n")'
