#!/usr/bin/env python3
"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps every message it accepts as a file.

    smtp_sink.py --port 0 --maildir DIR [--fail-first N] [--refuse ADDRESS]

The first line on stdout is `listening on smtp://127.0.0.1:<port>`. Each accepted message is
written to DIR/<n>.eml (the raw message as received, with an X-Envelope-To header naming the
recipients). With --fail-first N the first N messages are answered `451` (a temporary failure
the sender should retry). With --refuse ADDRESS that recipient is answered `550` (a permanent
refusal, like a mailbox that does not exist). Needs the aiosmtpd package: scripts/tools-venv.sh installs it.
"""
import argparse
import os
import socket
import sys
import threading
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, maildir, fail_first, refuse):
        self.maildir = maildir
        self.fail_left = fail_first
        self.refuse = {r.lower() for r in refuse}
        self.count = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.refuse:
            return "550 5.1.1 no such mailbox (stand-in refusal)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.fail_left > 0:
                self.fail_left -= 1
                return "451 4.3.0 try again later (stand-in failure)"
            self.count += 1
            n = self.count
        path = os.path.join(self.maildir, f"{n:04d}.eml")
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n".encode())
            f.write(envelope.original_content or envelope.content)
        os.replace(tmp, path)
        return "250 OK"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--maildir", required=True)
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--refuse", action="append", default=[])
    a = p.parse_args()
    os.makedirs(a.maildir, exist_ok=True)
    port = a.port or free_port()
    controller = Controller(Sink(a.maildir, a.fail_first, a.refuse), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"listening on smtp://127.0.0.1:{port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    sys.exit(main())
