/*
 * auth.c
 *	  Registration, password sign-in, refresh-token rotation, sign-out and
 *	  password change.
 *
 * Passwords are hashed with pgcrypto's bcrypt.  An unknown email costs the
 * same bcrypt as a wrong password, and both answer with the same error.
 * Every attempt is counted before its bcrypt, per normalised email (known
 * or not, so the counter reveals nothing) and client address, in a write
 * that survives the statement (autonomous.c, _login_attempt() in
 * 20_identity.sql); a right password takes its count back.
 *
 * The errors raised here keep the statement out of the server log
 * (errhidestmt): its text may hold a password or a token.
 */
#include "taskmgmt.h"

#include <ctype.h>
#include <time.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#define PASSWORD_MIN_BYTES 12
#define PASSWORD_MAX_BYTES 72	/* bcrypt ignores the rest: refuse, never truncate */
#define EMAIL_MAX_BYTES 254
#define DISPLAY_NAME_MAX_CHARS 100
#define REFRESH_TOKEN_BYTES 32

/*
 * Every function here writes (a session, a refresh token, a failure count),
 * so on a hot standby, or in a read-only transaction, it refuses at once
 * with 25006: before the bcrypt, and before a failed password could start
 * an autonomous write that cannot happen there (a standby would then let
 * anyone guess passwords without ever being locked out).  Verifying an
 * access token (authenticate) only reads, and works on a standby.
 */
static void
require_writable(const char *function)
{
	PreventCommandIfReadOnly(function);
}

static void
invalid_field(const char *field, const char *message)
{
	ereport(ERROR,
			(errcode(ERRCODE_TM_VALIDATION),
			 errhidestmt(true),
			 tm_errclient(),
			 errmsg("%s %s", field, message),
			 err_generic_string(PG_DIAG_COLUMN_NAME, field)));
}

static char *
trim_copy(const char *s)
{
	const char *end;

	while (*s && isspace((unsigned char) *s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char) end[-1]))
		end--;
	return pnstrdup(s, end - s);
}

/*
 * The email as the unique index sees it: SQL lower(), not ASCII folding, or
 * an address with non-ASCII letters could register but never sign in.
 * Runs in the caller's SPI session.
 */
static char *
normalized_email(const char *email)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(email)};

	if (SPI_execute_with_args("SELECT pg_catalog.lower($1)", 1, types, args, NULL, true, 1)
		!= SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "email normalisation failed");
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/* A pragmatic address check: one @, sane local part, dotted domain. */
static bool
email_is_valid(const char *email)
{
	const char *at = strchr(email, '@');
	const char *p;
	size_t		len = strlen(email);
	const char *domain;

	if (len < 3 || len > EMAIL_MAX_BYTES || at == NULL || at == email ||
		strchr(at + 1, '@') != NULL || at - email > 64)
		return false;
	for (p = email; *p; p++)
		if ((unsigned char) *p <= ' ' || *p == '"' || *p == '(' || *p == ')' ||
			*p == ',' || *p == ':' || *p == ';' || *p == '<' || *p == '>' ||
			*p == '[' || *p == ']' || *p == '\\' || (unsigned char) *p == 0x7f)
			return false;
	domain = at + 1;
	if (strchr(domain, '.') == NULL || domain[0] == '.' || domain[0] == '-' ||
		email[len - 1] == '.' || strstr(domain, "..") != NULL)
		return false;
	return true;
}

static void
check_password_rules(const char *field, const char *password)
{
	size_t		len = strlen(password);

	if (len < PASSWORD_MIN_BYTES || len > PASSWORD_MAX_BYTES)
		invalid_field(field, "must be 12 to 72 bytes long");
}

