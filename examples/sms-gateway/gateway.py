#!/usr/bin/env python3
"""A stand-in SMS and mail gateway for Portcullis's webhook sender (contract §6), for the tour and
for trying the webhook locally. Standard library only.

It accepts `POST` of `{"channel", "to", "code", "expires_in"}` with
`X-Portcullis-Signature: sha256=<hex HMAC-SHA256 of the body>`, checks the signature in constant
time over the raw body before anything else, and prints each accepted message as one JSON line
on stdout, where a real gateway would hand it to an SMS provider or a mail relay. A bad or
missing signature is answered 401 and printed nowhere.

    GATEWAY_SECRET=... python3 examples/sms-gateway/gateway.py 127.0.0.1:8083

The secret comes from the environment (not the command line, which `ps` shows); it is the node's
`otp.webhook_secret`.
"""

import hashlib
import hmac
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environ.get("GATEWAY_SECRET", "").encode()
MAX_BODY = 4096


class Gateway(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return self.answer(413)
        body = self.rfile.read(length)
        expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        signature = self.headers.get("X-Portcullis-Signature", "")
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            return self.answer(401)
        try:
            message = json.loads(body)
            line = {k: message[k] for k in ("channel", "to", "code", "expires_in")}
        except (ValueError, KeyError, TypeError):
            return self.answer(400)
        # Here a real gateway calls its SMS provider or mail relay.
        print(json.dumps(line, separators=(",", ":")), flush=True)
        self.answer(202)

    def answer(self, status):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass  # The request line holds nothing useful, and the body holds a code.


def main():
    if len(SECRET) < 32:
        sys.exit("set GATEWAY_SECRET to the node's otp.webhook_secret (at least 32 characters)")
    host, _, port = (sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:8083").rpartition(":")
    ThreadingHTTPServer((host, int(port)), Gateway).serve_forever()


if __name__ == "__main__":
    main()
