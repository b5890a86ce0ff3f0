#!/usr/bin/env python3
"""Development SMTP sink: stores every message it receives, relays none.

SMTP on $SMTP_PORT (1025); an HTTP view on $HTTP_PORT (8025): GET / lists
the messages, GET /messages gives them as JSON (from, to, subject, body).
"""
import email
import email.policy
import json
import os
import pathlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

SPOOL = pathlib.Path(os.environ.get("SPOOL_DIR", "/var/spool/smtp-sink/messages"))
SPOOL.mkdir(parents=True, exist_ok=True)


class Sink:
    async def handle_DATA(self, server, session, envelope):
        name = SPOOL / f"{time.time_ns()}.eml"
        name.write_bytes(envelope.original_content or envelope.content)
        print(f"smtp-sink: {envelope.mail_from} -> {', '.join(envelope.rcpt_tos)} ({name.name})", flush=True)
        return "250 Message accepted"


def messages():
    out = []
    for path in sorted(SPOOL.glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain", "html"))
        out.append({"id": path.stem, "from": msg["From"], "to": msg["To"],
                    "subject": msg["Subject"], "body": body.get_content() if body else ""})
    return out


class View(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/messages":
            data, ctype = json.dumps(messages()).encode(), "application/json"
        elif self.path == "/":
            rows = "".join(f"<li>{m['to']}: {m['subject']}</li>" for m in messages())
            data, ctype = f"<h1>smtp-sink</h1><ul>{rows}</ul>".encode(), "text/html; charset=utf-8"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    controller = Controller(Sink(), hostname="0.0.0.0", port=int(os.environ.get("SMTP_PORT", "1025")))
    controller.start()
    print("smtp-sink: listening for SMTP on", controller.port, flush=True)
    http = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("HTTP_PORT", "8025"))), View)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        threading.Event().wait()
    finally:
        controller.stop()