static char *
hash_password(const char *password)
{
	const char *cr = tm_pgcrypto_schema();
	char	   *sql = psprintf("SELECT %s.crypt($1, %s.gen_salt('bf', $2))",
							   quote_identifier(cr), quote_identifier(cr));
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		args[2] = {CStringGetTextDatum(password), Int32GetDatum(tm_bcrypt_cost)};

	if (SPI_execute_with_args(sql, 2, types, args, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "password hashing failed");
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

static bool
password_matches(const char *password, const char *hash)
{
	const char *cr = tm_pgcrypto_schema();
	char	   *sql = psprintf("SELECT %s.crypt($1, $2) = $2", quote_identifier(cr));
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		args[2] = {CStringGetTextDatum(password), CStringGetTextDatum(hash)};
	bool		isnull;

	if (SPI_execute_with_args(sql, 2, types, args, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "password check failed");
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* A well-formed bcrypt setting at the configured cost, for unknown emails. */
static char *
dummy_hash(void)
{
	return psprintf("$2a$%02d$taskmgmtdummysaltvaluexxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
					tm_bcrypt_cost);
}

/* Is this "$2a$NN$..." hash at the configured bcrypt cost? */
static bool
bcrypt_cost_is_current(const char *hash)
{
	char		cost[3];

	snprintf(cost, sizeof(cost), "%02d", tm_bcrypt_cost);
	return strlen(hash) > 7 && strncmp(hash, "$2", 2) == 0 && hash[3] == '$' &&
		strncmp(hash + 4, cost, 2) == 0 && hash[6] == '$';
}

/* Runs one query as part of the caller's SPI session; errors are internal. */
static void
spi_exec(const char *sql, int nargs, Oid *types, Datum *args, int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, args, NULL, false, 0);

	if (rc != expected)
		elog(ERROR, "internal query failed: %s", SPI_result_code_string(rc));
}

static int64
spi_int64(int row, int col)
{
	bool		isnull;

	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull));
}

static char *
new_refresh_token(int64 session_id)
{
	unsigned char raw[REFRESH_TOKEN_BYTES];
	unsigned char hash[32];
	char	   *token;
	Oid			types[3] = {BYTEAOID, INT8OID, INT4OID};
	Datum		args[3];
	bytea	   *h = palloc(VARHDRSZ + 32);

	tm_random_bytes(raw, sizeof(raw));
	token = tm_base64url_encode(raw, sizeof(raw));
	tm_sha256((unsigned char *) token, strlen(token), hash);
	SET_VARSIZE(h, VARHDRSZ + 32);
	memcpy(VARDATA(h), hash, 32);
	args[0] = PointerGetDatum(h);
	args[1] = Int64GetDatum(session_id);
	args[2] = Int32GetDatum(tm_refresh_token_ttl);
	spi_exec("INSERT INTO taskmgmt.refresh_tokens (token_hash, session_id, expires_at) "
			 "VALUES ($1, $2, now() + make_interval(secs => $3))",
			 3, types, args, SPI_OK_INSERT);
	return token;
}

static char *
new_access_token(int64 user_id, int64 session_id)
{
	TmJwtClaims claims;
	bool		isnull;
	bytea	   *secret;

	if (SPI_execute("SELECT secret FROM taskmgmt.signing_keys", true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("taskmgmt has no signing key"),
				 errhint("A superuser can create one with taskmgmt.rotate_signing_key().")));
	secret = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	claims.sub = user_id;
	claims.sid = session_id;
	claims.iat = (int64) time(NULL);
	claims.exp = claims.iat + tm_access_token_ttl;
	return tm_jwt_sign(&claims, (unsigned char *) VARDATA_ANY(secret), VARSIZE_ANY_EXHDR(secret));
}

/* {access_token, token_type, expires_in, refresh_token, user_id} as jsonb */
static Datum
token_response(MemoryContext target, const char *access, const char *refresh, int64 user_id)
{
	MemoryContext old = MemoryContextSwitchTo(target);
	char	   *json = psprintf("{\"access_token\": \"%s\", \"token_type\": \"bearer\", "
								"\"expires_in\": %d, \"refresh_token\": \"%s\", "
								"\"user_id\": " INT64_FORMAT "}",
								access, tm_access_token_ttl, refresh, user_id);
	Datum		result = DirectFunctionCall1(jsonb_in, CStringGetDatum(json));

	MemoryContextSwitchTo(old);
	return result;
}

static Datum
user_json(MemoryContext target, int64 user_id)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(user_id)};
	bool		isnull;
	Datum		d;

	if (SPI_execute_with_args("SELECT taskmgmt.user_json(u) FROM taskmgmt.users u WHERE u.id = $1",
							  1, types, args, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "registered user not found");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return SPI_datumTransfer(d, false, -1);		/* into the upper executor context */
}

