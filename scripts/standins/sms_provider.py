#!/usr/bin/env python3
"""A local stand-in for an SMS provider, shaped like Twilio's Messages resource.

    sms_provider.py --port 0 --account AC123 --token secret [--fail-first N] [--refuse PREFIX]

The first line on stdout is `listening on http://127.0.0.1:<port>`.

POST /2010-04-01/Accounts/<account>/Messages.json  form fields To, From, Body; HTTP basic
     authentication with the account and token. 201 with {"sid": "SM...", "status": "queued",
     "to", "from", "body"}; 401 for bad credentials; 400 {"code": 21211, "message": ...} for a
     number that is not E.164 or starts with --refuse; 503 for the first --fail-first requests.
GET  /2010-04-01/Accounts/<account>/Messages.json  the messages accepted, newest last
     ({"messages": [...]}), with the same authentication.
GET  /_requests  every request received (method, path, authorization ok, form), for tests.
Standard library only.
"""
import argparse
import base64
import json
import re
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

STATE = {"messages": [], "requests": [], "fail_left": 0}
LOCK = threading.Lock()


def make_handler(account, token, refuse):
    prefix = f"/2010-04-01/Accounts/{account}/Messages.json"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def authorised(self):
            h = self.headers.get("Authorization", "")
            if not h.startswith("Basic "):
                return False
            try:
                user, _, pw = base64.b64decode(h[6:]).decode().partition(":")
            except Exception:
                return False
            return user == account and pw == token

        def do_GET(self):
            if self.path == "/_requests":
                with LOCK:
                    return self.answer(200, {"requests": STATE["requests"]})
            if self.path == prefix:
                if not self.authorised():
                    return self.answer(401, {"code": 20003, "message": "Authenticate"})
                with LOCK:
                    return self.answer(200, {"messages": STATE["messages"]})
            self.answer(404, {"code": 20404, "message": "not found"})

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            ok = self.authorised()
            with LOCK:
                STATE["requests"].append(
                    {"method": "POST", "path": self.path, "authorised": ok, "form": form}
                )
            if self.path != prefix:
                return self.answer(404, {"code": 20404, "message": "not found"})
            if not ok:
                return self.answer(401, {"code": 20003, "message": "Authenticate"})
            with LOCK:
                if STATE["fail_left"] > 0:
                    STATE["fail_left"] -= 1
                    return self.answer(503, {"code": 20503, "message": "Service unavailable"})
            to = form.get("To", "")
            if not re.fullmatch(r"\+[1-9][0-9]{6,14}", to) or (refuse and to.startswith(refuse)):
                return self.answer(
                    400, {"code": 21211, "message": f"The 'To' number {to} is not a valid phone number."}
                )
            if not form.get("Body") or not form.get("From"):
                return self.answer(400, {"code": 21602, "message": "Message body is required."})
            msg = {
                "sid": "SM" + uuid.uuid4().hex,
                "status": "queued",
                "to": to,
                "from": form["From"],
                "body": form["Body"],
            }
            with LOCK:
                STATE["messages"].append(msg)
            self.answer(201, msg)

    return Handler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--account", default="AC0000")
    p.add_argument("--token", default="stand-in-token")
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--refuse", default="")
    a = p.parse_args()
    STATE["fail_left"] = a.fail_first
    server = ThreadingHTTPServer(("127.0.0.1", a.port), make_handler(a.account, a.token, a.refuse))
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
