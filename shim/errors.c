/*
 * errors.c: database errors -> HTTP problem+json (RFC 9457), as two tables.
 *
 * The SQLSTATE decides the status (doc/sql-api.md, "Errors"): the first rule below
 * whose state or class it matches; else the extension's own class, TMnnn,
 * is HTTP status nnn (as PostgREST reads PTnnn); else 500.
 *
 * The message is shown only when it was written for clients: the
 * extension marks those errors with SCHEMA NAME taskmgmt and no table or
 * type (PostgreSQL sets a schema only with the table or type an error is
 * about, in messages that may name tables, types or constraints), and
 * class TM is the extension's alone.  Any other message is replaced by the
 * rule's fixed text, and the caller logs 5xx with the request id.  A 500 or
 * 501 never shows its message: it means a bug or a missing function.
 */
#include "errors.h"

#include <stdio.h>
#include <string.h>

typedef struct status_info
{
	int			status;
	const char *title;
	const char *code;			/* for a TMnnn without a rule of its own */
	const char *generic;
} status_info;

static const status_info statuses[] = {
	{400, "Bad Request", "bad_request", "bad request"},
	{401, "Unauthorized", "unauthorized", "missing, invalid or expired credentials"},
	{403, "Forbidden", "forbidden", "not allowed"},
	{404, "Not Found", "not_found", "not found"},
	{405, "Method Not Allowed", "method_not_allowed", "method not allowed"},
	{409, "Conflict", "conflict", "conflict"},
	{412, "Precondition Failed", "precondition_failed", "precondition failed"},
	{413, "Content Too Large", "body_too_large", "the request body is too large"},
	{415, "Unsupported Media Type", "unsupported_media_type", "unsupported media type"},
	{422, "Unprocessable Content", "unprocessable_content", "unprocessable content"},
	{429, "Too Many Requests", "too_many_requests", "too many requests"},
	{431, "Request Header Fields Too Large", "header_too_large", "the request head is too large"},
	{500, "Internal Server Error", "internal_error", "internal error"},
	{501, "Not Implemented", "not_implemented", "not implemented"},
	{503, "Service Unavailable", "unavailable", "the service is unavailable"},
};

typedef struct rule
{
	const char *state;			/* a SQLSTATE (5 characters) or a class prefix */
	int			status;
	const char *code;
	const char *generic;		/* shown when the message is not for clients */
	int			retry_after;
} rule;

static const rule rules[] = {
	{"28000", 401, "unauthorized", "missing, invalid or expired credentials", 0},
	{"28P01", 401, "invalid_credentials", "wrong email or password", 0},
	{"TM429", 429, "too_many_attempts", "too many attempts", 60},
	/* a personal access token with the read scope tried to write */
	{"TM403", 403, "insufficient_scope", "this token may only read", 0},
	{"42501", 403, "forbidden", "not allowed", 0},
	{"P0002", 404, "not_found", "not found", 0},
	{"23505", 409, "conflict", "already exists", 0},
	{"TM412", 412, "version_mismatch", "the resource was changed by someone else", 0},
	{"TM422", 422, "validation_failed", "validation failed", 0},
	{"TM400", 400, "bad_parameter", "malformed parameter", 0},
	{"22", 400, "malformed_value", "a value in the request is malformed", 0},
	/* e.g. a JSON body nested too deeply for the parser's stack */
	{"54", 400, "too_complex", "the request is too large or too deeply nested", 0},
	{"42883", 501, "not_implemented", "this route is not available yet", 0},
	{"57014", 503, "timeout", "the request took too long", 1},
	{"08", 503, "unavailable", "the database is busy or unavailable", 1},
	{"57P0", 503, "unavailable", "the database is busy or unavailable", 1},
	{"53", 503, "unavailable", "the database is busy or unavailable", 1},
	{"40001", 503, "unavailable", "the database is busy or unavailable", 1},
	{"40P01", 503, "unavailable", "the database is busy or unavailable", 1},
	/* a write on a standby (a demoted primary): db.c reconnects */
	{"25006", 503, "unavailable", "the database is busy or unavailable", 1},
	{"25P03", 503, "unavailable", "the database is busy or unavailable", 1},
};

