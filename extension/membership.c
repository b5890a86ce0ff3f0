/*
 * membership.c
 *	  The signed-in user's team ids (all, led, owned), read once per snapshot.
 *
 * my_team_ids() & co. appear in the row-level security policies of tasks,
 * teams and team_members, in the assignment rules and in the list filter, so
 * one API call asks for them many times.  As SQL functions each call was
 * parsed, planned and run again (a security-definer SQL function is never
 * inlined and its plan lives only for one call of the outer query).  Here
 * one index scan of team_members (direct_read.c) reads all three sets, and
 * the answer is kept for as long as that scan would give it again: same
 * transaction, same user, and a snapshot that sees exactly what the one it
 * was read under saw (same xmin, xmax, transactions in progress and command
 * id).  A commit anywhere, a
 * change to team_members in this transaction (it moves the command id), a
 * rolled-back subtransaction, a new identity or the end of the transaction
 * all mean reading again, so the policies see what they always saw.
 */
#include "taskmgmt.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

typedef enum TeamSet
{
	TEAMS_ALL = 0,
	TEAMS_LED,
	TEAMS_OWNED,
	TEAM_SETS
} TeamSet;

typedef struct MembershipCache
{
	bool		valid;
	LocalTransactionId lxid;
	int64		user_id;
	/* the snapshot it was read under: what decides which rows it saw */
	TransactionId xmin;
	TransactionId xmax;
	uint32		xcnt;
	TransactionId *xip;			/* TopMemoryContext */
	int32		subxcnt;
	TransactionId *subxip;		/* TopMemoryContext */
	bool		suboverflowed;
	bool		during_recovery;
	CommandId	curcid;
	ArrayType  *sets[TEAM_SETS];	/* in TopMemoryContext */
} MembershipCache;

static MembershipCache cache;

void
tm_membership_invalidate(void)
{
	int			i;

	for (i = 0; i < TEAM_SETS; i++)
	{
		if (cache.sets[i] != NULL)
			pfree(cache.sets[i]);
		cache.sets[i] = NULL;
	}
	if (cache.xip != NULL)
		pfree(cache.xip);
	if (cache.subxip != NULL)
		pfree(cache.subxip);
	cache.xip = cache.subxip = NULL;
	cache.valid = false;
}

static void
membership_xact_callback(XactEvent event, void *arg)
{
	tm_membership_invalidate();
}

static void
membership_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							SubTransactionId parentSubid, void *arg)
{
	/* rows the subtransaction wrote become invisible without a new command id */
	if (event == SUBXACT_EVENT_ABORT_SUB)
		tm_membership_invalidate();
}

void
tm_membership_register(void)
{
	RegisterXactCallback(membership_xact_callback, NULL);
	RegisterSubXactCallback(membership_subxact_callback, NULL);
}

/* Does this snapshot see exactly what the cached answer's snapshot saw? */
static bool
cache_matches(int64 user_id, Snapshot snap)
{
	if (!cache.valid || snap == NULL || snap->snapshot_type != SNAPSHOT_MVCC ||
		cache.lxid != MyProc->lxid || cache.user_id != user_id)
		return false;
	if (cache.xmin != snap->xmin || cache.xmax != snap->xmax || cache.curcid != snap->curcid ||
		cache.xcnt != snap->xcnt || cache.subxcnt != snap->subxcnt ||
		cache.suboverflowed != snap->suboverflowed ||
		cache.during_recovery != snap->takenDuringRecovery)
		return false;
	/* the same transactions in progress (in the same order: one array copied) */
	if (snap->xcnt > 0 && memcmp(cache.xip, snap->xip, sizeof(TransactionId) * snap->xcnt) != 0)
		return false;
	if (snap->subxcnt > 0 &&
		memcmp(cache.subxip, snap->subxip, sizeof(TransactionId) * snap->subxcnt) != 0)
		return false;
	return true;
}

static TransactionId *
copy_xids(TransactionId *xids, int n)
{
	TransactionId *copy;

	if (n <= 0)
		return NULL;
	copy = MemoryContextAlloc(TopMemoryContext, sizeof(TransactionId) * n);
	memcpy(copy, xids, sizeof(TransactionId) * n);
	return copy;
}

