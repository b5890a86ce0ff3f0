/*
 * direct_read.c
 *	  Reading the extension's internal tables by index, without SPI.
 *
 * Some internal reads run in every request (the session behind an access
 * token, the caller's teams): a primary-key or user-id lookup whose SPI
 * query spent most of its time planning checks, starting and ending an
 * executor and switching to the owner's rights and search_path around it.
 * These helpers read such rows with the scans PostgreSQL's own catalog code
 * uses (genam.c's systable scans), under the active snapshot.  Those queries
 * ran as the extension's owner, a superuser whom row-level security does not
 * restrict (spi_util.c), and run no user code, so reading the same rows
 * directly decides nothing differently.
 *
 * Tables and indexes stay locked until the end of the transaction, as a
 * query's would: a TRUNCATE or a rewrite between two reads of one
 * transaction must wait.
 * An index that is not valid (a failed CREATE INDEX CONCURRENTLY) is not
 * used: the scan reads the table instead, as the planner would.
 */
#include "taskmgmt.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "storage/lmgr.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

/* taskmgmt.<name>, a table or an index */
Oid
tm_internal_relation(const char *name)
{
	Oid			oid = get_relname_relid(name, get_namespace_oid("taskmgmt", false));

	if (!OidIsValid(oid))
		elog(ERROR, "relation taskmgmt.%s is missing", name);
	return oid;
}

/* taskmgmt.<name>, locked for reading until the end of the transaction */
Relation
tm_open_internal(const char *name)
{
	return table_open(tm_internal_relation(name), AccessShareLock);
}

/* the lock stays: see above */
void
tm_close_internal(Relation rel)
{
	table_close(rel, NoLock);
}

AttrNumber
tm_column_number(Relation rel, const char *name)
{
	AttrNumber	attnum = get_attnum(RelationGetRelid(rel), name);

	if (attnum == InvalidAttrNumber)
		elog(ERROR, "column %s of taskmgmt.%s is missing", name, RelationGetRelationName(rel));
	return attnum;
}

/*
 * The rows of heap whose bigint column equals value, under the active
 * snapshot, through index_oid (whose first column that is: the rows come in
 * its order) when it is valid, else by reading the table:
 * systable_getnext() them, then systable_endscan().
 */
SysScanDesc
tm_scan_by_int8(Relation heap, Oid index_oid, const char *column, int64 value)
{
	ScanKeyData key;
	bool		use_index = false;

	if (OidIsValid(index_oid))
	{
		/*
		 * Locked before its state is read (locking takes in pending
		 * invalidations), and so until the end of the transaction: the
		 * scan's own lock ends with it.
		 */
		LockRelationOid(index_oid, AccessShareLock);
		use_index = get_index_isvalid(index_oid);
	}
	/* a heap column number: systable_beginscan maps it onto the index's */
	ScanKeyInit(&key, tm_column_number(heap, column), BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(value));
	/* the scan keeps its own copy of the key */
	return systable_beginscan(heap, index_oid, use_index, GetActiveSnapshot(), 1, &key);
}

/*
 * The row of heap whose primary key, the bigint column id, is id, a copy in
 * the current memory context; NULL when the snapshot sees none.  (A primary
 * key index that is not valid is no primary key to the relcache: then the
 * table is read.)
 */
HeapTuple
tm_fetch_by_id(Relation heap, int64 id)
{
	SysScanDesc scan = tm_scan_by_int8(heap, RelationGetPrimaryKeyIndex(heap), "id", id);
	HeapTuple	tuple = systable_getnext(scan);

	if (HeapTupleIsValid(tuple))
		tuple = heap_copytuple(tuple);
	systable_endscan(scan);
	return tuple;
}

/* a snapshot as a non-read-only SPI query takes it; PopActiveSnapshot() it */
void
tm_push_fresh_snapshot(void)
{
	PushActiveSnapshot(GetTransactionSnapshot());
	CommandCounterIncrement();
	UpdateActiveSnapshotCommandId();
}
