/*
 * planning.c
 *	  The planning counts of a page of tasks (#14), paid for only where
 *	  there is something to count.
 *
 * Every task object carries subtasks {total, done} and blocked_by_open,
 * counted over the tasks the caller can see.  A list page asks for them in
 * two queries over the page's ids, under the caller's row-level security:
 * planned into the page's statement, their policies' subplans and scans
 * cost a fifth of a plain page to start and stop, even when, as for most
 * pages, no task on it has a subtask or a blocker.  Here one probe of each
 * index (tasks_parent_id_idx, task_relations_other_id_idx) with the page's
 * ids, under the caller's snapshot, decides first: no entry, nothing to
 * count (every count is 0, visible or not).  Only when an entry exists does
 * the count query run, as the caller, through SPI, so row-level security
 * decides as always.  The probe reads index entries and checks them against
 * the snapshot; it shows nothing to anyone: it only chooses whether to ask.
 */
#include "taskmgmt.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

/* the counts of the page's tasks that have any: (id, total, done, blocked) */
#define SUBTASKS_SQL \
	"SELECT c.parent_id, count(*), count(*) FILTER (WHERE c.status = 'done'), 0::bigint " \
	"FROM taskmgmt.tasks c WHERE c.parent_id = ANY ($1) GROUP BY c.parent_id"
#define BLOCKERS_SQL \
	"SELECT r.other_id, 0::bigint, 0::bigint, count(*) " \
	"FROM taskmgmt.task_relations r JOIN taskmgmt.tasks o ON o.id = r.task_id " \
	"WHERE r.other_id = ANY ($1) AND r.type = 'blocks' " \
	"AND o.status NOT IN ('done', 'canceled') GROUP BY r.other_id"
static SPIPlanPtr subtasks_plan;
static SPIPlanPtr blockers_plan;

/*
 * Does the index (on a bigint first column) of taskmgmt.<table> hold an
 * entry for one of ids that the snapshot sees?  Row-level security plays no
 * part: the answer only says whether asking under it can find anything.
 */
static bool
index_has_any(const char *table, const char *index, ArrayType *ids)
{
	Relation	heap;
	Relation	idx;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanKeyData key;
	bool		found;

	heap = table_open(tm_internal_relation(table), AccessShareLock);
	idx = index_open(tm_internal_relation(index), AccessShareLock);
	ScanKeyEntryInitialize(&key, SK_SEARCHARRAY, 1, BTEqualStrategyNumber,
						   INT8OID, InvalidOid, F_INT8EQ, PointerGetDatum(ids));
	slot = table_slot_create(heap, NULL);
	scan = index_beginscan(heap, idx, GetActiveSnapshot(), 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(idx, AccessShareLock);
	table_close(heap, AccessShareLock);
	return found;
}

/*
 * Runs a count query over ids (as the caller): its rows go into the result
 * store, or, without one, are added up into sums[3].
 */
static void
add_counts(SPIPlanPtr *plan, const char *sql, ArrayType *ids, Tuplestorestate *store,
		   TupleDesc desc, int64 *sums)
{
	Oid			types[1] = {INT8ARRAYOID};
	Datum		args[1] = {PointerGetDatum(ids)};
	uint64		i;

	if (*plan == NULL)
		*plan = tm_spi_keep_plan(sql, 1, types);
	if (SPI_execute_plan(*plan, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not count the planning keys");
	for (i = 0; i < SPI_processed; i++)
	{
		Datum		values[4];
		bool		nulls[4];
		int			c;

		for (c = 0; c < 4; c++)
			values[c] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, c + 1, &nulls[c]);
		if (store != NULL)
			tuplestore_putvalues(store, desc, values, nulls);
		else
			for (c = 1; c < 4; c++)
				sums[c - 1] += nulls[c] ? 0 : DatumGetInt64(values[c]);
	}
}

/* the counts of ids (a non-empty bigint[]): into store, or added up in sums */
static void
count_into(ArrayType *ids, Tuplestorestate *store, TupleDesc desc, int64 *sums)
{
	bool		subtasks = index_has_any("tasks", "tasks_parent_id_idx", ids);
	bool		blockers = index_has_any("task_relations", "task_relations_other_id_idx", ids);

	if (!subtasks && !blockers)
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (subtasks)
		add_counts(&subtasks_plan, SUBTASKS_SQL, ids, store, desc, sums);
	if (blockers)
		add_counts(&blockers_plan, BLOCKERS_SQL, ids, store, desc, sums);
	SPI_finish();
}

/*
 * taskmgmt._page_planning(ids bigint[]) RETURNS TABLE (id bigint,
 *   subtasks_total bigint, subtasks_done bigint, blocked_by_open bigint)
 *
 * A row for each of ids that has a visible subtask or a visible open
 * blocker (a task may come twice: once for each); the others have none.
 */
PG_FUNCTION_INFO_V1(tm_page_planning);
Datum
tm_page_planning(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ArrayType  *ids;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	ids = PG_GETARG_ARRAYTYPE_P(0);
	if (ARR_ELEMTYPE(ids) != INT8OID)
		elog(ERROR, "ids must be bigint[]");
	if (ArrayGetNItems(ARR_NDIM(ids), ARR_DIMS(ids)) == 0)
		PG_RETURN_NULL();

	count_into(ids, rsinfo->setResult, rsinfo->setDesc, NULL);
	PG_RETURN_NULL();
}

/*
 * taskmgmt._task_planning(id bigint) RETURNS bigint[]
 *
 * {subtasks total, subtasks done, blocked_by_open} of one task: task_json()
 * calls it as a plain expression (no statement of its own, unlike a query
 * of _page_planning).
 */
PG_FUNCTION_INFO_V1(tm_task_planning);
Datum
tm_task_planning(PG_FUNCTION_ARGS)
{
	int64		sums[3] = {0, 0, 0};
	Datum		elems[3];
	Datum		id = PG_GETARG_DATUM(0);
	int			i;

	count_into(construct_array(&id, 1, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE),
			   NULL, NULL, sums);
	for (i = 0; i < 3; i++)
		elems[i] = Int64GetDatum(sums[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, 3, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
										  TYPALIGN_DOUBLE));
}
