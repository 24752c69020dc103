#!/usr/bin/env python3
"""A real SMTP server on loopback for tests/api/emails.rs, built on aiosmtpd.

    python3 tests/interop/smtp_sink.py --port N --dir D

Each message received is saved as D/<random>.eml, preceded by one `X-Envelope-To:` header per
envelope recipient (written under a temporary name, then renamed, so a reader never sees half
a file). Two files in D steer the answers while it runs, read at every RCPT:

- D/reject.txt: addresses (one a line) answered `550 5.1.1` (refused for good);
- D/tempfail.txt: addresses answered `451 4.3.0` (try again later); a line `*` means everyone.

It prints `ready` once it accepts connections and stops on SIGTERM or SIGINT.
"""
import argparse
import os
import signal
import sys
import threading
import uuid

try:
    from aiosmtpd.controller import Controller
except ImportError:  # pragma: no cover - the Rust helper turns this into a clear failure
    sys.stderr.write("aiosmtpd is not installed: pip install aiosmtpd (.ci/run installs it)\n")
    sys.exit(3)


def listed(path):
    try:
        with open(path, encoding="utf-8") as f:
            return {line.strip().lower() for line in f if line.strip()}
    except FileNotFoundError:
        return set()


class Sink:
    def __init__(self, folder):
        self.folder = folder

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        temp = listed(os.path.join(self.folder, "tempfail.txt"))
        if "*" in temp or address.lower() in temp:
            return "451 4.3.0 Try again later"
        if address.lower() in listed(os.path.join(self.folder, "reject.txt")):
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        name = uuid.uuid4().hex
        head = "".join(f"X-Envelope-To: {rcpt}\r\n" for rcpt in envelope.rcpt_tos)
        tmp = os.path.join(self.folder, f".{name}.tmp")
        with open(tmp, "wb") as f:
            f.write(head.encode("ascii"))
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(self.folder, f"{name}.eml"))
        return "250 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    controller = Controller(Sink(args.dir), hostname="127.0.0.1", port=args.port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("ready", flush=True)
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