#define lengthof(a) ((int) (sizeof(a) / sizeof((a)[0])))

static const status_info *
status_find(int status)
{
	for (int i = 0; i < lengthof(statuses); i++)
		if (statuses[i].status == status)
			return &statuses[i];
	return NULL;
}

const char *
status_title(int status)
{
	const status_info *s = status_find(status);

	return s ? s->title : "Internal Server Error";
}

/* A whole SQLSTATE matches exactly; a class matches as a prefix. */
static int
state_matches(const char *state, const char *pattern)
{
	size_t		n = strlen(pattern);

	return strncmp(state, pattern, n) == 0 && (n < 5 || state[n] == '\0');
}

static int
is_tm_class(const char *state)
{
	return state != NULL && state[0] == 'T' && state[1] == 'M';
}

/* TMnnn: status nnn when the shim knows it as an error status; else 0. */
static int
tm_status(const char *state)
{
	int			n = 0;

	if (!is_tm_class(state))
		return 0;
	for (int i = 2; i < 5; i++)
	{
		if (state[i] < '0' || state[i] > '9')
			return 0;
		n = n * 10 + (state[i] - '0');
	}
	if (state[5] != '\0' || n < 400 || status_find(n) == NULL)
		return 0;
	return n;
}

static rule
rule_for(const char *state)
{
	const status_info *s;
	int			n;

	if (state == NULL)
		return (rule) {"", 503, "unavailable", "the database is unavailable", 1};
	for (int i = 0; i < lengthof(rules); i++)
		if (state_matches(state, rules[i].state))
			return rules[i];
	if ((n = tm_status(state)) != 0)
	{
		s = status_find(n);
		return (rule) {state, n, s->code, s->generic, n == 503};
	}
	return (rule) {"", 500, "internal_error", "internal error", 0};
}

int
error_for_client(const pg_error *e)
{
	if (is_tm_class(e->sqlstate))
		return 1;
	return e->schema != NULL && strcmp(e->schema, CLIENT_ERROR_SCHEMA) == 0 &&
		e->table == NULL && e->datatype == NULL;
}

/*
 * A syntax error in a text the client sent (the filter language, TM400)
 * says where and what was expected: its INTERNAL_POSITION is the character
 * position in that text (from 1; the text is the INTERNAL_QUERY, which psql
 * prints with a marker) and its DETAIL is "Expected <what>." (doc/sql-api.md,
 * "The filter language").  Both or neither: a DETAIL "Expected ..." alone
 * (TM412's "Expected version 3, ...") is no syntax error.  Only for a shown
 * error with a field; the position is a plain number, so nothing but digits
 * of it reaches the client.
 */
static void
syntax_error_at(const pg_error *e, problem *p)
{
	static const char prefix[] = "Expected ";
	long		pos = 0;
	size_t		n;
	const char *c;

	if (p->field == NULL || e->position == NULL || e->detail == NULL || e->position[0] == '\0')
		return;
	for (c = e->position; *c; c++)
	{
		if (*c < '0' || *c > '9' || pos > 100000000)
			return;
		pos = pos * 10 + (*c - '0');
	}
	n = strlen(e->detail);
	if (pos < 1 || strncmp(e->detail, prefix, sizeof(prefix) - 1) != 0 ||
		n <= sizeof(prefix) || e->detail[n - 1] != '.')
		return;
	p->position = (int) pos;
	p->expected = e->detail + sizeof(prefix) - 1;
	p->expected_len = (int) (n - sizeof(prefix));
}

problem
problem_of(const pg_error *e)
{
	rule		r = rule_for(e->sqlstate);
	int			shown = error_for_client(e) && e->message != NULL &&
		r.status != 500 && r.status != 501;
	problem		p = {r.status, r.code, shown ? e->message : r.generic, NULL, 0, NULL, 0,
	r.retry_after, r.status >= 500};
	int			n;

	/* DETAIL: "Try again in N seconds." */
	if (r.status == 429 && e->detail && sscanf(e->detail, "Try again in %d second", &n) == 1 && n > 0)
		p.retry_after = n;
	if ((r.status == 422 || r.status == 400) && shown && e->column && *e->column)
		p.field = e->column;
	syntax_error_at(e, &p);
	return p;
}
