/*
 * tokens.c
 *	  Personal access tokens: opaque secrets ("tmpat_" + 43 base64url
 *	  characters) for scripts, CI jobs and calendar apps.  Only their SHA-256
 *	  is stored (taskmgmt.personal_tokens, 91_tokens.sql); authenticate()
 *	  hands a token with that prefix to tm_token_authenticate().
 *
 * A token with the read scope only is refused on any write: an executor
 * hook checks every statement of a transaction signed in with one, exactly
 * as PostgreSQL checks a read-only transaction, but with our own SQLSTATE
 * (TM403, HTTP 403 insufficient_scope).  It is a hook and not
 * transaction_read_only because a subtransaction's rollback can restore that
 * setting, while the identity, and so the hook's verdict, stays.
 */
#include "taskmgmt.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#define TOKEN_PREFIX "tmpat_"
#define TOKEN_SECRET_BYTES 32
/* last_used_at is written at most this often per token */
#define LAST_USED_GRANULARITY "60 seconds"

static SPIPlanPtr lookup_plan;
static SPIPlanPtr touch_plan;
static ExecutorStart_hook_type prev_executor_start;

bool
tm_token_is_personal(const char *token)
{
	return strncmp(token, TOKEN_PREFIX, strlen(TOKEN_PREFIX)) == 0;
}

/* prefix || base64url(32 random bytes) */
char *
tm_new_secret(const char *prefix)
{
	unsigned char raw[TOKEN_SECRET_BYTES];

	tm_random_bytes(raw, sizeof(raw));
	return psprintf("%s%s", prefix, tm_base64url_encode(raw, sizeof(raw)));
}

static bytea *
token_hash(const char *s)
{
	bytea	   *h = palloc(VARHDRSZ + 32);

	tm_sha256((const unsigned char *) s, strlen(s), (unsigned char *) VARDATA(h));
	SET_VARSIZE(h, VARHDRSZ + 32);
	return h;
}

/*
 * Verifies a personal access token and signs in with it until the end of
 * the transaction; returns the user id.  Unknown, revoked (deleted) tokens
 * and those of disabled accounts all get the same answer.
 */
int64
tm_token_authenticate(const char *token)
{
	TmOwnerContext ctx;
	Datum		arg[1];
	bool		isnull;
	bool		found = false;
	bool		live = false;
	bool		stale = false;
	bool		can_write = false;
	bool		is_admin = false;
	int64		token_id = 0;
	int64		user_id = 0;

	arg[0] = PointerGetDatum(token_hash(token));
	tm_spi_begin_as_owner(&ctx);
	if (lookup_plan == NULL)
	{
		Oid			types[1] = {BYTEAOID};

		lookup_plan = tm_spi_keep_plan(
									   "SELECT t.id, t.user_id, 'write' = ANY (t.scopes), u.role = 'admin', "
									   "  t.expires_at IS NULL OR t.expires_at > now(), "
									   "  t.last_used_at IS NULL OR t.last_used_at < now() - interval '" LAST_USED_GRANULARITY "' "
									   "FROM taskmgmt.personal_tokens t JOIN taskmgmt.users u ON u.id = t.user_id "
									   "WHERE t.token_hash = $1 AND NOT u.disabled",
									   1, types);
	}
	if (SPI_execute_plan(lookup_plan, arg, NULL, false, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
	{
		HeapTuple	row = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		found = true;
		token_id = DatumGetInt64(SPI_getbinval(row, desc, 1, &isnull));
		user_id = DatumGetInt64(SPI_getbinval(row, desc, 2, &isnull));
		can_write = DatumGetBool(SPI_getbinval(row, desc, 3, &isnull));
		is_admin = DatumGetBool(SPI_getbinval(row, desc, 4, &isnull));
		live = DatumGetBool(SPI_getbinval(row, desc, 5, &isnull));
		stale = DatumGetBool(SPI_getbinval(row, desc, 6, &isnull));
	}

	/*
	 * last_used_at, at most once a minute, and never waiting: a request
	 * holding the row (a long export) must not stall the next one.  A hot
	 * standby or a read-only transaction cannot write: it is skipped.
	 */
	if (found && live && stale && !RecoveryInProgress() && !XactReadOnly)
	{
		Datum		id_arg[1] = {Int64GetDatum(token_id)};

		if (touch_plan == NULL)
		{
			Oid			types[1] = {INT8OID};

			touch_plan = tm_spi_keep_plan(
										  "UPDATE taskmgmt.personal_tokens SET last_used_at = now() "
										  "WHERE id = (SELECT id FROM taskmgmt.personal_tokens "
										  "            WHERE id = $1 FOR UPDATE SKIP LOCKED)",
										  1, types);
		}
		if (SPI_execute_plan(touch_plan, id_arg, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not record the use of a token");
	}
	tm_spi_end_as_owner(&ctx);

	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errhidestmt(true),
				 tm_errclient(),
				 errmsg("invalid access token")));
	if (!live)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errhidestmt(true),
				 tm_errclient(),
				 errmsg("access token expired"),
				 errhint("Create a new personal access token.")));

	tm_identity_set_token(user_id, token_id, is_admin, !can_write);
	return user_id;
}

