"""A real SMTP server (aiosmtpd) for the smtp binding's tests.

Modes: plain (no TLS), starttls (STARTTLS offered) and tls (implicit TLS from the first
byte). With --user/--password it offers AUTH PLAIN and LOGIN and refuses mail from
unauthenticated sessions. Every accepted message is written to --outdir as one JSON file
(envelope, whether the session was encrypted, who authenticated, headers and MIME parts), so
the test reads exactly what the server received. Prints "READY" once it accepts connections,
then serves until SIGTERM/SIGINT.
"""

import argparse
import base64
import email
import email.policy
import json
import logging
import os
import signal
import ssl
import threading
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Recorder:
    def __init__(self, outdir):
        self.outdir = outdir
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        parts = []
        for part in message.walk():
            if part.is_multipart():
                continue
            content = part.get_content()
            entry = {
                "content_type": part.get_content_type(),
                "filename": part.get_filename(),
            }
            if isinstance(content, str):
                entry["text"] = content
            else:
                entry["base64"] = base64.b64encode(content).decode()
            parts.append(entry)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "encrypted": server.transport.get_extra_info("ssl_object") is not None,
            "auth_user": session.auth_data if session.authenticated else None,
            "content_type": message.get_content_type(),
            "headers": [[k, str(v)] for k, v in message.items()],
            "parts": parts,
        }
        with self.lock:
            self.count += 1
            name = os.path.join(self.outdir, "%06d.json" % self.count)
        tmp = name + ".tmp"
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, name)
        return "250 Message accepted for delivery"


def main():
    # Expected noise: the auth-without-TLS warning, and a traceback when a test's client
    # rightly refuses the self-signed certificate.
    warnings.filterwarnings("ignore")
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mode", choices=["plain", "starttls", "tls"], default="plain")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--auth-without-tls", action="store_true")
    ap.add_argument("--outdir", required=True)
    args = ap.parse_args()

    kwargs = {}
    context = None
    if args.mode != "plain":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
    if args.mode == "starttls":
        kwargs["tls_context"] = context
    if args.user:
        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login.decode() == args.user
                and auth_data.password.decode() == args.password
            )
            return AuthResult(success=ok, handled=False, auth_data=args.user if ok else None)

        kwargs["authenticator"] = authenticator
        kwargs["auth_required"] = True
        # aiosmtpd only counts STARTTLS as TLS for auth_require_tls: an implicit-TLS session
        # is encrypted from the first byte, so the check is off there.
        kwargs["auth_require_tls"] = not args.auth_without_tls and args.mode != "tls"

    controller = Controller(
        Recorder(args.outdir),
        hostname="127.0.0.1",
        port=args.port,
        ssl_context=context if args.mode == "tls" else None,
        server_hostname="localhost",
        **kwargs,
    )
    controller.start()
    print("READY", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