static ArrayType *
empty_int8_array(void)
{
	return construct_empty_array(INT8OID);
}

static int
compare_int64_datums(const void *a, const void *b)
{
	int64		x = DatumGetInt64(*(const Datum *) a);
	int64		y = DatumGetInt64(*(const Datum *) b);

	return (x > y) - (x < y);
}

static void
load_membership(int64 user_id, Snapshot snap)
{
	Relation	members;
	SysScanDesc scan;
	HeapTuple	tuple;
	TupleDesc	desc;
	AttrNumber	team_att;
	AttrNumber	role_att;
	Datum	   *ids[TEAM_SETS];
	int			n[TEAM_SETS] = {0, 0, 0};
	int			space = 8;
	ArrayType  *sets[TEAM_SETS];
	int			i;

	/*
	 * Under the caller's snapshot, as the STABLE SQL functions these replace
	 * did; without one, under a fresh one.
	 */
	if (snap != NULL)
		PushActiveSnapshot(snap);
	else
		tm_push_fresh_snapshot();
	for (i = 0; i < TEAM_SETS; i++)
		ids[i] = palloc(sizeof(Datum) * space);
	members = tm_open_internal("team_members");
	desc = RelationGetDescr(members);
	team_att = tm_column_number(members, "team_id");
	role_att = tm_column_number(members, "role");
	/* (user_id, team_id) */
	scan = tm_scan_by_int8(members, tm_internal_relation("team_members_user_id_idx"),
						   "user_id", user_id);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		bool		isnull;
		int64		team = DatumGetInt64(heap_getattr(tuple, team_att, desc, &isnull));
		/* team_role, an enum */
		char	   *role = DatumGetCString(DirectFunctionCall1(enum_out,
															   heap_getattr(tuple, role_att, desc,
																			&isnull)));
		bool		in[TEAM_SETS];

		in[TEAMS_ALL] = true;
		in[TEAMS_OWNED] = strcmp(role, "owner") == 0;
		in[TEAMS_LED] = in[TEAMS_OWNED] || strcmp(role, "lead") == 0;
		pfree(role);
		if (n[TEAMS_ALL] == space)
		{
			space *= 2;
			for (i = 0; i < TEAM_SETS; i++)
				ids[i] = repalloc(ids[i], sizeof(Datum) * space);
		}
		for (i = 0; i < TEAM_SETS; i++)
			if (in[i])
				ids[i][n[i]++] = Int64GetDatum(team);
	}
	systable_endscan(scan);
	tm_close_internal(members);
	PopActiveSnapshot();

	for (i = 0; i < TEAM_SETS; i++)
	{
		ArrayType  *a;

		/* in id order even when the table was read instead of the index */
		qsort(ids[i], n[i], sizeof(Datum), compare_int64_datums);
		a = construct_array(ids[i], n[i], INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
							TYPALIGN_DOUBLE);

		sets[i] = (ArrayType *) MemoryContextAlloc(TopMemoryContext, VARSIZE(a));
		memcpy(sets[i], a, VARSIZE(a));
		pfree(a);
		pfree(ids[i]);
	}

	tm_membership_invalidate();
	for (i = 0; i < TEAM_SETS; i++)
		cache.sets[i] = sets[i];
	if (snap != NULL && snap->snapshot_type == SNAPSHOT_MVCC)
	{
		cache.lxid = MyProc->lxid;
		cache.user_id = user_id;
		cache.xmin = snap->xmin;
		cache.xmax = snap->xmax;
		cache.xcnt = snap->xcnt;
		cache.xip = copy_xids(snap->xip, snap->xcnt);
		cache.subxcnt = snap->subxcnt;
		cache.subxip = copy_xids(snap->subxip, snap->subxcnt);
		cache.suboverflowed = snap->suboverflowed;
		cache.during_recovery = snap->takenDuringRecovery;
		cache.curcid = snap->curcid;
		cache.valid = true;
	}
}