/*
 * Changing the password ends the user's tokens and calendar feed (called
 * inside the caller's SPI session, as the owner).
 */
void
tm_tokens_revoke_user(int64 user_id)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(user_id)};

	if (SPI_execute_with_args("SELECT taskmgmt._revoke_user_tokens($1)",
							  1, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not revoke the user's tokens");
}

/*
 * Would this statement write?  PostgreSQL's own test for a read-only
 * transaction (ExecCheckXactReadOnly): a relation that needs more than
 * SELECT (INSERT, UPDATE, DELETE, MERGE, SELECT ... FOR UPDATE), temporary
 * tables excepted.
 */
static bool
statement_writes(PlannedStmt *stmt)
{
	ListCell   *l;

	foreach(l, stmt->rtable)
	{
		RangeTblEntry *rte = (RangeTblEntry *) lfirst(l);

		if (rte->rtekind != RTE_RELATION || (rte->requiredPerms & ~ACL_SELECT) == 0)
			continue;
		if (isTempNamespace(get_rel_namespace(rte->relid)))
			continue;
		return true;
	}
	return false;
}

static void
scope_executor_start(QueryDesc *queryDesc, int eflags)
{
	if (tm_identity_read_only() && !(eflags & EXEC_FLAG_EXPLAIN_ONLY) &&
		statement_writes(queryDesc->plannedstmt))
		ereport(ERROR,
				(errcode(ERRCODE_TM_INSUFFICIENT_SCOPE),
				 tm_errclient(),
				 errmsg("this token may only read"),
				 errdetail("The personal access token has the read scope; changing anything needs a token with the write scope.")));
	if (prev_executor_start)
		prev_executor_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/* From _PG_init. */
void
tm_tokens_init(void)
{
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = scope_executor_start;
}

/*
 * _feed_authenticate(feed token) -> user id.  A calendar feed URL signs its
 * request in, read-only, for the rest of the transaction; an unknown or
 * revoked feed is not found (it is a URL, not a credential prompt).
 */
PG_FUNCTION_INFO_V1(tm_feed_authenticate);
Datum
tm_feed_authenticate(PG_FUNCTION_ARGS)
{
	char	   *token = text_to_cstring(PG_GETARG_TEXT_PP(0));
	TmOwnerContext ctx;
	Oid			types[1] = {BYTEAOID};
	Datum		args[1] = {PointerGetDatum(token_hash(token))};
	bool		isnull;
	bool		found = false;
	bool		is_admin = false;
	int64		user_id = 0;

	tm_spi_begin_as_owner(&ctx);
	if (SPI_execute_with_args("SELECT f.user_id, u.role = 'admin' FROM taskmgmt.calendar_feeds f "
							  "JOIN taskmgmt.users u ON u.id = f.user_id "
							  "WHERE f.token_hash = $1 AND NOT u.disabled",
							  1, types, args, NULL, true, 1) == SPI_OK_SELECT && SPI_processed == 1)
	{
		found = true;
		user_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		is_admin = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	}
	tm_spi_end_as_owner(&ctx);
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errhidestmt(true),
				 tm_errclient(),
				 errmsg("calendar feed not found")));
	tm_identity_set_token(user_id, 0, is_admin, true);
	PG_RETURN_INT64(user_id);
}

/* _random_token(prefix) -> prefix || 43 base64url characters */
PG_FUNCTION_INFO_V1(tm_random_token);
Datum
tm_random_token(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(tm_new_secret(text_to_cstring(PG_GETARG_TEXT_PP(0)))));
}

/* _current_token_id() -> the personal access token signed in with, or NULL */
PG_FUNCTION_INFO_V1(tm_current_token_id);
Datum
tm_current_token_id(PG_FUNCTION_ARGS)
{
	int64		id = tm_identity_token_id();

	if (id == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(id);
}
