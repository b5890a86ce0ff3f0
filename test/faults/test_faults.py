"""Fault drills (#12.11-13).  Each keeps a client-side ledger of what the
system acknowledged and checks it against the database afterwards."""
import asyncio
import json
import os
import signal
import sys
import threading
import time

import requests
import websockets

from conftest import (ROOT, cluster, db_accepts, postmaster_pid, psql, psql_lines, summary, users, wait_for)


# ------------------------------------------------ 11: kill -9 of the postmaster

def test_postmaster_kill_9_under_write_load_loses_no_acknowledged_write(shim_factory):
    shim = shim_factory("--pool-size", "4", "--request-timeout", "3000", "--statement-timeout", "3000").start()
    (uid, _, token), = users("ledger", 1)
    h = {"Authorization": "Bearer " + token}
    ledger, answers, stop = {}, [], threading.Event()

    def writer(w):
        i = 0
        with requests.Session() as s:
            while not stop.is_set():
                i += 1
                title = f"w{w}-{i}"
                try:
                    r = s.post(shim.url + "/api/v1/tasks", headers=h, json={"title": title}, timeout=5)
                except requests.RequestException as e:
                    answers.append(type(e).__name__)
                    time.sleep(0.05)
                    continue
                answers.append(r.status_code)
                if r.status_code == 201:
                    ledger[r.json()["id"]] = title
                else:
                    time.sleep(0.05)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    wait_for(lambda: len(ledger) >= 50, 20, "50 acknowledged writes before the crash")
    pid = postmaster_pid()
    os.kill(pid, signal.SIGKILL)
    # until it is reaped, pg_ctl takes the dead postmaster for a live one
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 30, "the killed postmaster to be gone")
    acked_before_restart = len(ledger)
    # its children notice its death and exit; only then can it start again
    wait_for(lambda: cluster("start").returncode == 0 and db_accepts(), 60, "the cluster to start again")
    db_up = time.monotonic()        # the database accepts connections (within the last poll)

    def serves():
        try:
            r = requests.get(shim.url + "/api/v1/tasks?limit=1", headers=h, timeout=2)
        except requests.RequestException:
            return False
        return r.status_code == 200 and time.monotonic()
    shim_up = wait_for(serves, 10, "the shim to serve again")
    assert shim_up - db_up <= 2.0, f"the shim served {shim_up - db_up:.2f} s after the database was back"
    wait_for(lambda: len(ledger) >= acked_before_restart + 50, 20, "50 more writes after the restart")
    stop.set()
    for t in threads:
        t.join()
    # the ledger against the database: every acknowledged write is there, as written
    stored = dict(line.split("|", 1) for line in psql_lines(psql(
        f"SELECT id, title FROM taskmgmt.tasks WHERE creator_id = {uid}")))
    lost = {i: t for i, t in ledger.items() if stored.get(str(i)) != t}
    summary(f"kill -9: {len(ledger)} writes acknowledged ({acked_before_restart} before the restart), "
            f"{len(lost)} lost; the shim served {shim_up - db_up:.2f} s after the database accepted connections; "
            f"answers {dict((k, answers.count(k)) for k in set(answers))}")
    assert not lost, f"{len(lost)} acknowledged writes lost: {sorted(lost)[:10]}"
    # while it was down the shim answered, with 503 (nothing else went wrong)
    assert set(a for a in answers if not isinstance(a, str)) <= {201, 503}, set(answers)
    assert 503 in answers


# ---------------------------------------- 12: shim restart under 200 websockets

