"""schedule_jobs() with the real pg_cron of the test cluster
(shared_preload_libraries = 'pg_cron', cron.database_name = the test
database): the scheduled job really runs and reminds."""
import time

import pytest

from test_mailer import one, sql, wait_for


def forget():
    sql("DELETE FROM taskmgmt.tasks WHERE title LIKE 'itest%'; "
        "DELETE FROM taskmgmt.email_outbox; "
        "DELETE FROM taskmgmt.users WHERE email LIKE '%@itest.example'")


@pytest.fixture
def cron():
    forget()
    sql("CREATE EXTENSION IF NOT EXISTS pg_cron")
    yield
    forget()
    sql("SELECT taskmgmt.unschedule_jobs()")
    sql("SELECT cron.unschedule(jobname) FROM cron.job WHERE jobname = 'itest-due-soon'")
    sql("DROP EXTENSION pg_cron")


def test_schedule_jobs_and_a_job_run_by_pg_cron(cron):
    jobs = one("SELECT taskmgmt.schedule_jobs()")
    assert one("SELECT count(*) FROM cron.job WHERE jobname LIKE 'taskmgmt-%'") == '5', jobs
    uid = one("INSERT INTO taskmgmt.users (email, display_name) VALUES ('cron@itest.example', 'Cron') RETURNING id")
    task = one("INSERT INTO taskmgmt.tasks (title, creator_id, due_date) VALUES "
               "('itest due today', %s, (now() AT TIME ZONE 'UTC')::date) RETURNING id" % uid)
    # the same command as taskmgmt-due-soon, every minute, so the test need not wait 15
    command = one("SELECT command FROM cron.job WHERE jobname = 'taskmgmt-due-soon'")
    sql("SELECT cron.schedule('itest-due-soon', '* * * * *', $c$%s$c$)" % command)
    wait_for(lambda: one("SELECT count(*) FROM taskmgmt.notifications WHERE task_id = %s AND event = 'due_soon'"
                         % task) == '1', timeout=75, what='pg_cron to run the job')
    status = one("SELECT d.status FROM cron.job_run_details d JOIN cron.job j USING (jobid) "
                 "WHERE j.jobname = 'itest-due-soon' ORDER BY d.runid DESC LIMIT 1")
    assert status == 'succeeded'
    time.sleep(0.5)
    assert one("SELECT count(*) FROM taskmgmt.notifications WHERE task_id = %s" % task) == '1'