/* register(email, password, display_name) -> user */
PG_FUNCTION_INFO_V1(tm_register);
Datum
tm_register(PG_FUNCTION_ARGS)
{
	char	   *email;
	char	   *password;
	char	   *display_name;
	char	   *hash;
	TmOwnerContext ctx;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		args[2];
	int64		user_id;
	Datum		result;

	require_writable("register()");
	if (PG_ARGISNULL(0))
		invalid_field("email", "is required");
	if (PG_ARGISNULL(1))
		invalid_field("password", "is required");
	email = trim_copy(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	password = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (!email_is_valid(email))
		invalid_field("email", "is not a valid email address");
	check_password_rules("password", password);

	if (PG_NARGS() > 2 && !PG_ARGISNULL(2))
		display_name = trim_copy(text_to_cstring(PG_GETARG_TEXT_PP(2)));
	else
		display_name = pnstrdup(email, strchr(email, '@') - email);
	if (display_name[0] == '\0')
		invalid_field("display_name", "must not be empty");
	if (pg_mbstrlen(display_name) > DISPLAY_NAME_MAX_CHARS)
		invalid_field("display_name", "must be at most 100 characters");

	tm_spi_begin_as_owner(&ctx);
	hash = hash_password(password);

	/* ON CONFLICT waits for a concurrent registration of the same address */
	args[0] = CStringGetTextDatum(email);
	args[1] = CStringGetTextDatum(display_name);
	spi_exec("INSERT INTO taskmgmt.users (email, display_name) VALUES ($1, $2) "
			 "ON CONFLICT ((lower(email))) DO NOTHING RETURNING id",
			 2, types, args, SPI_OK_INSERT_RETURNING);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errhidestmt(true),
				 tm_errclient(),
				 errmsg("email is already registered"),
				 err_generic_string(PG_DIAG_COLUMN_NAME, "email")));
	user_id = spi_int64(0, 1);
	{
		Oid			t2[2] = {INT8OID, TEXTOID};
		Datum		a2[2] = {Int64GetDatum(user_id), CStringGetTextDatum(hash)};

		spi_exec("INSERT INTO taskmgmt.credentials (user_id, password_hash) VALUES ($1, $2)",
				 2, t2, a2, SPI_OK_INSERT);
	}
	result = user_json(CurrentMemoryContext, user_id);
	tm_spi_end_as_owner(&ctx);
	PG_RETURN_DATUM(result);
}

/*
 * The client address an attempt is counted against: the one the caller
 * passes (the HTTP shim passes its peer's), else the connection's; "local"
 * for a Unix socket.  IPv6 addresses count by /64, what one host usually
 * gets (IPv4-mapped ones by themselves).  Runs in the caller's SPI session.
 */
