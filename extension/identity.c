/*
 * identity.c
 *	  Who is signed in, kept in backend memory where no SQL can reach it.
 *
 * Two slots: the session identity, set by sign_in() and kept until
 * sign_out() or the end of the connection, and the transaction identity, set
 * by authenticate(token) and cleared when the transaction ends, so a pooled
 * connection never carries one request's user into the next.  There is no
 * setting behind either: SET and set_config() cannot touch them.
 *
 * A session identity is re-validated once per transaction (session not
 * revoked or expired, user not disabled), so sign_out() elsewhere and an
 * admin disabling the account take effect at once.
 */
#include "taskmgmt.h"

#include <time.h>

#include "access/xact.h"
#include "fmgr.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

typedef struct TmIdentity
{
	bool		valid;
	int64		user_id;
	int64		session_id;
	bool		is_admin;
	int64		token_id;		/* a personal access token's id, else 0 */
	bool		read_only;		/* that token has only the read scope */
} TmIdentity;

static TmIdentity session_identity;
static TmIdentity xact_identity;
static LocalTransactionId session_checked_lxid = InvalidLocalTransactionId;

/*
 * taskmgmt.connection_signed_in: a hidden, superuser-only flag that is on
 * while sign_in() has signed the connection in.  It carries no identity
 * (turning it on does nothing); it is there so that the GUC machinery tells
 * us when the connection's state is reset: RESET ALL and DISCARD ALL (what
 * connection pools run between clients) and the rollback of the
 * (sub)transaction that signed in all turn it off, and that signs out.
 */
#define SIGNED_IN_GUC "taskmgmt.connection_signed_in"
static bool signed_in_flag = false;

static void
signed_in_assign(bool newval, void *extra)
{
	if (!newval)
		tm_identity_clear_all();
}

static void
set_signed_in_flag(bool on)
{
	/* internal: callers may not SET it, but sign_in() may */
	(void) set_config_option(SIGNED_IN_GUC, on ? "on" : "off",
							 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SET,
							 true, 0, false);
}

void
tm_identity_set_session(int64 user_id, int64 session_id, bool is_admin)
{
	session_identity.valid = true;
	session_identity.user_id = user_id;
	session_identity.session_id = session_id;
	session_identity.is_admin = is_admin;
	session_checked_lxid = MyProc->lxid;
	memset(&xact_identity, 0, sizeof(xact_identity));
	set_signed_in_flag(true);
}

/* sign_out(): both identities go, and the flag with them */
void
tm_identity_sign_out(void)
{
	set_signed_in_flag(false);
	tm_identity_clear_all();
}

void
tm_identity_clear_all(void)
{
	memset(&session_identity, 0, sizeof(session_identity));
	memset(&xact_identity, 0, sizeof(xact_identity));
	session_checked_lxid = InvalidLocalTransactionId;
}

static void
identity_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			memset(&xact_identity, 0, sizeof(xact_identity));
			break;
		default:
			break;
	}
}

/* From _PG_init: the transaction callback and the signed-in flag. */
void
tm_identity_xact_callback_register(void)
{
	RegisterXactCallback(identity_xact_callback, NULL);
	DefineCustomBoolVariable(SIGNED_IN_GUC,
							 "Whether sign_in() has signed this connection in (internal).",
							 "Turning it off (RESET ALL, DISCARD ALL) signs the connection out; "
							 "turning it on does nothing.",
							 &signed_in_flag, false, PGC_SUSET,
							 GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE |
							 GUC_SUPERUSER_ONLY,
							 NULL, signed_in_assign, NULL);
}

/* Once per transaction: is the signed-in psql session still good? */
static void
recheck_session_identity(void)
{
	bool		is_admin;
	bool		live;

	/*
	 * Under the statement's snapshot, read-only: this runs inside any query
	 * that asks who is signed in, parallel ones included, where a fresh
	 * snapshot's command counter increment is an error.
	 */
	PushActiveSnapshot(ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot());
	live = tm_session_live(session_identity.session_id, session_identity.user_id, &is_admin);
	PopActiveSnapshot();
	if (live)
	{
		session_identity.is_admin = is_admin;
		session_checked_lxid = MyProc->lxid;
	}
	else
		tm_identity_clear_all();
}

static const TmIdentity *
current_identity(void)
{
	if (xact_identity.valid)
		return &xact_identity;
	if (session_identity.valid)
	{
		if (session_checked_lxid != MyProc->lxid)
			recheck_session_identity();
		if (session_identity.valid)
			return &session_identity;
	}
	return NULL;
}

/*
 * Signs in until the end of the transaction with a personal access token
 * (tokens.c has verified it).  No SPI here: the scope check runs in an
 * executor hook.
 */
