/*
 * autonomous.c
 *	  Writes that must be committed whatever happens to the calling
 *	  statement.
 *
 * A sign-in attempt must be counted before its bcrypt runs, so that
 * parallel attempts see each other, and the count must stay when the
 * attempt fails (the caller then raises an error that rolls back its own
 * transaction) or when the caller's transaction is rolled back for any other
 * reason.  A replayed refresh token must end its session although the
 * caller answers with an error.  Each such write is done by a short-lived
 * dynamic background worker, in a transaction of its own, and the caller
 * waits for it (bounded); a sign-in attempt's verdict comes back through a
 * small dynamic shared memory segment.  Dynamic workers need no
 * shared_preload_libraries entry, only a free max_worker_processes slot.
 * When none is free, a sign-in attempt is refused (it could not be
 * counted); the other writes are skipped with a WARNING in the server log.
 */
#include "taskmgmt.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "port/atomics.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#define AUTONOMOUS_WAIT_MS 5000

typedef enum TmAutonomousAction
{
	TM_AUTONOMOUS_REVOKE_SESSION,
	TM_AUTONOMOUS_LOGIN_ATTEMPT,
	TM_AUTONOMOUS_LOGIN_SUCCESS,
	TM_AUTONOMOUS_LEGACY_LOGIN_FAILURE
} TmAutonomousAction;

typedef struct TmAutonomousArgs
{
	Oid			database_id;
	Oid			role_id;
	int32		action;
	int32		max_failures;
	int32		failure_window;
	int32		delay;
	int32		account_max_failures;
	int32		account_delay;
	int64		session_id;
	unsigned char email_key[32];
	char		client[TM_LOGIN_CLIENT_LEN];
} TmAutonomousArgs;

StaticAssertDecl(sizeof(TmAutonomousArgs) <= BGW_EXTRALEN,
				 "autonomous arguments must fit in bgw_extra");

/* What a worker answers through its dynamic shared memory segment. */
typedef struct TmAutonomousResult
{
	int32		value;
	bool		done;			/* set last, after a write barrier */
} TmAutonomousResult;

PGDLLEXPORT void tm_autonomous_main(Datum main_arg);

/*
 * Runs the write in a worker and waits for it.  With result != NULL the
 * worker's answer is stored there, and false is returned unless the worker
 * gave one.
 */
static bool
run_autonomous(TmAutonomousArgs *args, int32 *result)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	TimestampTz start = GetCurrentTimestamp();
	dsm_segment *seg = NULL;
	volatile TmAutonomousResult *res = NULL;
	bool		ok = false;
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
	if (result != NULL)
	{
		/* detached at transaction end if anything below raises an error */
		seg = dsm_create(sizeof(TmAutonomousResult), 0);
		res = dsm_segment_address(seg);
		res->value = 0;
		res->done = false;
		worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	}

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		ereport(WARNING,
				(errmsg("taskmgmt: no background worker slot free for an autonomous write"),
				 errhint("Raise max_worker_processes.")));
		if (seg)
			dsm_detach(seg);
		return false;
	}

	for (;;)
	{
		BgwHandleStatus status = GetBackgroundWorkerPid(handle, &pid);

		if (status == BGWH_STOPPED || status == BGWH_POSTMASTER_DIED)
		{
			ok = status == BGWH_STOPPED;
			break;
		}
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), AUTONOMOUS_WAIT_MS))
		{
			ereport(WARNING,
					(errmsg("taskmgmt: autonomous write did not finish in time")));
			break;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	if (res != NULL)
	{
		pg_read_barrier();
		ok = ok && res->done;
		if (ok)
			*result = res->value;
		dsm_detach(seg);
	}
	return ok;
}

bool
tm_autonomous_revoke_session(int64 session_id)
{
	TmAutonomousArgs args;

	memset(&args, 0, sizeof(args));
	args.action = TM_AUTONOMOUS_REVOKE_SESSION;
	args.session_id = session_id;
	return run_autonomous(&args, NULL);
}

/*
 * Counts a sign-in attempt for (email, client) and for the email as a
 * whole, before its bcrypt.  Returns 0 when the attempt may go ahead, the
 * seconds to wait when it may not (it is then not counted), or -1 when it
 * could not be counted (the caller must refuse it).
 */