static Datum
team_set(FunctionCallInfo fcinfo, TeamSet which)
{
	int64		user_id;
	Snapshot	snap;
	ArrayType  *a;
	ArrayType  *copy;

	if (!tm_identity_current(&user_id, NULL))
		PG_RETURN_ARRAYTYPE_P(empty_int8_array());
	snap = ActiveSnapshotSet() ? GetActiveSnapshot() : NULL;
	if (!cache_matches(user_id, snap))
		load_membership(user_id, snap);
	a = cache.sets[which];
	copy = (ArrayType *) palloc(VARSIZE(a));
	memcpy(copy, a, VARSIZE(a));
	if (!cache.valid)
		tm_membership_invalidate();
	PG_RETURN_ARRAYTYPE_P(copy);
}

/* taskmgmt.my_team_ids() RETURNS bigint[]: teams the signed-in user is in */
PG_FUNCTION_INFO_V1(tm_my_team_ids);
Datum
tm_my_team_ids(PG_FUNCTION_ARGS)
{
	return team_set(fcinfo, TEAMS_ALL);
}

/* taskmgmt.my_led_team_ids(): teams the signed-in user leads or owns */
PG_FUNCTION_INFO_V1(tm_my_led_team_ids);
Datum
tm_my_led_team_ids(PG_FUNCTION_ARGS)
{
	return team_set(fcinfo, TEAMS_LED);
}

/* taskmgmt.my_owned_team_ids(): teams the signed-in user owns */
PG_FUNCTION_INFO_V1(tm_my_owned_team_ids);
Datum
tm_my_owned_team_ids(PG_FUNCTION_ARGS)
{
	return team_set(fcinfo, TEAMS_OWNED);
}

/*
 * Visibility keys: the users and teams through which a task is visible, as
 * one bigint array, so that a GIN index can hold them next to the search
 * vector and a search can find "matches the words AND visible to me" in one
 * index scan.  Users are their ids; teams are ~id (bitwise not: negative,
 * never equal to a user id, and no overflow for any bigint).
 */
static ArrayType *
int8_array(Datum *keys, int n)
{
	return construct_array(keys, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

/*
 * taskmgmt._visibility_keys(creator_id, assignee_user_id, assignee_team_id,
 * team_id) RETURNS bigint[]: the keys of one task (NULLs left out).  Marked
 * LEAKPROOF, so that a condition on it may be an index condition ahead of
 * row-level security: it cannot fail whatever the values.
 */
PG_FUNCTION_INFO_V1(tm_visibility_keys);
Datum
tm_visibility_keys(PG_FUNCTION_ARGS)
{
	Datum		keys[4];
	int			n = 0;
	int			i;

	for (i = 0; i < 4; i++)
	{
		int64		v;

		if (PG_ARGISNULL(i))
			continue;
		v = PG_GETARG_INT64(i);
		keys[n++] = Int64GetDatum(i < 2 ? v : ~v);
	}
	PG_RETURN_ARRAYTYPE_P(int8_array(keys, n));
}

/*
 * taskmgmt._my_visibility_keys() RETURNS bigint[]: the keys a task must
 * share with the signed-in user to be visible to them (not counting the
 * admin rule): their id and ~id of each of their teams.
 */
PG_FUNCTION_INFO_V1(tm_my_visibility_keys);
Datum
tm_my_visibility_keys(PG_FUNCTION_ARGS)
{
	int64		user_id;
	ArrayType  *teams;
	Datum	   *team_ids;
	int			n;
	Datum	   *keys;
	int			i;

	if (!tm_identity_current(&user_id, NULL))
		PG_RETURN_ARRAYTYPE_P(empty_int8_array());
	teams = DatumGetArrayTypeP(team_set(fcinfo, TEAMS_ALL));
	deconstruct_array(teams, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &team_ids, NULL, &n);
	keys = palloc(sizeof(Datum) * (n + 1));
	keys[0] = Int64GetDatum(user_id);
	for (i = 0; i < n; i++)
		keys[i + 1] = Int64GetDatum(~DatumGetInt64(team_ids[i]));
	PG_RETURN_ARRAYTYPE_P(int8_array(keys, n + 1));
}