static char *
client_key(FunctionCallInfo fcinfo)
{
	Oid			types[1] = {INETOID};
	Datum		args[1] = {(Datum) 0};
	char		nulls[1] = {'n'};
	char	   *key;

	if (PG_NARGS() > 2 && !PG_ARGISNULL(2))
	{
		args[0] = PG_GETARG_DATUM(2);
		nulls[0] = ' ';
	}
	if (SPI_execute_with_args("SELECT CASE WHEN a IS NULL THEN 'local' "
							  "WHEN family(a) = 6 AND NOT a <<= '::ffff:0.0.0.0/96' "
							  "THEN network(set_masklen(a, 64))::text "
							  "ELSE host(a) END FROM (SELECT coalesce($1, inet_client_addr()) AS a) s",
							  1, types, args, nulls, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "client address lookup failed");
	key = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (strlen(key) >= TM_LOGIN_CLIENT_LEN)
		key[TM_LOGIN_CLIENT_LEN - 1] = '\0';
	return key;
}

/*
 * Does the schema count attempts per client address (0.2.0 on)?  Between
 * installing this library and ALTER EXTENSION taskmgmt UPDATE, a database
 * still has 0.1.0's counter, per email only: sign-in keeps 0.1.0's rules
 * there (a lockout per email, failures recorded after the bcrypt).
 */
static bool
throttle_per_client(void)
{
	bool		isnull;

	if (SPI_execute("SELECT pg_catalog.to_regprocedure('taskmgmt._login_success(bytea,text)') IS NOT NULL",
					true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "catalog lookup failed");
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* 0.1.0's lockout check: seconds to wait, or 0 */
static int
legacy_lockout_wait(const unsigned char email_key[32])
{
	bytea	   *key = palloc(VARHDRSZ + 32);
	Oid			types[1] = {BYTEAOID};
	Datum		args[1];
	bool		isnull;

	SET_VARSIZE(key, VARHDRSZ + 32);
	memcpy(VARDATA(key), email_key, 32);
	args[0] = PointerGetDatum(key);
	if (SPI_execute_with_args("SELECT ceil(extract(epoch FROM locked_until - now()))::int "
							  "FROM taskmgmt.login_failures "
							  "WHERE email_key = $1 AND locked_until > now()",
							  1, types, args, NULL, true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
		return Max(DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, 1, &isnull)), 1);
	return 0;
}

/*
 * Verifies email and password; on success opens a session and returns the
 * token pair.  Shared by sign_in() (which also signs this connection in) and
 * password_grant() (which does not: that is the one the HTTP shim uses).
 */
static Datum
password_sign_in(FunctionCallInfo fcinfo, bool sign_in_connection)
{
	MemoryContext caller = CurrentMemoryContext;
	char	   *email;
	char	   *password;
	char	   *email_norm;
	unsigned char email_key[32];
	char	   *client = NULL;
	bool		per_client;
	int			wait;
	TmOwnerContext ctx;
	bool		isnull;
	bool		found = false;
	bool		disabled = false;
	bool		is_admin = false;
	int64		user_id = 0;
	int64		session_id;
	char	   *stored_hash = NULL;
	char	   *access;
	char	   *refresh;
	Datum		result;

	require_writable(sign_in_connection ? "sign_in()" : "password_grant()");
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PASSWORD),
				 errhidestmt(true),
				 tm_errclient(),
				 errmsg("invalid email or password")));
	email = trim_copy(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	password = text_to_cstring(PG_GETARG_TEXT_PP(1));

	tm_spi_begin_as_owner(&ctx);
	email_norm = normalized_email(email);
	tm_sha256((unsigned char *) email_norm, strlen(email_norm), email_key);

	/*
	 * Count the attempt before spending a bcrypt on it, in a transaction of
	 * its own, so that parallel attempts see each other; one that must wait,
	 * or that cannot be counted, gets no bcrypt.
	 */
	per_client = throttle_per_client();
	if (per_client)
	{
		client = client_key(fcinfo);
		wait = tm_autonomous_login_attempt(email_key, client);
	}
	else
		wait = legacy_lockout_wait(email_key);
	if (wait < 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errhidestmt(true),
				 tm_errclient(),
				 errmsg("sign-in is busy, try again in a moment"),
				 errdetail("The attempt could not be recorded."),
				 errhint("Raise max_worker_processes if this persists.")));
	if (wait > 0)
		ereport(ERROR,
				(errcode(ERRCODE_TM_TOO_MANY_ATTEMPTS),
				 errhidestmt(true),
				 tm_errclient(),
				 errmsg("too many failed sign-in attempts"),
				 errdetail("Try again in %d seconds.", wait)));

	{
		Oid			types[1] = {TEXTOID};
		Datum		args[1] = {CStringGetTextDatum(email_norm)};

		if (SPI_execute_with_args("SELECT u.id, u.disabled, u.role = 'admin', c.password_hash "
								  "FROM taskmgmt.users u JOIN taskmgmt.credentials c ON c.user_id = u.id "
								  "WHERE lower(u.email) = $1",
								  1, types, args, NULL, true, 1) == SPI_OK_SELECT &&
			SPI_processed == 1)
		{
			HeapTuple	row = SPI_tuptable->vals[0];
			TupleDesc	desc = SPI_tuptable->tupdesc;

			found = true;
			user_id = DatumGetInt64(SPI_getbinval(row, desc, 1, &isnull));
			disabled = DatumGetBool(SPI_getbinval(row, desc, 2, &isnull));
			is_admin = DatumGetBool(SPI_getbinval(row, desc, 3, &isnull));
			stored_hash = SPI_getvalue(row, desc, 4);
		}
	}

	/*
	 * Always one bcrypt, whether or not the account exists.  bcrypt only
	 * reads 72 bytes, so a longer password would match on its prefix: no
	 * stored password is that long, so it is simply wrong.
	 */
	if (!password_matches(password, found ? stored_hash : dummy_hash()) || !found || disabled ||
		strlen(password) > PASSWORD_MAX_BYTES)
	{
		/* the failure was counted before the bcrypt (0.1.0: only now) */
		tm_spi_end_as_owner(&ctx);
		if (!per_client)
			tm_autonomous_legacy_login_failure(email_key);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PASSWORD),
				 errhidestmt(true),
				 tm_errclient(),
				 errmsg("invalid email or password")));
	}

	/*
	 * A hash made at another cost (before taskmgmt.bcrypt_cost changed) is
	 * redone at the configured one, so that signing in to any account costs
	 * the same as the dummy hash of an unknown email.
	 */
	if (!bcrypt_cost_is_current(stored_hash))
	{
		Oid			types[2] = {INT8OID, TEXTOID};
		Datum		args[2] = {Int64GetDatum(user_id),
		CStringGetTextDatum(hash_password(password))};

		spi_exec("UPDATE taskmgmt.credentials SET password_hash = $2, updated_at = now() "
				 "WHERE user_id = $1", 2, types, args, SPI_OK_UPDATE);
	}

	/*
	 * The attempt counted for a right password is taken back, durably: also
	 * if the caller's transaction is rolled back later (the password was
	 * right all the same).  Best effort: a count left behind only slows.
	 */
	if (per_client)
		tm_autonomous_login_success(email_key, client);
	else
	{
		bytea	   *key = palloc(VARHDRSZ + 32);
		Oid			types[1] = {BYTEAOID};
		Datum		args[1] = {PointerGetDatum(key)};

		SET_VARSIZE(key, VARHDRSZ + 32);
		memcpy(VARDATA(key), email_key, 32);
		spi_exec("DELETE FROM taskmgmt.login_failures WHERE email_key = $1",
				 1, types, args, SPI_OK_DELETE);
	}
	{
		Oid			types[2] = {INT8OID, INT4OID};
		Datum		args[2] = {Int64GetDatum(user_id), Int32GetDatum(tm_refresh_token_ttl)};

		spi_exec("INSERT INTO taskmgmt.sessions (user_id, expires_at) "
				 "VALUES ($1, now() + make_interval(secs => $2)) RETURNING id",
				 2, types, args, SPI_OK_INSERT_RETURNING);
		session_id = spi_int64(0, 1);
	}
	refresh = new_refresh_token(session_id);
	access = new_access_token(user_id, session_id);
	result = token_response(caller, access, refresh, user_id);
	tm_spi_end_as_owner(&ctx);

	if (sign_in_connection)
		tm_identity_set_session(user_id, session_id, is_admin);
	PG_RETURN_DATUM(result);
}

