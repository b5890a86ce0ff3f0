#!/usr/bin/python3
"""A development SMTP sink: accepts every message on loopback and stores it.

    /usr/bin/python3 mailer/smtp_sink.py --port 2525 --dir .run/mail

Each message lands in DIR as <time>-<n>.eml (the message as received, with
X-Envelope-From / X-Envelope-To lines in front), so a developer can read what
taskmgmt-mailer sent.  The test suite imports Sink to run it in-process.
Uses Debian's python3-aiosmtpd.
"""
import argparse
import asyncio
import os
import threading
import time

from aiosmtpd.controller import Controller


class Sink:
    """Stores messages in memory (and in a directory if given).

    reject: recipients answered with 550 at RCPT (a permanent refusal).
    delay:  seconds to wait after receiving DATA before answering 250.
    """

    def __init__(self, directory=None, reject=(), delay=0.0):
        self.directory = directory
        self.reject = set(reject)
        self.delay = delay
        self.messages = []          # (mail_from, [rcpt], bytes)
        self.lock = threading.Lock()
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.reject:
            return '550 5.1.1 mailbox unavailable'
        envelope.rcpt_tos.append(address)
        return '250 OK'

    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content or envelope.content
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), data))
            self.count += 1
            n = self.count
        if self.directory:
            name = os.path.join(self.directory, '%s-%04d.eml' % (time.strftime('%Y%m%dT%H%M%S'), n))
            with open(name + '.tmp', 'wb') as f:
                f.write(b'X-Envelope-From: ' + envelope.mail_from.encode() + b'\r\n')
                f.write(b'X-Envelope-To: ' + ', '.join(envelope.rcpt_tos).encode() + b'\r\n')
                f.write(data)
            os.replace(name + '.tmp', name)
        if self.delay:
            await asyncio.sleep(self.delay)
        return '250 Message accepted for delivery'


def start(sink, port, host='127.0.0.1'):
    """Starts the sink on host:port in a thread; returns the controller."""
    c = Controller(sink, hostname=host, port=port, decode_data=False)
    c.start()
    return c


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, default=2525)
    p.add_argument('--dir', required=True)
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    c = start(Sink(a.dir), a.port, a.host)
    print('smtp-sink: listening on %s:%d, storing messages in %s' % (a.host, a.port, a.dir), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        c.stop()


if __name__ == '__main__':
    main()
