/*
 * export_stream.c
 *	  taskmgmt._export_csv_lines(filter), behind export_tasks_csv_lines():
 *	  the CSV export, streamed.
 *
 * The header line, then one line per visible task matching the list
 * filter: the cells come from a cursor over the statement
 * _export_statement() builds (run as the caller, under row-level security),
 * a batch at a time, and each row's cells are joined into a CSV record
 * here, returned one line per call.  Called in a select list (as the HTTP shim
 * does), nothing is collected: the lines go to the client as they are
 * made, in memory that does not grow with the number of rows.  (As a SQL
 * function it read its tasks through filter_tasks(), whose PL/pgSQL RETURN
 * QUERY collected every row first, spilling a million of them to disk.)
 */
#include "taskmgmt.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#define EXPORT_BATCH 1000

typedef struct ExportState
{
	char	   *portal_name;	/* the open cursor (in fn_mcxt), NULL once closed */
	text	   *header;			/* returned first, then NULL */
	text	  **lines;			/* the current batch */
	int			nlines;
	int			next;
	bool		done;
} ExportState;

static void
export_close(ExportState *st)
{
	if (st->portal_name != NULL)
	{
		Portal		portal = SPI_cursor_find(st->portal_name);

		if (portal != NULL)
			SPI_cursor_close(portal);
		st->portal_name = NULL;
	}
}

/* the query stopped reading early (a LIMIT, an error path): close the cursor */
static void
export_shutdown(Datum arg)
{
	export_close((ExportState *) DatumGetPointer(arg));
}

static void
export_open(FunctionCallInfo fcinfo, ExportState *st, MemoryContext keep)
{
	Oid			argtypes[2] = {TEXTARRAYOID, JSONBOID};
	Datum		args[2];
	char		nulls[2];
	bool		isnull;
	Datum		sql;
	Datum		header;
	Portal		portal;
	MemoryContext old;

	args[0] = PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0);
	nulls[0] = PG_ARGISNULL(0) ? 'n' : ' ';
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* checks the filter (errors are the API's) and builds the statement */
	if (SPI_execute_with_args("SELECT e.sql, e.params, e.f, e.header FROM taskmgmt._export_statement($1) e",
							  1, argtypes + 1, args, nulls, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not build the export statement");
	sql = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	/* the statement's parameters: $1 a filter text's values, $2 the filter */
	args[0] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	nulls[0] = isnull ? 'n' : ' ';
	args[1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
	nulls[1] = isnull ? 'n' : ' ';
	header = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull);

	portal = SPI_cursor_open_with_args(NULL, TextDatumGetCString(sql), 2, argtypes, args, nulls,
									   true, CURSOR_OPT_NO_SCROLL);
	st->portal_name = MemoryContextStrdup(fcinfo->flinfo->fn_mcxt, portal->name);
	old = MemoryContextSwitchTo(keep);
	st->header = DatumGetTextPCopy(header);
	MemoryContextSwitchTo(old);
	SPI_finish();
}

/*
 * One CSV record from a row of text cells, ending in CRLF (NULL cells are
 * empty), as csv_line() makes it; in the given context.
 */
static text *
csv_record(HeapTuple row, TupleDesc desc, MemoryContext cxt)
{
	StringInfoData buf;
	int			i;
	text	   *line;

	initStringInfo(&buf);
	for (i = 0; i < desc->natts; i++)
	{
		bool		isnull;
		Datum		d = heap_getattr(row, i + 1, desc, &isnull);

		if (i > 0)
			appendStringInfoChar(&buf, ',');
		if (!isnull)
		{
			text	   *t = DatumGetTextPP(d);

			tm_csv_append_cell(&buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
		}
	}
	appendBinaryStringInfo(&buf, "\r\n", 2);
	line = (text *) MemoryContextAlloc(cxt, VARHDRSZ + buf.len);
	SET_VARSIZE(line, VARHDRSZ + buf.len);
	memcpy(VARDATA(line), buf.data, buf.len);
	pfree(buf.data);
	return line;
}

/* the next batch of lines into st->lines; false at the end */
static bool
export_fetch(ExportState *st, MemoryContext keep)
{
	Portal		portal;
	uint64		i;

	if (st->portal_name == NULL)
		return false;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	portal = SPI_cursor_find(st->portal_name);
	if (portal == NULL)
		elog(ERROR, "export cursor \"%s\" is gone", st->portal_name);
	SPI_cursor_fetch(portal, true, EXPORT_BATCH);

	/* the previous batch is no longer needed */
	for (i = 0; i < st->nlines; i++)
		pfree(st->lines[i]);
	st->nlines = 0;
	st->next = 0;
	for (i = 0; i < SPI_processed; i++)
		st->lines[st->nlines++] = csv_record(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, keep);
	if (SPI_processed == 0)
		export_close(st);
	SPI_finish();
	return st->nlines > 0;
}

/* taskmgmt._export_csv_lines(filter jsonb) RETURNS SETOF text */
PG_FUNCTION_INFO_V1(tm_export_tasks_csv_lines);
Datum
tm_export_tasks_csv_lines(PG_FUNCTION_ARGS)
{
	FuncCallContext *fctx;
	ExportState *st;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext old;

		fctx = SRF_FIRSTCALL_INIT();
		/* for the shutdown callback, which may run after the last call */
		st = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ExportState));
		old = MemoryContextSwitchTo(fctx->multi_call_memory_ctx);
		st->lines = palloc(sizeof(text *) * EXPORT_BATCH);
		MemoryContextSwitchTo(old);
		fctx->user_fctx = st;
		export_open(fcinfo, st, fctx->multi_call_memory_ctx);
		if (rsinfo != NULL && IsA(rsinfo, ReturnSetInfo) && rsinfo->econtext != NULL)
			RegisterExprContextCallback(rsinfo->econtext, export_shutdown, PointerGetDatum(st));
	}
	fctx = SRF_PERCALL_SETUP();
	st = (ExportState *) fctx->user_fctx;

	if (st->header != NULL)
	{
		text	   *h = st->header;

		st->header = NULL;
		SRF_RETURN_NEXT(fctx, PointerGetDatum(h));
	}
	/* a line stays valid until the next fetch, when the caller is done with it */
	if (st->next < st->nlines || export_fetch(st, fctx->multi_call_memory_ctx))
		SRF_RETURN_NEXT(fctx, PointerGetDatum(st->lines[st->next++]));
	SRF_RETURN_DONE(fctx);
}
