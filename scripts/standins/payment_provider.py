#!/usr/bin/env python3
"""A local stand-in for an online payment provider, speaking the part of Stripe's API that
Carebill's payment links use. Python 3 standard library only; for tests and tutorials, never
for money.

    python3 scripts/standins/payment_provider.py --port 0 \
        --secret-key sk_test_carebill \
        --webhook-url http://127.0.0.1:8080/v1/payment-webhooks \
        --webhook-secret whsec_carebill

The first line on stdout is `listening on http://127.0.0.1:<port>` (with `--port 0`, a free
port is picked).

Endpoints:
- `POST /v1/checkout/sessions` (form-encoded, `Authorization: Bearer <secret key>`,
  optional `Idempotency-Key`: the same key answers the same session) -> a Stripe-shaped
  checkout session, `id` `cs_test_...`, `url` `<base>/pay/<id>`.
- `GET /v1/checkout/sessions/<id>` -> the session.
- `POST /pay/<id>?outcome=paid|expired|failed[&amount=<minor units>]` -> plays the payer:
  the session is paid (`checkout.session.completed`, `payment_status=paid`), expires
  (`checkout.session.expired`) or its payment fails
  (`checkout.session.async_payment_failed`); the event is signed
  (`Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>`) and POSTed to the
  webhook URL. Answers `{"session", "event_id", "webhook_status", "webhook_body"}`.
- `POST /pay/<id>/resend` -> delivers the session's last event again (same event id, freshly
  signed, as the real provider retries).
- `GET /_requests` -> every API request received (method, path, authorization,
  idempotency-key, form fields), oldest first.
- `GET /_events` -> every event sent: id, type, raw body, signature header, webhook status.

`--fail-first N` answers the first N session requests with 503 (to see retries).
"""

import argparse
import hashlib
import hmac
import json
import secrets
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.sessions = {}
        self.by_key = {}
        self.last_event = {}
        self.events = []
        self.requests = []
        self.fail_left = args.fail_first
        self.base = ""


def sign(secret, timestamp, body):
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def form_fields(raw):
    return {k: v[-1] for k, v in urllib.parse.parse_qs(raw, keep_blank_values=True).items()}