int
tm_autonomous_login_attempt(const unsigned char email_key[32], const char *client)
{
	TmAutonomousArgs args;
	int32		wait = -1;

	memset(&args, 0, sizeof(args));
	args.action = TM_AUTONOMOUS_LOGIN_ATTEMPT;
	args.max_failures = tm_login_max_failures;
	args.failure_window = tm_login_failure_window;
	args.delay = tm_login_lockout;
	args.account_max_failures = tm_login_account_max_failures;
	args.account_delay = tm_login_account_delay;
	memcpy(args.email_key, email_key, 32);
	strlcpy(args.client, client, sizeof(args.client));
	if (!run_autonomous(&args, &wait) || wait < 0)
		return -1;
	return wait;
}

/*
 * A failure under the 0.1.0 schema (before ALTER EXTENSION UPDATE), which
 * counts per email only and after the bcrypt: 0.1.0's rules.
 */
bool
tm_autonomous_legacy_login_failure(const unsigned char email_key[32])
{
	TmAutonomousArgs args;

	memset(&args, 0, sizeof(args));
	args.action = TM_AUTONOMOUS_LEGACY_LOGIN_FAILURE;
	args.max_failures = tm_login_max_failures;
	args.failure_window = tm_login_failure_window;
	args.delay = tm_login_lockout;
	memcpy(args.email_key, email_key, 32);
	return run_autonomous(&args, NULL);
}

/* A right password: the attempt counted for it is taken back. */
bool
tm_autonomous_login_success(const unsigned char email_key[32], const char *client)
{
	TmAutonomousArgs args;

	memset(&args, 0, sizeof(args));
	args.action = TM_AUTONOMOUS_LOGIN_SUCCESS;
	memcpy(args.email_key, email_key, 32);
	strlcpy(args.client, client, sizeof(args.client));
	return run_autonomous(&args, NULL);
}

void
tm_autonomous_main(Datum main_arg)
{
	TmAutonomousArgs args;
	dsm_segment *seg = NULL;
	volatile TmAutonomousResult *res = NULL;
	int32		value = 0;
	int			rc;

	memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(args));
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(args.database_id, args.role_id, 0);

	if (args.action == TM_AUTONOMOUS_LOGIN_ATTEMPT)
	{
		seg = dsm_attach(DatumGetUInt32(main_arg));
		if (seg == NULL)		/* the caller gave up and left */
			proc_exit(0);
		dsm_pin_mapping(seg);	/* until proc_exit, across the transaction */
		res = dsm_segment_address(seg);
	}

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
		Oid			types[7] = {BYTEAOID, TEXTOID, INT4OID, INT4OID, INT4OID, INT4OID, INT4OID};
		Datum		values[7];

		SET_VARSIZE(key, VARHDRSZ + 32);
		memcpy(VARDATA(key), args.email_key, 32);
		values[0] = PointerGetDatum(key);
		values[1] = CStringGetTextDatum(args.client);
		if (args.action == TM_AUTONOMOUS_LOGIN_SUCCESS)
			rc = SPI_execute_with_args("SELECT taskmgmt._login_success($1, $2)",
									   2, types, values, NULL, false, 0);
		else if (args.action == TM_AUTONOMOUS_LEGACY_LOGIN_FAILURE)
		{
			types[1] = INT4OID;
			values[1] = Int32GetDatum(args.max_failures);
			values[2] = Int32GetDatum(args.failure_window);
			values[3] = Int32GetDatum(args.delay);
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
		else
		{
			bool		isnull;

			values[2] = Int32GetDatum(args.max_failures);
			values[3] = Int32GetDatum(args.failure_window);
			values[4] = Int32GetDatum(args.delay);
			values[5] = Int32GetDatum(args.account_max_failures);
			values[6] = Int32GetDatum(args.account_delay);
			rc = SPI_execute_with_args("SELECT taskmgmt._login_attempt($1, $2, $3, $4, $5, $6, $7)",
									   7, types, values, NULL, false, 0);
			if (rc == SPI_OK_SELECT && SPI_processed == 1)
				value = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
													SPI_tuptable->tupdesc, 1, &isnull));
		}
	}
	if (rc < 0)
		elog(ERROR, "taskmgmt autonomous write failed: %s", SPI_result_code_string(rc));

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	/* the verdict counts only once the count is committed */
	if (res != NULL)
	{
		res->value = value;
		pg_write_barrier();
		res->done = true;
	}
	pgstat_report_activity(STATE_IDLE, NULL);
	proc_exit(0);
}
