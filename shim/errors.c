/*
 * errors.c: database errors -> HTTP problem+json (RFC 9457).
 *
 * The SQLSTATE decides the status (doc/sql-api.md, "Errors").  Messages written for
 * clients (RAISE in the extension's PL/pgSQL, the extension's own C code,
 * SQLSTATEs of class TM) are passed on; anything PostgreSQL itself says may
 * name tables, types or constraints, so it is replaced by a fixed text and
 * only logged with the request id.
 */
#include "shim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *
status_title(int status)
{
	switch (status)
	{
		case 400: return "Bad Request";
		case 401: return "Unauthorized";
		case 403: return "Forbidden";
		case 404: return "Not Found";
		case 405: return "Method Not Allowed";
		case 409: return "Conflict";
		case 412: return "Precondition Failed";
		case 413: return "Content Too Large";
		case 415: return "Unsupported Media Type";
		case 422: return "Unprocessable Content";
		case 429: return "Too Many Requests";
		case 431: return "Request Header Fields Too Large";
		case 501: return "Not Implemented";
		case 503: return "Service Unavailable";
		default: return "Internal Server Error";
	}
}

/* Source files whose messages are meant for clients. */
static int
client_facing(const PGresult *res)
{
	static const char *const files[] = {
		"pl_exec.c", "auth.c", "identity.c", "jwt.c", "taskmgmt.c", "spi_util.c",
		"autonomous.c", "base64url.c", NULL
	};
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *file = PQresultErrorField(res, PG_DIAG_SOURCE_FILE);

	if (state && strncmp(state, "TM", 2) == 0)
		return 1;
	if (file == NULL)
		return 0;
	for (int i = 0; files[i]; i++)
		if (strcmp(file, files[i]) == 0)
			return 1;
	return 0;
}

typedef struct mapping
{
	int			status;
	const char *code;
	const char *generic;
	int			retry_after;
} mapping;

static mapping
map_sqlstate(const char *s)
{
	if (s == NULL)
		return (mapping) {503, "unavailable", "the database is unavailable", 1};
	if (!strcmp(s, "28000"))
		return (mapping) {401, "unauthorized", "missing, invalid or expired credentials", 0};
	if (!strcmp(s, "28P01"))
		return (mapping) {401, "invalid_credentials", "wrong email or password", 0};
	if (!strcmp(s, "TM429"))
		return (mapping) {429, "too_many_attempts", "too many attempts", 60};
	if (!strcmp(s, "42501"))
		return (mapping) {403, "forbidden", "not allowed", 0};
	if (!strcmp(s, "P0002"))
		return (mapping) {404, "not_found", "not found", 0};
	if (!strcmp(s, "23505"))
		return (mapping) {409, "conflict", "already exists", 0};
	if (!strcmp(s, "TM412"))
		return (mapping) {412, "version_mismatch", "the resource was changed by someone else", 0};
	if (!strcmp(s, "TM422"))
		return (mapping) {422, "validation_failed", "validation failed", 0};
	if (!strcmp(s, "TM400"))
		return (mapping) {400, "bad_parameter", "malformed parameter", 0};
	if (!strncmp(s, "22", 2))
		return (mapping) {400, "malformed_value", "a value in the request is malformed", 0};
	/* e.g. a JSON body nested too deeply for the parser's stack */
	if (!strncmp(s, "54", 2))
		return (mapping) {400, "too_complex", "the request is too large or too deeply nested", 0};
	if (!strcmp(s, "42883"))
		return (mapping) {501, "not_implemented", "this route is not available yet", 0};
	if (!strcmp(s, "57014"))
		return (mapping) {503, "timeout", "the request took too long", 1};
	if (!strncmp(s, "08", 2) || !strncmp(s, "57P0", 4) || !strncmp(s, "53", 2) ||
		!strcmp(s, "40001") || !strcmp(s, "40P01") || !strcmp(s, "25P03"))
		return (mapping) {503, "unavailable", "the database is busy or unavailable", 1};
	return (mapping) {500, "internal_error", "internal error", 0};
}

void
problem_from_pg(h2o_req_t *req, const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *column = PQresultErrorField(res, PG_DIAG_COLUMN_NAME);
	mapping		m = map_sqlstate(state);
	int			safe = client_facing(res) && msg != NULL && m.status != 500 && m.status != 501;
	const char *detail = safe ? msg : m.generic;
	const char *field = NULL;

	if (m.status >= 500)
		log_msg("request %s: database error %s: %s", request_id(req),
				state ? state : "-", msg ? msg : "-");
	if (m.status == 429)
	{
		/* DETAIL: "Try again in N seconds." */
		const char *d = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
		int			n;

		if (d && sscanf(d, "Try again in %d second", &n) == 1 && n > 0)
			m.retry_after = n;
	}
	if ((m.status == 422 || m.status == 400) && safe && column && *column)
		field = column;
	send_problem(req, m.status, m.code, detail, field, m.retry_after);
}