PG_FUNCTION_INFO_V1(tm_sign_in);
Datum
tm_sign_in(PG_FUNCTION_ARGS)
{
	return password_sign_in(fcinfo, true);
}

PG_FUNCTION_INFO_V1(tm_password_grant);
Datum
tm_password_grant(PG_FUNCTION_ARGS)
{
	return password_sign_in(fcinfo, false);
}

/*
 * refresh(refresh_token) -> new token pair
 *
 * Rotation: the presented token is marked used and a new one issued for the
 * same session.  Presenting a token that was already rotated means it was
 * copied: the whole session is revoked (in a write that outlives the error).
 */
PG_FUNCTION_INFO_V1(tm_refresh);
Datum
tm_refresh(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	char	   *token;
	unsigned char hash[32];
	bytea	   *h;
	TmOwnerContext ctx;
	Oid			types[1] = {BYTEAOID};
	Datum		args[1];
	bool		isnull;
	int64		session_id;
	int64		user_id;
	bool		rotated;
	bool		usable;
	char	   *access;
	char	   *refresh;
	Datum		result;

	require_writable("refresh()");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errhidestmt(true),
				 tm_errclient(),
				 errmsg("invalid refresh token")));
	token = text_to_cstring(PG_GETARG_TEXT_PP(0));
	tm_sha256((unsigned char *) token, strlen(token), hash);
	h = palloc(VARHDRSZ + 32);
	SET_VARSIZE(h, VARHDRSZ + 32);
	memcpy(VARDATA(h), hash, 32);
	args[0] = PointerGetDatum(h);

	tm_spi_begin_as_owner(&ctx);
	/* lock only the token row: the revocation worker must not wait on us */
	spi_exec("SELECT rt.session_id, s.user_id, rt.rotated_at IS NOT NULL, "
			 "  rt.expires_at > now() AND s.revoked_at IS NULL AND s.expires_at > now() "
			 "  AND NOT u.disabled "
			 "FROM taskmgmt.refresh_tokens rt "
			 "JOIN taskmgmt.sessions s ON s.id = rt.session_id "
			 "JOIN taskmgmt.users u ON u.id = s.user_id "
			 "WHERE rt.token_hash = $1 FOR UPDATE OF rt",
			 1, types, args, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errhidestmt(true),
				 tm_errclient(),
				 errmsg("invalid refresh token")));
	session_id = spi_int64(0, 1);
	user_id = spi_int64(0, 2);
	rotated = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	usable = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull));

	if (rotated)
	{
		tm_spi_end_as_owner(&ctx);
		tm_autonomous_revoke_session(session_id);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errhidestmt(true),
				 tm_errclient(),
				 errmsg("invalid refresh token"),
				 errdetail("The token was already used; the session has been ended.")));
	}
	if (!usable)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errhidestmt(true),
				 tm_errclient(),
				 errmsg("invalid refresh token")));

	spi_exec("UPDATE taskmgmt.refresh_tokens SET rotated_at = now() WHERE token_hash = $1",
			 1, types, args, SPI_OK_UPDATE);
	refresh = new_refresh_token(session_id);
	access = new_access_token(user_id, session_id);
	result = token_response(caller, access, refresh, user_id);
	tm_spi_end_as_owner(&ctx);
	PG_RETURN_DATUM(result);
}

