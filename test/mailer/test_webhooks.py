"""Webhook deliveries by taskmgmt-mailer against a real HTTP receiver on loopback.

Run by test/suites/60-mailer.sh like test_mailer.py.  Events are produced the
real way (rows changed in the database fire the webhook triggers, which write
the outbox); the dispatcher is the mailer binary.  The receiver checks the
Standard Webhooks signature itself.  Loopback targets need the superuser
setting taskmgmt.webhook_allow_private_targets, which the tests turn on for
the dispatcher's role (ALTER ROLE ... SET) and leave off for another role to
show the dispatcher's own refusal.
"""
import base64
import hashlib
import hmac
import http.server
import json
import os
import sys
import subprocess
import threading
import time

import pytest

from test_mailer import DB, MAILER, Mailers, free_port, one, sql, wait_for

KEY = bytes(range(32))
SECRET = 'whsec_' + base64.b64encode(KEY).decode()


class Receiver:
    """An HTTP server on a loopback port; answers with the queued statuses, then 204."""

    def __init__(self):
        self.requests = []
        self.statuses = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
                with receiver.lock:
                    receiver.requests.append((self.path, dict(self.headers), body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 204
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header('Location', '/elsewhere')
                self.send_header('Content-Length', '0')
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path='/hook'):
        return 'http://127.0.0.1:%d%s' % (self.port, path)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture(scope='module', autouse=True)
def roles():
    sql("""DO $$ BEGIN
             IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'webhook_itest') THEN
               CREATE ROLE webhook_itest LOGIN;
             END IF;
             IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'webhook_strict_itest') THEN
               CREATE ROLE webhook_strict_itest LOGIN;
             END IF;
           END $$;
           GRANT taskmgmt_mailer TO webhook_itest, webhook_strict_itest;
           ALTER ROLE webhook_itest SET taskmgmt.webhook_allow_private_targets = on;""")
    yield


@pytest.fixture(autouse=True)
def clean():
    sql("""DELETE FROM taskmgmt.email_outbox;
           DELETE FROM taskmgmt.webhooks;
           DELETE FROM taskmgmt.tasks WHERE title LIKE 'whtest%';
           DELETE FROM taskmgmt.users WHERE email LIKE '%@whtest.example';""")
    yield


@pytest.fixture
def dispatchers():
    """taskmgmt-mailer processes (test_mailer's Mailers) for webhooks only."""
    m = Mailers()

    def start(role='webhook_itest', **env):
        env.setdefault('DATABASE_URL', 'host=%s port=%s dbname=%s user=%s'
                       % (os.environ['PGHOST'], os.environ['PGPORT'], DB, role))
        env.setdefault('WEBHOOK_TIMEOUT', 2)
        env.setdefault('MAILER_LEASE', 5)
        return m.start(free_port(), **env)   # an SMTP port nobody listens on: no mail here
    m.start_webhooks = start
    yield m
    m.stop_all()


def user(name):
    return one("INSERT INTO taskmgmt.users (email, display_name) VALUES "
               "('%s@whtest.example', '%s') RETURNING id" % (name, name))


def webhook(owner, url, events='{task.created,task.updated,task.deleted,comment.created}'):
    """A webhook row with a known secret (the SQL API is tested in pgTAP and over HTTP)."""
    return one("INSERT INTO taskmgmt.webhooks (user_id, url, events, secret) VALUES "
               "(%s, '%s', '%s', '\\x%s') RETURNING id" % (owner, url, events, KEY.hex()))


def task(title, creator):
    return one("INSERT INTO taskmgmt.tasks (title, creator_id) VALUES ($t$%s$t$, %s) RETURNING id"
               % (title, creator))


def deliveries(where='true'):
    return sql("SELECT id, status, attempts, coalesce(last_error, ''), message_id FROM taskmgmt.email_outbox "
               "WHERE kind = 'webhook' AND " + where + " ORDER BY id")


def attempts(outbox_id):
    return sql("SELECT coalesce(status_code::text, ''), coalesce(error, '') FROM taskmgmt.webhook_attempts "
               "WHERE outbox_id = %s ORDER BY id" % outbox_id)


def verify(headers, body):
    """The Standard Webhooks check a receiver makes."""
    msg_id, ts, sig = headers['webhook-id'], headers['webhook-timestamp'], headers['webhook-signature']
    assert abs(int(ts) - time.time()) < 60, 'timestamp is recent'
    expected = base64.b64encode(hmac.new(base64.b64decode(SECRET[len('whsec_'):]),
                                         ('%s.%s.' % (msg_id, ts)).encode() + body,
                                         hashlib.sha256).digest()).decode()
    assert sig.split(' ') == ['v1,' + expected]
    return msg_id


def test_signed_delivery_with_the_task(receiver, dispatchers):
    ann = user('ann')
    hook = webhook(ann, receiver.url())
    dispatchers.start_webhooks()
    time.sleep(0.5)
    t0 = time.time()
    t = task('whtest Write the docs', ann)
    wait_for(lambda: receiver.requests, timeout=10, what='the delivery')
    assert time.time() - t0 < 5, 'woken by NOTIFY, not by the poll'
    path, headers, body = receiver.requests[0]
    assert path == '/hook'
    assert headers['Content-Type'] == 'application/json'
    msg_id = verify(headers, body)
    payload = json.loads(body)
    assert payload['type'] == 'task.created'
    assert payload['data']['task']['id'] == int(t)
    assert payload['data']['task']['title'] == 'whtest Write the docs'
    row = wait_for(lambda: deliveries("status = 'sent'"), what='delivery marked sent')[0]
    assert row[4] == msg_id and row[2] == '1'
    assert attempts(row[0]) == [['204', '']]
    assert one("SELECT count(*) FROM taskmgmt.email_outbox WHERE webhook_id = %s" % hook) == '1'


def test_failures_are_retried_with_the_same_webhook_id(receiver, dispatchers):
    ann = user('ann')
    webhook(ann, receiver.url())
    receiver.statuses = [500, 503]
    dispatchers.start_webhooks()
    task('whtest flaky receiver', ann)
    row = wait_for(lambda: deliveries("status = 'sent'"), timeout=20, what='delivered after retries')[0]
    assert row[2] == '3'
    assert [a[0] for a in attempts(row[0])] == ['500', '503', '204']
    ids = {r[1]['webhook-id'] for r in receiver.requests}
    assert ids == {row[4]}, 'every attempt carries the same webhook-id'
    for _, headers, body in receiver.requests:
        verify(headers, body)


def test_unreachable_target_ends_as_a_dead_letter_and_loses_nothing(dispatchers):
    ann = user('ann')
    hook = webhook(ann, 'http://127.0.0.1:%d/hook' % free_port())
    dispatchers.start_webhooks(MAILER_MAX_ATTEMPTS=2)
    task('whtest nobody listens', ann)
    row = wait_for(lambda: deliveries("status = 'dead'"), timeout=20, what='dead letter')[0]
    assert row[2] == '2'
    errs = attempts(row[0])
    assert len(errs) == 2 and all(e[0] == '' and 'connect' in e[1].lower() for e in errs), errs
    assert one("SELECT count(*) FROM taskmgmt.email_outbox WHERE webhook_id = %s" % hook) == '1', 'kept as a dead letter'


def test_redirects_are_not_followed(receiver, dispatchers):
    ann = user('ann')
    webhook(ann, receiver.url())
    receiver.statuses = [302, 302, 302]
    dispatchers.start_webhooks(MAILER_MAX_ATTEMPTS=1)
    task('whtest moved away', ann)
    row = wait_for(lambda: deliveries("status = 'dead'"), timeout=10, what='dead letter')[0]
    assert 'redirects are not followed' in row[3]
    assert [r[0] for r in receiver.requests] == ['/hook'], 'the Location was never requested'


def test_dispatcher_refuses_private_addresses_without_the_setting(receiver, dispatchers):
    ann = user('ann')
    webhook(ann, receiver.url())
    dispatchers.start_webhooks(role='webhook_strict_itest')
    task('whtest private target', ann)
    row = wait_for(lambda: deliveries("status = 'dead'"), timeout=10, what='refused at once')[0]
    assert row[2] == '1', 'refusal is permanent: no retries'
    assert 'target address 127.0.0.1 is private, loopback or link-local (refused)' in row[3]
    assert receiver.requests == []


def test_only_events_the_owner_can_see(receiver, dispatchers):
    ann, bob = user('ann'), user('bob')
    webhook(ann, receiver.url())
    dispatchers.start_webhooks()
    task('whtest bob private', bob)
    t = task('whtest ann visible', ann)
    sql("UPDATE taskmgmt.tasks SET priority = 'high' WHERE id = %s" % t)
    sql("DELETE FROM taskmgmt.tasks WHERE id = %s" % t)
    wait_for(lambda: len(receiver.requests) >= 3, what='three deliveries')
    time.sleep(0.5)
    types = [(json.loads(b)['type'], json.loads(b)['data']['task']['title']) for _, _, b in receiver.requests]
    assert sorted(types) == sorted([('task.created', 'whtest ann visible'), ('task.updated', 'whtest ann visible'),
                                    ('task.deleted', 'whtest ann visible')])


def test_webhook_timeout_must_fit_the_lease():
    p = subprocess.run([MAILER], env=dict(os.environ, DATABASE_URL='dbname=x', MAILER_LEASE='4',
                                          MAILER_SMTP_TIMEOUT='1', WEBHOOK_TIMEOUT='3'),
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 2
    assert 'MAILER_LEASE must be at least twice WEBHOOK_TIMEOUT' in p.stderr