class Handler(BaseHTTPRequestHandler):
    server_version = "carebill-payment-standin/1"

    def log_message(self, fmt, *args):
        sys.stderr.write("payment stand-in: " + (fmt % args) + "\n")

    @property
    def state(self):
        return self.server.state

    def reply(self, status, value):
        body = json.dumps(value, indent=2).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, message, kind="invalid_request_error"):
        self.reply(status, {"error": {"type": kind, "message": message}})

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def authorised(self):
        if self.headers.get("Authorization") != f"Bearer {self.state.args.secret_key}":
            self.error(401, "Invalid API Key provided", "authentication_error")
            return False
        return True

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        st = self.state
        if url.path == "/_requests":
            with st.lock:
                return self.reply(200, list(st.requests))
        if url.path == "/_events":
            with st.lock:
                return self.reply(200, list(st.events))
        if parts[:3] == ["v1", "checkout", "sessions"] and len(parts) == 4:
            self.record("GET", url.path, {})
            if not self.authorised():
                return None
            with st.lock:
                session = st.sessions.get(parts[3])
            if session is None:
                return self.error(404, f"No such checkout.session: '{parts[3]}'")
            return self.reply(200, session)
        return self.error(404, f"Unrecognized request URL (GET: {url.path})")

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        raw = self.body()
        if url.path == "/v1/checkout/sessions":
            return self.create_session(url.path, raw)
        if len(parts) == 2 and parts[0] == "pay":
            query = form_fields(url.query)
            return self.pay(parts[1], query.get("outcome", "paid"), query.get("amount"))
        if len(parts) == 3 and parts[0] == "pay" and parts[2] == "resend":
            return self.resend(parts[1])
        return self.error(404, f"Unrecognized request URL (POST: {url.path})")

    def record(self, method, path, form):
        with self.state.lock:
            self.state.requests.append(
                {
                    "method": method,
                    "path": path,
                    "authorization": self.headers.get("Authorization"),
                    "idempotency_key": self.headers.get("Idempotency-Key"),
                    "content_type": self.headers.get("Content-Type"),
                    "form": form,
                }
            )

    def create_session(self, path, raw):
        st = self.state
        form = form_fields(raw.decode("utf-8", "replace"))
        self.record("POST", path, form)
        if not self.authorised():
            return None
        with st.lock:
            if st.fail_left > 0:
                st.fail_left -= 1
                return self.error(503, "The stand-in was told to fail", "api_error")
        key = self.headers.get("Idempotency-Key")
        with st.lock:
            if key and key in st.by_key:
                return self.reply(200, st.sessions[st.by_key[key]])
        if form.get("mode") != "payment":
            return self.error(400, "mode must be payment")
        currency = form.get("line_items[0][price_data][currency]", "")
        try:
            unit = int(form.get("line_items[0][price_data][unit_amount]", ""))
            quantity = int(form.get("line_items[0][quantity]", "1"))
        except ValueError:
            return self.error(400, "unit_amount and quantity must be integers")
        if len(currency) != 3 or unit <= 0 or quantity <= 0:
            return self.error(400, "a line item needs a currency and a positive unit_amount")
        now = int(time.time())
        sid = "cs_test_" + secrets.token_hex(16)
        metadata = {
            k[len("metadata["):-1]: v
            for k, v in form.items()
            if k.startswith("metadata[") and k.endswith("]")
        }
        session = {
            "id": sid,
            "object": "checkout.session",
            "mode": "payment",
            "status": "open",
            "payment_status": "unpaid",
            "amount_subtotal": unit * quantity,
            "amount_total": unit * quantity,
            "currency": currency.lower(),
            "client_reference_id": form.get("client_reference_id"),
            "metadata": metadata,
            "line_items_name": form.get("line_items[0][price_data][product_data][name]"),
            "success_url": form.get("success_url"),
            "cancel_url": form.get("cancel_url"),
            "created": now,
            "expires_at": int(form.get("expires_at") or now + 86400),
            "payment_intent": None,
            "livemode": False,
            "url": f"{st.base}/pay/{sid}",
        }
        with st.lock:
            st.sessions[sid] = session
            if key:
                st.by_key[key] = sid
        return self.reply(200, session)

    def pay(self, sid, outcome, amount):
        st = self.state
        with st.lock:
            session = st.sessions.get(sid)
            if session is None:
                return self.error(404, f"No such checkout.session: '{sid}'")
            if session["status"] != "open":
                return self.error(409, f"The session is {session['status']}, not open")
            if outcome == "paid":
                session["status"] = "complete"
                session["payment_status"] = "paid"
                session["payment_intent"] = "pi_test_" + secrets.token_hex(12)
                if amount is not None:
                    session["amount_total"] = int(amount)
                kind = "checkout.session.completed"
            elif outcome == "expired":
                session["status"] = "expired"
                kind = "checkout.session.expired"
            elif outcome == "failed":
                session["status"] = "complete"
                session["payment_intent"] = "pi_test_" + secrets.token_hex(12)
                kind = "checkout.session.async_payment_failed"
            else:
                return self.error(400, "outcome must be paid, expired or failed")
            event = {
                "id": "evt_test_" + secrets.token_hex(12),
                "object": "event",
                "api_version": "2024-06-20",
                "created": int(time.time()),
                "livemode": False,
                "type": kind,
                "data": {"object": dict(session)},
            }
            body = json.dumps(event).encode()
            st.last_event[sid] = (event["id"], kind, body)
        status, answer = self.deliver(event["id"], kind, body)
        return self.reply(
            200,
            {
                "session": session,
                "event_id": event["id"],
                "webhook_status": status,
                "webhook_body": answer,
            },
        )

    def resend(self, sid):
        st = self.state
        with st.lock:
            last = st.last_event.get(sid)
        if last is None:
            return self.error(404, f"No event was sent for '{sid}'")
        event_id, kind, body = last
        status, answer = self.deliver(event_id, kind, body)
        return self.reply(
            200, {"event_id": event_id, "webhook_status": status, "webhook_body": answer}
        )

    def deliver(self, event_id, kind, body):
        st = self.state
        signature = sign(st.args.webhook_secret, int(time.time()), body)
        status, answer = None, None
        if st.args.webhook_url:
            req = urllib.request.Request(
                st.args.webhook_url,
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", "Stripe-Signature": signature},
            )
            try:
                with urllib.request.urlopen(req, timeout=30) as res:
                    status, answer = res.status, res.read().decode("utf-8", "replace")
            except urllib.error.HTTPError as e:
                status, answer = e.code, e.read().decode("utf-8", "replace")
            except OSError as e:
                status, answer = 0, str(e)
        with st.lock:
            st.events.append(
                {
                    "id": event_id,
                    "type": kind,
                    "body": body.decode(),
                    "signature": signature,
                    "webhook_status": status,
                }
            )
        return status, answer


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--secret-key", default="sk_test_carebill")
    p.add_argument("--webhook-url", default=None)
    p.add_argument("--webhook-secret", default="whsec_carebill")
    p.add_argument("--fail-first", type=int, default=0)
    args = p.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.state = State(args)
    host, port = server.server_address[:2]
    server.state.base = f"http://{host}:{port}"
    print(f"listening on {server.state.base}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
