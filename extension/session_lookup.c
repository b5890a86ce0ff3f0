/*
 * session_lookup.c
 *	  What authenticate() needs to know about a token, by primary key.
 *
 * Every HTTP request authenticates: it needs the signing key, whether the
 * token's session is still live and whether its user is an admin.  As one
 * SPI query (three primary-key lookups, joined) over half of that went into
 * planning checks, starting and ending an executor and switching to the
 * owner's rights and search_path around it, not into the lookups.  Here the
 * three rows are fetched directly (direct_read.c); the answers are the
 * query's:
 *
 *   SELECT k.secret,
 *          coalesce(s.revoked_at IS NULL AND s.expires_at > now()
 *                   AND NOT u.disabled, false),
 *          coalesce(u.role = 'admin', false)
 *   FROM signing_keys k
 *   LEFT JOIN sessions s ON s.id = $sid AND s.user_id = $uid
 *   LEFT JOIN users u ON u.id = s.user_id
 *
 * Both read under the active snapshot, which the caller chooses:
 * authenticate() a fresh one (so a sign-out earlier in the same statement
 * counts), the once-per-transaction check of a sign_in() session the
 * statement's.
 */
#include "taskmgmt.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

/* The signing key, a copy in the current memory context (NULL: none). */
bytea *
tm_signing_key(void)
{
	Relation	keys = tm_open_internal("signing_keys");
	SysScanDesc scan;
	HeapTuple	tuple;
	bytea	   *secret = NULL;

	/* the one key (CHECK (id = 1)) */
	scan = systable_beginscan(keys, InvalidOid, false, GetActiveSnapshot(), 0, NULL);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, tm_column_number(keys, "secret"),
									 RelationGetDescr(keys), &isnull);

		if (!isnull)
			secret = DatumGetByteaPCopy(d);
	}
	systable_endscan(scan);
	tm_close_internal(keys);
	return secret;
}

/*
 * Is session session_id of user user_id live (not revoked, not expired, its
 * user not disabled)?  Then *is_admin says whether that user is an admin.
 */
bool
tm_session_live(int64 session_id, int64 user_id, bool *is_admin)
{
	Relation	sessions = tm_open_internal("sessions");
	HeapTuple	session = tm_fetch_by_id(sessions, session_id);
	HeapTuple	user = NULL;
	Relation	users;
	bool		live = false;

	*is_admin = false;
	if (session != NULL)
	{
		TupleDesc	desc = RelationGetDescr(sessions);
		bool		owner_null;
		bool		expires_null;
		bool		revoked_null;
		Datum		owner = heap_getattr(session, tm_column_number(sessions, "user_id"), desc,
										 &owner_null);
		Datum		expires_at = heap_getattr(session, tm_column_number(sessions, "expires_at"),
											  desc, &expires_null);

		(void) heap_getattr(session, tm_column_number(sessions, "revoked_at"), desc,
							&revoked_null);
		/* now(): the transaction's start */
		live = !owner_null && DatumGetInt64(owner) == user_id && revoked_null &&
			!expires_null &&
			DatumGetTimestampTz(expires_at) > GetCurrentTransactionStartTimestamp();
		heap_freetuple(session);
	}
	tm_close_internal(sessions);
	if (!live)
		return false;

	users = tm_open_internal("users");
	user = tm_fetch_by_id(users, user_id);
	if (user != NULL)
	{
		TupleDesc	desc = RelationGetDescr(users);
		bool		disabled_null;
		bool		role_null;
		Datum		disabled = heap_getattr(user, tm_column_number(users, "disabled"), desc,
											&disabled_null);
		Datum		role = heap_getattr(user, tm_column_number(users, "role"), desc, &role_null);

		live = !disabled_null && !DatumGetBool(disabled);
		if (live && !role_null)
		{
			text	   *role_text = DatumGetTextPP(role);

			*is_admin = VARSIZE_ANY_EXHDR(role_text) == 5 &&
				memcmp(VARDATA_ANY(role_text), "admin", 5) == 0;
		}
		heap_freetuple(user);
	}
	else
		live = false;
	tm_close_internal(users);
	return live;
}