static int64
require_session(void)
{
	int64		sid = tm_identity_session_id();

	if (sid == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errhidestmt(true),
				 tm_errclient(),
				 errmsg("not signed in"),
				 errhint("Call taskmgmt.sign_in(email, password) or taskmgmt.authenticate(token) first.")));
	return sid;
}

static void
revoke_sessions(const char *where, int64 id, const char *reason)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		args[2] = {Int64GetDatum(id), CStringGetTextDatum(reason)};
	char	   *sql = psprintf("UPDATE taskmgmt.sessions SET revoked_at = now(), revoke_reason = $2 "
							   "WHERE %s AND revoked_at IS NULL", where);

	spi_exec(sql, 2, types, args, SPI_OK_UPDATE);
}

/* sign_out(): ends the current session everywhere, its access tokens too */
PG_FUNCTION_INFO_V1(tm_sign_out);
Datum
tm_sign_out(PG_FUNCTION_ARGS)
{
	int64		sid = require_session();
	TmOwnerContext ctx;

	require_writable("sign_out()");
	tm_spi_begin_as_owner(&ctx);
	revoke_sessions("id = $1", sid, "sign out");
	tm_spi_end_as_owner(&ctx);
	tm_identity_sign_out();
	PG_RETURN_VOID();
}

/* change_password(current, new): other sessions of the user are ended */
PG_FUNCTION_INFO_V1(tm_change_password);
Datum
tm_change_password(PG_FUNCTION_ARGS)
{
	int64		sid = require_session();
	char	   *current;
	char	   *new_password;
	char	   *hash;
	TmOwnerContext ctx;
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		args[2];
	int64		user_id;

	require_writable("change_password()");
	if (PG_ARGISNULL(0))
		invalid_field("current_password", "is required");
	if (PG_ARGISNULL(1))
		invalid_field("new_password", "is required");
	current = text_to_cstring(PG_GETARG_TEXT_PP(0));
	new_password = text_to_cstring(PG_GETARG_TEXT_PP(1));
	check_password_rules("new_password", new_password);

	tm_spi_begin_as_owner(&ctx);
	args[0] = Int64GetDatum(sid);
	spi_exec("SELECT s.user_id, c.password_hash FROM taskmgmt.sessions s "
			 "JOIN taskmgmt.credentials c ON c.user_id = s.user_id WHERE s.id = $1",
			 1, types, args, SPI_OK_SELECT);
	if (SPI_processed != 1)
		elog(ERROR, "session has no credentials");
	user_id = spi_int64(0, 1);
	if (!password_matches(current, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2)) ||
		strlen(current) > PASSWORD_MAX_BYTES)	/* see password_sign_in() */
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PASSWORD),
				 errhidestmt(true),
				 tm_errclient(),
				 errmsg("current password is wrong"),
				 err_generic_string(PG_DIAG_COLUMN_NAME, "current_password")));
	hash = hash_password(new_password);
	args[0] = Int64GetDatum(user_id);
	args[1] = CStringGetTextDatum(hash);
	spi_exec("UPDATE taskmgmt.credentials SET password_hash = $2, updated_at = now() "
			 "WHERE user_id = $1", 2, types, args, SPI_OK_UPDATE);
	args[0] = Int64GetDatum(sid);
	revoke_sessions(psprintf("user_id = " INT64_FORMAT " AND id <> $1", user_id),
					sid, "password changed");
	tm_tokens_revoke_user(user_id);
	tm_spi_end_as_owner(&ctx);
	PG_RETURN_VOID();
}

/* rotate_signing_key(): a new random HS256 key; every access token dies */
PG_FUNCTION_INFO_V1(tm_rotate_signing_key);
Datum
tm_rotate_signing_key(PG_FUNCTION_ARGS)
{
	unsigned char raw[32];
	bytea	   *secret = palloc(VARHDRSZ + sizeof(raw));
	TmOwnerContext ctx;
	Oid			types[1] = {BYTEAOID};
	Datum		args[1];

	require_writable("rotate_signing_key()");
	tm_random_bytes(raw, sizeof(raw));
	SET_VARSIZE(secret, VARHDRSZ + sizeof(raw));
	memcpy(VARDATA(secret), raw, sizeof(raw));
	args[0] = PointerGetDatum(secret);

	tm_spi_begin_as_owner(&ctx);
	spi_exec("INSERT INTO taskmgmt.signing_keys (id, secret) VALUES (1, $1) "
			 "ON CONFLICT (id) DO UPDATE SET secret = EXCLUDED.secret, created_at = now()",
			 1, types, args, SPI_OK_INSERT);
	tm_spi_end_as_owner(&ctx);
	PG_RETURN_VOID();
}
