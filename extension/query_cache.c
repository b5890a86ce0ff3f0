/*
 * query_cache.c
 *	  Kept plans for the statements the list and search functions generate.
 *
 * list_tasks builds its statement from the filter's shape (which keys,
 * which sort) and reads the values from parameters, so the same few texts
 * come back call after call.  PL/pgSQL's EXECUTE parses, rewrites (row-level
 * security) and plans its text every time, which cost more than running the
 * statement.  _query_cached keeps one prepared plan per text in this backend
 * (PostgreSQL's plan cache then picks custom or generic plans and replans
 * after DDL, as for any prepared statement).  It runs as the caller, with
 * the caller's row-level security, like EXECUTE; the number of kept plans
 * is bounded.
 */
#include "taskmgmt.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

/* beyond this many distinct texts, every kept plan is dropped */
#define QUERY_CACHE_MAX 200

/* $1 text[] (a filter text's values), $2 and $3 jsonb (the filter, a cursor) */
#define QUERY_NARGS 3

typedef struct CachedQuery
{
	uint64		hash;			/* hash key: of the text */
	char	   *sql;			/* the text (TopMemoryContext) */
	SPIPlanPtr	plan;
} CachedQuery;

static HTAB *queries = NULL;
/* statements of ours running (one may call another): the table holds still */
static int	running = 0;

static void
query_cache_reset(void)
{
	HASH_SEQ_STATUS seq;
	CachedQuery *q;

	hash_seq_init(&seq, queries);
	while ((q = hash_seq_search(&seq)) != NULL)
	{
		SPI_freeplan(q->plan);
		pfree(q->sql);
	}
	hash_destroy(queries);
	queries = NULL;
}

/*
 * The plan for this text: kept, or (new text while one of our statements is
 * running, when the table must not change under it) prepared for this call
 * only; *transient says which.
 */
static SPIPlanPtr
query_cache_get(const char *sql, bool *transient)
{
	uint64		h = hash_bytes_extended((const unsigned char *) sql, strlen(sql), 0);
	CachedQuery *q;
	bool		found;
	SPIPlanPtr	plan;
	Oid			types[QUERY_NARGS] = {TEXTARRAYOID, JSONBOID, JSONBOID};

	if (queries != NULL)
	{
		q = hash_search(queries, &h, HASH_FIND, &found);
		if (found && strcmp(q->sql, sql) == 0)
		{
			*transient = false;
			return q->plan;
		}
	}

	plan = SPI_prepare(sql, QUERY_NARGS, types);
	if (plan == NULL)
		elog(ERROR, "could not prepare statement: %s", SPI_result_code_string(SPI_result));
	*transient = running > 0;
	if (*transient)
		return plan;			/* freed with the SPI connection */
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");

	if (queries != NULL && hash_get_num_entries(queries) >= QUERY_CACHE_MAX)
		query_cache_reset();
	if (queries == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(uint64);
		ctl.entrysize = sizeof(CachedQuery);
		ctl.hcxt = TopMemoryContext;
		queries = hash_create("taskmgmt kept statements", 64, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	q = hash_search(queries, &h, HASH_ENTER, &found);
	if (found)
	{
		/* two texts with one hash: the newer one takes the slot */
		SPI_freeplan(q->plan);
		pfree(q->sql);
	}
	q->sql = MemoryContextStrdup(TopMemoryContext, sql);
	q->plan = plan;
	return plan;
}

/* SPI_execute_plan, read-only, one row, counted in "running" */
static pg_noinline int
run_plan(SPIPlanPtr plan, Datum *args, const char *nulls)
{
	volatile int rc = 0;

	running++;
	PG_TRY();
	{
		rc = SPI_execute_plan(plan, args, nulls, true, 1);
	}
	PG_FINALLY();
	{
		running--;
	}
	PG_END_TRY();
	return rc;
}

/*
 * taskmgmt._query_cached(sql text, p1 text[], p2 jsonb, p3 jsonb) RETURNS jsonb
 *
 * Runs sql (a SELECT whose first column is jsonb, with the parameters $1
 * text[], $2 and $3 jsonb) with a kept plan, read-only under the caller's
 * snapshot, and returns the first column of its first row (NULL without
 * rows).
 */
PG_FUNCTION_INFO_V1(tm_query_cached);
Datum
tm_query_cached(PG_FUNCTION_ARGS)
{
	char	   *sql;
	SPIPlanPtr	plan;
	bool		transient;			/* not kept: freed by SPI_finish */
	Datum		args[QUERY_NARGS];
	char		nulls[QUERY_NARGS];
	Datum		result = (Datum) 0;
	bool		isnull = true;
	int			rc;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	for (int i = 0; i < QUERY_NARGS; i++)
	{
		args[i] = PG_ARGISNULL(i + 1) ? (Datum) 0 : PG_GETARG_DATUM(i + 1);
		nulls[i] = PG_ARGISNULL(i + 1) ? 'n' : ' ';
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = query_cache_get(sql, &transient);

	/* read_only: a STABLE function; SPI refuses anything but a query */
	rc = run_plan(plan, args, nulls);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "kept statement did not run as a query (%s)", SPI_result_code_string(rc));
	if (SPI_tuptable->tupdesc->natts < 1 || SPI_gettypeid(SPI_tuptable->tupdesc, 1) != JSONBOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the statement's first column must be jsonb")));
	if (SPI_processed > 0)
	{
		result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull)
			result = SPI_datumTransfer(result, false, -1);
	}
	SPI_finish();
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}