def test_shim_restart_with_200_websockets_every_notification_exactly_once(shim_factory):
    shim = shim_factory("--pool-size", "4", "--ws-max-per-user", "10", "--ws-ping", "5").start()
    ws_url = shim.url.replace("http://", "ws://") + "/api/v1/notifications/ws"
    people = users("ws", 20)
    (lead_id, _, _), = users("wslead", 1)
    per_user = 10

    def notify(round_):
        # one assignment per user, made by a DBA (the trigger writes the notification)
        psql(f"""INSERT INTO taskmgmt.tasks (title, creator_id, assignee_user_id)
                 SELECT 'r{round_}-' || u, {lead_id}, u FROM unnest(ARRAY{[p[0] for p in people]}::bigint[]) u""")

    class Client:
        def __init__(self, uid, token):
            self.uid, self.token, self.seen, self.last = uid, token, [], 0
            self.connects = 0

        async def run(self, done):
            while not done.is_set():
                try:
                    async with websockets.connect(ws_url, open_timeout=5, close_timeout=1) as ws:
                        await ws.send(json.dumps({"access_token": self.token, "since": self.last}))
                        self.connects += 1
                        while not done.is_set():
                            try:
                                msg = await asyncio.wait_for(ws.recv(), 0.5)
                            except asyncio.TimeoutError:
                                continue
                            n = json.loads(msg)
                            self.seen.append(n["id"])
                            self.last = max(self.last, n["id"])
                except (OSError, websockets.WebSocketException, asyncio.TimeoutError):
                    await asyncio.sleep(0.2)    # the shim is away: try again

    clients = [Client(uid, tok) for uid, _, tok in people for _ in range(per_user)]
    assert len(clients) == 200

    async def drill():
        done = asyncio.Event()
        tasks = [asyncio.create_task(c.run(done)) for c in clients]
        await asyncio.to_thread(wait_for, lambda: all(c.connects for c in clients), 30, "200 sockets")
        await asyncio.to_thread(notify, 1)                      # delivered live
        await asyncio.to_thread(wait_for, lambda: all(len(c.seen) >= 1 for c in clients), 15, "round 1")
        await asyncio.to_thread(shim.stop)
        for r in (2, 3):                                         # while the shim is away
            await asyncio.to_thread(notify, r)
        await asyncio.to_thread(shim.start)
        await asyncio.to_thread(wait_for, lambda: all(c.connects >= 2 for c in clients), 30, "200 reconnections")
        await asyncio.to_thread(notify, 4)                      # live again
        await asyncio.to_thread(wait_for, lambda: all(len(c.seen) >= 4 for c in clients), 20, "rounds 2 to 4")
        await asyncio.sleep(1.0)                                 # time for any duplicate to show
        done.set()
        await asyncio.gather(*tasks)

    asyncio.run(asyncio.wait_for(drill(), 120))
    expected = {}
    for line in psql_lines(psql("SELECT user_id, id FROM taskmgmt.notifications WHERE user_id = ANY (ARRAY"
                                f"{[p[0] for p in people]}::bigint[]) ORDER BY id")):
        u, i = line.split("|")
        expected.setdefault(int(u), []).append(int(i))
    summary(f"shim restart: {len(clients)} websockets, {sum(len(c.seen) for c in clients)} notifications received, "
            f"{sum(c.connects for c in clients)} connections made, duplicates "
            f"{sum(len(c.seen) - len(set(c.seen)) for c in clients)}")
    for c in clients:
        assert len(expected[c.uid]) == 4
        assert c.seen == expected[c.uid], (c.uid, c.seen, expected[c.uid])


# ------------------------------------------------------ 13: SMTP down, then up

def test_smtp_down_for_a_window_then_every_message_once_with_its_message_id():
    sys.path.insert(0, os.path.join(ROOT, "mailer"))
    import smtp_sink
    from conftest import free_port
    port = free_port()
    sink = smtp_sink.Sink()
    people = users("mail", 10)
    psql("DELETE FROM taskmgmt.email_outbox; DELETE FROM taskmgmt.mail_settings; "
         "SELECT taskmgmt.configure_mail(app_url => 'https://tasks.example.com')")
    env = dict(os.environ, DATABASE_URL=f"host={os.environ['PGHOST']} port={os.environ['PGPORT']} "
                                        f"dbname={os.environ['PGDATABASE']} user=tm_faults_mailer",
               SMTP_URL=f"smtp://127.0.0.1:{port}", SMTP_TLS="none", MAIL_FROM="noreply@faults.test",
               MAILER_POLL_INTERVAL="60", MAILER_BACKOFF="1", MAILER_SMTP_TIMEOUT="2", MAILER_LEASE="4",
               MAILER_MAX_ATTEMPTS="100")
    import subprocess
    log = open(os.path.join(os.environ.get("FAULTS_OUT", "/tmp"), "mailer.log"), "ab")
    mailer = subprocess.Popen([os.environ["MAILER_BIN"]], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        # the server is down for the whole window in which the mail is made
        for r in range(3):
            psql(f"""INSERT INTO taskmgmt.tasks (title, creator_id, assignee_user_id)
                     SELECT 'mail {r} ' || u, u, u FROM unnest(ARRAY{[p[0] for p in people]}::bigint[]) u""")
            time.sleep(1)
        rows = psql_lines(psql("SELECT message_id FROM taskmgmt.email_outbox ORDER BY id"))
        assert len(rows) == 30
        wait_for(lambda: psql("SELECT count(*) FROM taskmgmt.email_outbox WHERE attempts >= 2") == "30", 30,
                 "every message to have failed twice")
        assert psql("SELECT count(*) FROM taskmgmt.email_outbox WHERE status = 'sent'") == "0"
        controller = smtp_sink.start(sink, port)
        try:
            wait_for(lambda: psql("SELECT count(*) FROM taskmgmt.email_outbox WHERE status = 'sent'") == "30", 60,
                     "every message sent once the server is back")
            time.sleep(2)                                    # anything sent twice would show now
            with sink.lock:
                got = [smtp_sink_message_id(m[2]) for m in sink.messages]
        finally:
            controller.stop()
    finally:
        mailer.send_signal(signal.SIGTERM)
        mailer.wait(timeout=10)
    summary(f"SMTP down: {len(rows)} messages made while it was down, {len(got)} delivered, "
            f"{len(set(got))} distinct Message-IDs, {len(set(got) & set(rows))} matching the outbox")
    assert sorted(got) == sorted(rows), "each message once, with the Message-ID fixed when it was made"


def smtp_sink_message_id(data):
    import email
    import email.policy
    return email.message_from_bytes(data, policy=email.policy.default)["Message-ID"]