void
tm_identity_set_token(int64 user_id, int64 token_id, bool is_admin, bool read_only)
{
	xact_identity.valid = true;
	xact_identity.user_id = user_id;
	xact_identity.session_id = 0;
	xact_identity.is_admin = is_admin;
	xact_identity.token_id = token_id;
	xact_identity.read_only = read_only;
}

/* The token of this transaction's identity (0: none); no SPI, no recheck. */
int64
tm_identity_token_id(void)
{
	return xact_identity.valid ? xact_identity.token_id : 0;
}

bool
tm_identity_read_only(void)
{
	return xact_identity.valid && xact_identity.read_only;
}

/* The signed-in user for C callers: false when nobody is signed in. */
bool
tm_identity_current(int64 *user_id, bool *is_admin)
{
	const TmIdentity *id = current_identity();

	if (id == NULL)
		return false;
	if (user_id)
		*user_id = id->user_id;
	if (is_admin)
		*is_admin = id->is_admin;
	return true;
}

int64
tm_identity_session_id(void)
{
	const TmIdentity *id = current_identity();

	return id ? id->session_id : 0;
}

PG_FUNCTION_INFO_V1(tm_current_user_id);
Datum
tm_current_user_id(PG_FUNCTION_ARGS)
{
	const TmIdentity *id = current_identity();

	if (id == NULL)
		PG_RETURN_NULL();
	PG_RETURN_INT64(id->user_id);
}

PG_FUNCTION_INFO_V1(tm_current_user_is_admin);
Datum
tm_current_user_is_admin(PG_FUNCTION_ARGS)
{
	const TmIdentity *id = current_identity();

	PG_RETURN_BOOL(id != NULL && id->is_admin);
}

/*
 * _identity_kind() -> 'token' when the identity comes from an access token
 * for this transaction (authenticate()), 'session' when from sign_in(),
 * NULL when nobody is signed in.  It says how the caller signed in, which
 * no setting of the client's (application_name...) can change.
 */
PG_FUNCTION_INFO_V1(tm_identity_kind);
Datum
tm_identity_kind(PG_FUNCTION_ARGS)
{
	const TmIdentity *id = current_identity();

	if (id == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(id == &xact_identity ? "token" : "session"));
}

/*
 * authenticate(access_token) -> user id
 *
 * Verifies the token and, in the same statement, that its session is still
 * live; signs in until the end of the current transaction.  Its errors keep
 * the statement, which holds the token, out of the server log.
 */
PG_FUNCTION_INFO_V1(tm_authenticate);
Datum
tm_authenticate(PG_FUNCTION_ARGS)
{
	char	   *token;
	TmJwtClaims claims;
	int64		now = (int64) time(NULL);
	bytea	   *secret;
	bool		session_ok = false;
	bool		signature_ok = false;
	bool		is_admin = false;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errhidestmt(true),
				 tm_errclient(),
				 errmsg("access token required")));
	token = text_to_cstring(PG_GETARG_TEXT_PP(0));
	/* a new sign-in replaces this transaction's; none is left if it fails */
	memset(&xact_identity, 0, sizeof(xact_identity));
	if (tm_token_is_personal(token))
		PG_RETURN_INT64(tm_token_authenticate(token));

	/* leeway arithmetic on "now", never on claims: they may be near INT64 limits */
	if (!tm_jwt_decode(token, &claims) || claims.iat > now + 30)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errhidestmt(true),
				 tm_errclient(),
				 errmsg("invalid access token")));

	/* one fresh snapshot: a sign-out earlier in this very statement counts */
	tm_push_fresh_snapshot();
	session_ok = tm_session_live(claims.sid, claims.sub, &is_admin);
	secret = tm_signing_key();
	PopActiveSnapshot();
	if (secret != NULL)
	{
		signature_ok = tm_jwt_signature_ok(token, (unsigned char *) VARDATA_ANY(secret),
										   VARSIZE_ANY_EXHDR(secret));
		explicit_bzero(VARDATA(secret), VARSIZE(secret) - VARHDRSZ);
		pfree(secret);
	}

	if (!signature_ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errhidestmt(true),
				 tm_errclient(),
				 errmsg("invalid access token")));
	if (claims.exp < now - 30)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errhidestmt(true),
				 tm_errclient(),
				 errmsg("access token expired")));
	if (!session_ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errhidestmt(true),
				 tm_errclient(),
				 errmsg("session has ended"),
				 errhint("Sign in again.")));

	xact_identity.valid = true;
	xact_identity.user_id = claims.sub;
	xact_identity.session_id = claims.sid;
	xact_identity.is_admin = is_admin;
	xact_identity.token_id = 0;
	xact_identity.read_only = false;
	PG_RETURN_INT64(claims.sub);
}
