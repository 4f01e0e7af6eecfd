"""A relying party on Authlib (PyPI), unmodified: the end-to-end suite (tests/src/rp.rs) drives it
to prove that a standard OpenID Connect client library logs in to Portcullis.

Authlib's web-framework clients (Flask, Django, Starlette) are its OAuth2 and OpenID mixins
over an HTTP session; this is the same composition over its requests-based ``OAuth2Session``,
without a framework. Everything is done through the library: discovery, PKCE/state/nonce
generation, the callback (state), the id_token (``parse_id_token``: signature against the
discovered JWKS, iss, aud, exp, iat, nonce, azp, at_hash), the UserInfo request and the refresh.

Line protocol, shared with ../node/rp.mjs:
  env    OIDC_ISSUER OIDC_CLIENT_ID OIDC_CLIENT_SECRET OIDC_REDIRECT_URI OIDC_SCOPE OIDC_DEVICE_ID
  out    AUTHORIZE <authorization url>
  in     <the callback URL the browser was redirected to>
  out    RESULT {"id_token_claims", "userinfo", "refreshed_id_token_claims", "scope",
                 "token_type", "refresh_rotated"}
Any failure: the error on stderr and a non-zero exit.
"""

import json
import os
import sys
import traceback
from urllib.parse import parse_qs, urlsplit

from authlib.consts import default_user_agent
from authlib.integrations.base_client import (
    BaseApp,
    FrameworkIntegration,
    OAuth2Mixin,
    OAuthError,
    OpenIDMixin,
)
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.discovery import get_well_known_url


class RelyingParty(OAuth2Mixin, OpenIDMixin, BaseApp):
    """Authlib's OpenID Connect client app (as its framework clients are made) over requests."""

    client_cls = OAuth2Session


def env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set")
    return value


def main():
    issuer = env("OIDC_ISSUER")
    client_id = env("OIDC_CLIENT_ID")
    client_secret = env("OIDC_CLIENT_SECRET")
    redirect_uri = env("OIDC_REDIRECT_URI")
    # Portcullis binds refresh tokens to a device: the refresh grant requires `device_id`.
    device_id = env("OIDC_DEVICE_ID")
    session_options = {"code_challenge_method": "S256", "token_endpoint_auth_method": "client_secret_basic"}
    rp = RelyingParty(
        FrameworkIntegration("portcullis"),
        client_id=client_id,
        client_secret=client_secret,
        server_metadata_url=get_well_known_url(issuer, external=True),
        client_kwargs={**session_options, "scope": env("OIDC_SCOPE")},
    )

    metadata = rp.load_server_metadata()
    # OpenID Connect Discovery §4.3, which Authlib leaves to the application: the document's
    # issuer is the one asked for (parse_id_token then expects it in every id_token).
    if metadata.get("issuer") != issuer:
        raise RuntimeError(f"discovery names the issuer {metadata.get('issuer')!r}, not {issuer!r}")
    # parse_id_token checks iss (and azp) by default but not aud: ask for both.
    claims_options = {
        "iss": {"essential": True, "values": [issuer]},
        "aud": {"essential": True, "values": [client_id]},
    }

    # Authlib generates the PKCE verifier (S256), the state and, for an openid scope, the nonce.
    request = rp.create_authorization_url(redirect_uri)
    print(f"AUTHORIZE {request['url']}", flush=True)

    callback = sys.stdin.readline().strip()
    if not callback:
        raise RuntimeError("stdin closed before the callback URL came")
    answer = parse_qs(urlsplit(callback).query)
    if "error" in answer:  # as Authlib's framework clients do before the exchange
        raise OAuthError(error=answer["error"][0], description=answer.get("error_description", [None])[0])
    # With the callback URL and the expected state the session checks the state, then exchanges
    # the code; extra keyword arguments are extra token-request parameters.
    token = rp.fetch_access_token(
        redirect_uri=redirect_uri,
        authorization_response=callback,
        state=request["state"],
        code_verifier=request["code_verifier"],
        device_id=device_id,
    )
    claims = rp.parse_id_token(token, nonce=request["nonce"], claims_options=claims_options)
    if claims is None:
        raise RuntimeError("the code exchange returned no id_token")

    userinfo = rp.userinfo(token=token)
    # OpenID Connect Core §5.3.2, which Authlib leaves to the application.
    if userinfo.get("sub") != claims["sub"]:
        raise RuntimeError(f"the UserInfo sub {userinfo.get('sub')!r} is not the id_token's {claims['sub']!r}")

    if not token.get("refresh_token"):
        raise RuntimeError("the code exchange returned no refresh token")
    # A session without a scope of its own: the refresh asks for none, so gets what was granted
    # (RFC 6749 §6), where Authlib would otherwise send the scope asked for at the start.
    # The same User-Agent as the app's own client: Portcullis binds the refresh token to the
    # device (its id and the User-Agent's families), and another agent is another device.
    with OAuth2Session(client_id, client_secret, token=dict(token), **session_options) as session:
        session.headers["User-Agent"] = default_user_agent
        refreshed = session.refresh_token(metadata["token_endpoint"], device_id=device_id)
    # The refreshed id_token is validated like the first, less the nonce: OpenID Connect Core
    # §12.2 says it should carry none and, if it does, the original (checked below).
    refreshed_claims = rp.parse_id_token(refreshed, nonce=None, claims_options=claims_options)
    if refreshed_claims is None:
        raise RuntimeError("the refresh returned no id_token")
    if refreshed_claims["sub"] != claims["sub"]:
        raise RuntimeError(f"the refreshed id_token's sub {refreshed_claims['sub']!r} is not {claims['sub']!r}")
    if refreshed_claims.get("nonce", request["nonce"]) != request["nonce"]:
        raise RuntimeError("the refreshed id_token's nonce is not the original")

    result = {
        "id_token_claims": dict(claims),
        "userinfo": dict(userinfo),
        "refreshed_id_token_claims": dict(refreshed_claims),
        "scope": token.get("scope"),
        "token_type": token.get("token_type"),
        # Authlib keeps the old refresh token when the response carries none.
        "refresh_rotated": refreshed["refresh_token"] != token["refresh_token"],
    }
    print(f"RESULT {json.dumps(result)}", flush=True)


if __name__ == "__main__":
    try:
        main()
    except Exception:  # any failure is reported whole, and the run fails
        traceback.print_exc()
        sys.exit(1)
