/*
 * autonomous.c
 *	  Writes that must be committed even though the calling statement is
 *	  about to fail.
 *
 * A failed sign-in must be counted, and a replayed refresh token must end its
 * session, yet the caller answers both with an error that rolls back its own
 * transaction.  The write is therefore done by a short-lived dynamic
 * background worker, in a transaction of its own, and the caller waits for it
 * (bounded) before raising its error.  Dynamic workers need no
 * shared_preload_libraries entry, only a free max_worker_processes slot; if
 * none is free the write is skipped with a WARNING in the server log.
 */
#include "taskmgmt.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#define AUTONOMOUS_WAIT_MS 5000

typedef enum TmAutonomousAction
{
	TM_AUTONOMOUS_REVOKE_SESSION,
	TM_AUTONOMOUS_LOGIN_FAILURE
} TmAutonomousAction;

typedef struct TmAutonomousArgs
{
	Oid			database_id;
	Oid			role_id;
	int32		action;
	int32		max_failures;
	int32		failure_window;
	int32		lockout;
	int64		session_id;
	unsigned char email_key[32];
} TmAutonomousArgs;

StaticAssertDecl(sizeof(TmAutonomousArgs) <= BGW_EXTRALEN,
				 "autonomous arguments must fit in bgw_extra");

PGDLLEXPORT void tm_autonomous_main(Datum main_arg);

static bool
run_autonomous(TmAutonomousArgs *args)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	TimestampTz start = GetCurrentTimestamp();
	pid_t		pid;

	args->database_id = MyDatabaseId;
	args->role_id = tm_extension_owner();

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "taskmgmt");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "tm_autonomous_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "taskmgmt autonomous write");
	snprintf(worker.bgw_type, BGW_MAXLEN, "taskmgmt autonomous write");
	worker.bgw_notify_pid = MyProcPid;
	memcpy(worker.bgw_extra, args, sizeof(*args));

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		ereport(WARNING,
				(errmsg("taskmgmt: no background worker slot free for an autonomous write"),
				 errhint("Raise max_worker_processes.")));
		return false;
	}

	for (;;)
	{
		BgwHandleStatus status = GetBackgroundWorkerPid(handle, &pid);

		if (status == BGWH_STOPPED || status == BGWH_POSTMASTER_DIED)
			return status == BGWH_STOPPED;
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), AUTONOMOUS_WAIT_MS))
		{
			ereport(WARNING,
					(errmsg("taskmgmt: autonomous write did not finish in time")));
			return false;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

bool
tm_autonomous_revoke_session(int64 session_id)
{
	TmAutonomousArgs args;

	memset(&args, 0, sizeof(args));
	args.action = TM_AUTONOMOUS_REVOKE_SESSION;
	args.session_id = session_id;
	return run_autonomous(&args);
}

bool
tm_autonomous_record_login_failure(const unsigned char email_key[32])
{
	TmAutonomousArgs args;

	memset(&args, 0, sizeof(args));
	args.action = TM_AUTONOMOUS_LOGIN_FAILURE;
	args.max_failures = tm_login_max_failures;
	args.failure_window = tm_login_failure_window;
	args.lockout = tm_login_lockout;
	memcpy(args.email_key, email_key, 32);
	return run_autonomous(&args);
}

void
tm_autonomous_main(Datum main_arg)
{
	TmAutonomousArgs args;
	int			rc;

	memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(args));
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(args.database_id, args.role_id, 0);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "taskmgmt autonomous write");

	SPI_execute("SET LOCAL search_path = pg_catalog, pg_temp", false, 0);
	if (args.action == TM_AUTONOMOUS_REVOKE_SESSION)
	{
		Oid			types[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum(args.session_id)};

		rc = SPI_execute_with_args("UPDATE taskmgmt.sessions "
								   "SET revoked_at = now(), revoke_reason = 'refresh token reuse' "
								   "WHERE id = $1 AND revoked_at IS NULL",
								   1, types, values, NULL, false, 0);
	}
	else
	{
		bytea	   *key = palloc(VARHDRSZ + 32);
		Oid			types[4] = {BYTEAOID, INT4OID, INT4OID, INT4OID};
		Datum		values[4];

		SET_VARSIZE(key, VARHDRSZ + 32);
		memcpy(VARDATA(key), args.email_key, 32);
		values[0] = PointerGetDatum(key);
		values[1] = Int32GetDatum(args.max_failures);
		values[2] = Int32GetDatum(args.failure_window);
		values[3] = Int32GetDatum(args.lockout);
		/* a new window starts when the last one is over */
		rc = SPI_execute_with_args(
								   "INSERT INTO taskmgmt.login_failures AS f "
								   "  (email_key, failures, window_start, locked_until) "
								   "VALUES ($1, 1, now(), CASE WHEN $2 <= 1 "
								   "        THEN now() + make_interval(secs => $4) END) "
								   "ON CONFLICT (email_key) DO UPDATE SET "
								   "  failures = CASE WHEN f.window_start < now() - make_interval(secs => $3) "
								   "                  THEN 1 ELSE f.failures + 1 END, "
								   "  window_start = CASE WHEN f.window_start < now() - make_interval(secs => $3) "
								   "                  THEN now() ELSE f.window_start END, "
								   "  locked_until = CASE WHEN f.window_start >= now() - make_interval(secs => $3) "
								   "                       AND f.failures + 1 >= $2 "
								   "                  THEN now() + make_interval(secs => $4) "
								   "                  ELSE f.locked_until END",
								   4, types, values, NULL, false, 0);
	}
	if (rc < 0)
		elog(ERROR, "taskmgmt autonomous write failed: %s", SPI_result_code_string(rc));

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	proc_exit(0);
}
