/*
 * handler.c: one HTTP request -> one prepared statement -> one response.
 *
 * The request state lives in the request's memory pool with a dispose
 * callback: when h2o frees the request (response done, or the client went
 * away), the pending database call is abandoned, so a late result never
 * touches freed memory.
 */
#include "shim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CSV_HIGH_WATER (256 * 1024)

struct req_state
{
	h2o_req_t  *req;
	int			route;
	db_query   *q;
	h2o_timeout_entry_t timer;
	int			responded;
	struct timespec start;
	/* streamed CSV */
	h2o_generator_t gen;
	strbuf		pending;
	strbuf		inflight;
	int			sending;
	int			started;
	int			finished;
	int			failed;
	int			rows;
};

static h2o_timeout_t request_timeout;
static int	slow_inflight;
/*
 * Exports hold a database connection for as long as their client takes to
 * read them: at most half the pool may do so, so the API always has
 * connections left.
 */
static int	csv_inflight = 0;
static uint64_t rid_counter;
static uint32_t rid_prefix;

/* ---- helpers shared with ops.c and ws.c ---- */

static h2o_iovec_t
find_header(h2o_req_t *req, const char *name)
{
	ssize_t		i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);

	if (i < 0)
		return h2o_iovec_init(NULL, 0);
	return req->headers.entries[i].value;
}

const char *
request_id(h2o_req_t *req)
{
	ssize_t		i = h2o_find_header_by_str(&req->res.headers, H2O_STRLIT("x-request-id"), -1);

	return i < 0 ? "-" : req->res.headers.entries[i].value.base;
}

static void
assign_request_id(h2o_req_t *req)
{
	h2o_iovec_t given = find_header(req, "x-request-id");
	char		buf[40];
	int			ok = given.len > 0 && given.len <= 64;

	for (size_t i = 0; ok && i < given.len; i++)
	{
		char		c = given.base[i];

		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			c == '-' || c == '_' || c == '.';
	}
	if (!ok)
	{
		snprintf(buf, sizeof(buf), "%08x-%012llx", rid_prefix,
				 (unsigned long long) ++rid_counter);
		given = h2o_iovec_init(buf, strlen(buf));
	}
	/* NUL-terminated copy, so request_id() can return it as a C string */
	h2o_iovec_t copy = h2o_strdup(&req->pool, given.base, given.len);

	h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL,
						  copy.base, copy.len);
}

void
add_common_headers(h2o_req_t *req)
{
	h2o_iovec_t origin = find_header(req, "origin");

	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
	if (origin.len && origin_listed(origin.base, origin.len))
	{
		h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-origin"),
							  0, NULL, origin.base, origin.len);
		h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-expose-headers"),
							  0, NULL, H2O_STRLIT("ETag, Location, Retry-After, X-Request-Id"));
		h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("vary"), 0, NULL, H2O_STRLIT("Origin"));
	}
}

static double
elapsed_ms(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1e3 + (now.tv_nsec - start->tv_nsec) / 1e6;
}

static void
account(req_state *st, int status)
{
	const char *pattern = st->route >= 0 ? routes[st->route].pattern : "-";

	st->responded = 1;
	double		ms = elapsed_ms(&st->start);

	metrics_request(st->route, status, ms);
	log_access(st->req, pattern, status, ms);
}

static req_state *state_of(h2o_req_t *req);

void
send_json(h2o_req_t *req, int status, const char *body, size_t len)
{
	req_state  *st = state_of(req);

	if (st)
		account(st, status);
	req->res.status = status;
	req->res.reason = status_title(status);
	if (status == 200 || status == 201)
		req->res.reason = status == 200 ? "OK" : "Created";
	if (status == 204)
	{
		req->res.reason = "No Content";
		static h2o_generator_t none = {NULL, NULL};

		h2o_start_response(req, &none);
		h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
		return;
	}
	if (h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1) < 0)
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
					   H2O_STRLIT("application/json"));
	/* without a length h2o 2.2.5 answers chunked */
	req->res.content_length = len;
	h2o_send_inline(req, body, len);
}

void
send_problem(h2o_req_t *req, int status, const char *code, const char *detail,
			 const char *field, int retry_after)
{
	strbuf		b;
	char		num[16];

	sb_init(&b);
	sb_printf(&b, "{\"type\":\"about:blank\",\"title\":\"%s\",\"status\":%d,\"code\":",
			  status_title(status), status);
	sb_json_string(&b, code, strlen(code));
	sb_puts(&b, ",\"detail\":");
	sb_json_string(&b, detail, strlen(detail));
	if (field)
	{
		const char *m = detail;
		size_t		fl = strlen(field);

		/* "title must not be empty" -> field title, message "must not be empty" */
		if (strncmp(m, field, fl) == 0 && (m[fl] == ' ' || m[fl] == ':'))
			m += fl + 1;
		while (*m == ' ')
			m++;
		sb_puts(&b, ",\"errors\":[{\"field\":");
		sb_json_string(&b, field, fl);
		sb_puts(&b, ",\"message\":");
		sb_json_string(&b, m, strlen(m));
		sb_puts(&b, "}]");
	}
	sb_puts(&b, "}");
	if (retry_after > 0)
	{
		int			n = snprintf(num, sizeof(num), "%d", retry_after);
		h2o_iovec_t v = h2o_strdup(&req->pool, num, (size_t) n);

		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, v.base, v.len);
	}
	if (status == 401)
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
					   H2O_STRLIT("Bearer realm=\"taskmgmt\""));
	h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE,
				   H2O_STRLIT("application/problem+json"), 1);
	send_json(req, status, b.data, b.len);
	sb_free(&b);
}

/* ---- request state ---- */

static void
state_dispose(void *p)
{
	req_state  *st = p;

	if (st->q)
	{
		st->q->owner = NULL;
		db_abandon(st->q);
		st->q = NULL;
	}
	if (h2o_timeout_is_linked(&st->timer))
		h2o_timeout_unlink(&st->timer);
	sb_free(&st->pending);
	sb_free(&st->inflight);
}

/*
 * h2o 2.2.5 has no per-request user pointer: the state is found through a
 * request "env" entry.
 */
static req_state *
state_of(h2o_req_t *req)
{
	h2o_iovec_t *slot = h2o_req_getenv(req, H2O_STRLIT("shim.state"), 0);

	return slot && slot->len == sizeof(req_state *) ? *(req_state **) slot->base : NULL;
}

static req_state *
state_new(h2o_req_t *req)
{
	req_state  *st = h2o_mem_alloc_shared(&req->pool, sizeof(*st), state_dispose);
	h2o_iovec_t *slot;
	req_state **holder = h2o_mem_alloc_pool(&req->pool, sizeof(req_state *));

	memset(st, 0, sizeof(*st));
	st->req = req;
	st->route = -1;
	clock_gettime(CLOCK_MONOTONIC, &st->start);
	sb_init(&st->pending);
	sb_init(&st->inflight);
	*holder = st;
	slot = h2o_req_getenv(req, H2O_STRLIT("shim.state"), 1);
	*slot = h2o_iovec_init((char *) holder, sizeof(req_state *));
	return st;
}

/* ---- database results ---- */

static void
on_timeout(h2o_timeout_entry_t *e)
{
	req_state  *st = H2O_STRUCT_FROM_MEMBER(req_state, timer, e);

	if (st->q)
	{
		db_abandon(st->q);
		st->q = NULL;
	}
	if (!st->responded)
		send_problem(st->req, 503, "timeout", "the request took too long", NULL, 1);
}

/*
 * A paused export waits for its client to read; PostgreSQL's
 * statement_timeout does not fire while the backend waits on us, so a client
 * that stops reading would hold the connection for ever.  After
 * request_timeout_ms without progress the export is cut off.
 */
static void
on_csv_stall(h2o_timeout_entry_t *e)
{
	req_state  *st = H2O_STRUCT_FROM_MEMBER(req_state, timer, e);

	log_msg("request %s: export cut off: the client stopped reading", request_id(st->req));
	if (st->q)
	{
		db_abandon(st->q);
		st->q = NULL;
	}
	st->failed = 1;
	if (!st->sending)
		h2o_send(st->req, NULL, 0, H2O_SEND_STATE_ERROR);
}

static void
csv_flush(req_state *st)
{
	h2o_iovec_t buf;
	strbuf		tmp;

	if (st->sending || !st->started)
		return;
	if (st->pending.len == 0 && !st->finished)
		return;
	/* swap: h2o keeps reading the in-flight buffer until proceed() */
	tmp = st->inflight;
	st->inflight = st->pending;
	st->pending = tmp;
	sb_reset(&st->pending);
	buf = h2o_iovec_init(st->inflight.data, st->inflight.len);
	st->sending = 1;
	h2o_send(st->req, &buf, buf.len ? 1 : 0,
			 st->finished ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
	if (st->q && st->q->paused && st->pending.len < CSV_HIGH_WATER)
	{
		if (h2o_timeout_is_linked(&st->timer))
			h2o_timeout_unlink(&st->timer);
		db_resume(st->q);
	}
}

static void
csv_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
	req_state  *st = H2O_STRUCT_FROM_MEMBER(req_state, gen, gen);

	st->sending = 0;
	sb_reset(&st->inflight);
	if (st->failed)
	{
		h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
		return;
	}
	csv_flush(st);
}

static void
csv_stop(h2o_generator_t *gen, h2o_req_t *req)
{
	req_state  *st = H2O_STRUCT_FROM_MEMBER(req_state, gen, gen);

	if (st->q)
	{
		db_abandon(st->q);
		st->q = NULL;
	}
}

static void
csv_start(req_state *st)
{
	h2o_req_t  *req = st->req;

	st->started = 1;
	if (h2o_timeout_is_linked(&st->timer))
		h2o_timeout_unlink(&st->timer);
	account(st, 200);
	req->res.status = 200;
	req->res.reason = "OK";
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
				   H2O_STRLIT("text/csv; charset=utf-8"));
	h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("content-disposition"), 0, NULL,
						  H2O_STRLIT("attachment; filename=\"tasks.csv\""));
	st->gen.proceed = csv_proceed;
	st->gen.stop = csv_stop;
	h2o_start_response(req, &st->gen);
}

static void
on_row(db_query *q, PGresult *row)
{
	req_state  *st = q->owner;

	if (PQntuples(row) < 1 || PQnfields(row) < 1)
		return;
	/*
	 * The header row comes before the filter is checked: start the 200 only
	 * at the second row (or the end), so a bad filter still gets its 400.
	 */
	if (!st->started && ++st->rows >= 2)
		csv_start(st);
	if (!PQgetisnull(row, 0, 0))
	{
		const char *line = PQgetvalue(row, 0, 0);
		size_t		n = (size_t) PQgetlength(row, 0, 0);

		sb_append(&st->pending, line, n);
		/* RFC 4180 lines end with CRLF */
		if (n == 0 || line[n - 1] != '\n')
			sb_append(&st->pending, "\r\n", 2);
	}
	if (st->pending.len >= CSV_HIGH_WATER && !q->paused)
	{
		q->paused = 1;
		st->timer.cb = on_csv_stall;
		if (!h2o_timeout_is_linked(&st->timer))
			h2o_timeout_link(shim_loop, &request_timeout, &st->timer);
	}
	csv_flush(st);
}

static void
add_header_value(h2o_req_t *req, const h2o_token_t *token, const char *prefix,
				 const char *value, const char *suffix)
{
	size_t		n = strlen(prefix) + strlen(value) + strlen(suffix);
	char	   *p = h2o_mem_alloc_pool(&req->pool, n + 1);

	snprintf(p, n + 1, "%s%s%s", prefix, value, suffix);
	h2o_add_header(&req->pool, &req->res.headers, token, NULL, p, n);
}

static void
on_done(db_query *q, PGresult *res)
{
	req_state  *st = q->owner;
	h2o_req_t  *req = st->req;
	const route *r = &routes[st->route];
	int			col;

	st->q = NULL;
	if (h2o_timeout_is_linked(&st->timer))
		h2o_timeout_unlink(&st->timer);
	if (st->responded && !(r->flags & RF_CSV))
		return;
	if ((r->flags & RF_CSV) && !st->started && res && PQresultStatus(res) == PGRES_TUPLES_OK)
	{
		/* a header-only export: everything is still in pending */
		csv_start(st);
		st->finished = 1;
		csv_flush(st);
		return;
	}
	if (r->flags & RF_CSV && st->started)
	{
		if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			/* too late for a status: cut the stream so the client sees an error */
			log_msg("request %s: export aborted: %s", request_id(req),
					res ? PQresultErrorMessage(res) : "database connection lost");
			st->failed = 1;
			if (!st->sending)
				h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
			return;
		}
		st->finished = 1;
		csv_flush(st);
		return;
	}
	if (res == NULL)
	{
		send_problem(req, 503, "unavailable", "the database is unavailable", NULL, 1);
		return;
	}
	if (PQresultStatus(res) == PGRES_FATAL_ERROR)
	{
		problem_from_pg(req, res);
		return;
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		log_msg("request %s: unexpected result shape", request_id(req));
		send_problem(req, 500, "internal_error", "internal error", NULL, 0);
		return;
	}
	if (r->ops == OPS_READYZ)
	{
		send_json(req, 200, H2O_STRLIT("{\"status\":\"ready\"}"));
		return;
	}
	if ((r->flags & RF_LOCATION) && (col = PQfnumber(res, "id")) >= 0 && !PQgetisnull(res, 0, col))
		add_header_value(req, H2O_TOKEN_LOCATION, r->location, PQgetvalue(res, 0, col), "");
	if ((r->flags & RF_ETAG) && (col = PQfnumber(res, "version")) >= 0 && !PQgetisnull(res, 0, col))
		add_header_value(req, H2O_TOKEN_ETAG, "\"", PQgetvalue(res, 0, col), "\"");
	if (r->flags & RF_NO_CONTENT)
	{
		send_json(req, 204, NULL, 0);
		return;
	}
	col = PQfnumber(res, "body");
	if (col < 0 || PQgetisnull(res, 0, col))
	{
		send_problem(req, 404, "not_found", "not found", NULL, 0);
		return;
	}
	if (r->flags & RF_PDF)
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
					   H2O_STRLIT("application/pdf"));
	send_json(req, (r->flags & RF_CREATED) ? 201 : 200,
			  PQgetvalue(res, 0, col), (size_t) PQgetlength(res, 0, col));
}

/* ---- request parsing ---- */

/* "Bearer <token>": the token's characters per RFC 6750 (b64token). */
static int
bearer_token(h2o_req_t *req, h2o_iovec_t *token, int *present)
{
	ssize_t		i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
	h2o_iovec_t v;

	*present = i >= 0;
	if (i < 0)
		return 0;
	v = req->headers.entries[i].value;
	if (v.len < 8 || !h2o_lcstris(v.base, 7, H2O_STRLIT("bearer ")))
		return 0;
	token->base = v.base + 7;
	token->len = v.len - 7;
	while (token->len && token->base[0] == ' ')
		token->base++, token->len--;
	if (token->len == 0 || token->len > 4096)
		return 0;
	for (size_t k = 0; k < token->len; k++)
	{
		char		c = token->base[k];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '='))
			return 0;
	}
	return 1;
}

/* The media type of Content-Type, without parameters, lower-case compare. */
static int
content_type_is(h2o_req_t *req, const char *type)
{
	ssize_t		i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
	size_t		n = strlen(type);
	h2o_iovec_t v;

	if (i < 0)
		return 0;
	v = req->headers.entries[i].value;
	if (v.len < n || !h2o_lcstris(v.base, n, type, n))
		return 0;
	return v.len == n || v.base[n] == ';' || v.base[n] == ' ';
}

/* If-Match: "N", W/"N" or N; '*' means any version (NULL). */
static const char *
if_match_version(h2o_req_t *req, char *buf, size_t size)
{
	ssize_t		i = h2o_find_header(&req->headers, H2O_TOKEN_IF_MATCH, -1);
	h2o_iovec_t v;
	size_t		k = 0,
				n = 0;

	if (i < 0)
		return NULL;
	v = req->headers.entries[i].value;
	if (v.len == 1 && v.base[0] == '*')
		return NULL;
	if (v.len >= 2 && v.base[0] == 'W' && v.base[1] == '/')
		k = 2;
	if (k < v.len && v.base[k] == '"')
		k++;
	while (k < v.len && v.base[k] >= '0' && v.base[k] <= '9' && n < 9)
		buf[n++] = v.base[k++];
	if (k < v.len && v.base[k] == '"')
		k++;
	buf[n] = '\0';
	/* anything else can match no version: -1 gives 412 (or 404 if invisible) */
	if (n == 0 || k != v.len || n >= size)
		strcpy(buf, "-1");
	return buf;
}

static size_t
head_size(h2o_req_t *req)
{
	size_t		n = req->input.method.len + req->input.path.len + 16;

	for (size_t i = 0; i < req->headers.size; i++)
		n += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
	return n;
}

static void
send_preflight(h2o_req_t *req, const char *allow)
{
	h2o_iovec_t origin = find_header(req, "origin");

	if (origin.len && origin_listed(origin.base, origin.len))
	{
		h2o_iovec_t methods = h2o_strdup(&req->pool, allow, strlen(allow));

		h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-methods"),
							  0, NULL, methods.base, methods.len);
		h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-headers"),
							  0, NULL, H2O_STRLIT("Authorization, Content-Type, If-Match, X-Request-Id"));
		h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-max-age"),
							  0, NULL, H2O_STRLIT("600"));
	}
	send_json(req, 204, NULL, 0);
}

static int
on_req(h2o_handler_t *self, h2o_req_t *req)
{
	req_state  *st = state_new(req);
	route_match m;
	const route *r;
	size_t		path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
	const char *qs = req->query_at != SIZE_MAX ? req->path.base + req->query_at + 1 : "";
	size_t		qs_len = req->query_at != SIZE_MAX ? req->path.len - req->query_at - 1 : 0;
	query_params qp;
	h2o_iovec_t token = {NULL, 0};
	int			present;
	char		version[16];
	db_query   *q;

	assign_request_id(req);
	add_common_headers(req);
	if (framing_refused(req))
		return 0;
	if (head_size(req) > cfg.max_head)
	{
		send_problem(req, 431, "header_too_large", "the request head is too large", NULL, 0);
		return 0;
	}
	switch (route_find(req->method.base, req->method.len, req->path.base, path_len, &m))
	{
		case MATCH_NOT_FOUND:
			send_problem(req, 404, "not_found", "no such route", NULL, 0);
			return 0;
		case MATCH_BAD_METHOD:
			if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("OPTIONS")))
			{
				send_preflight(req, m.allow);
				return 0;
			}
			{
				h2o_iovec_t allow = h2o_strdup(&req->pool, m.allow, strlen(m.allow));

				h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, allow.base, allow.len);
			}
			send_problem(req, 405, "method_not_allowed", "method not allowed on this route", NULL, 0);
			return 0;
		case MATCH_OK:
			break;
	}
	st->route = m.route;
	r = &routes[m.route];
	if (r->ops == OPS_WEBSOCKET)
	{
		int			rc = ws_handle(req);

		if (!st->responded)
			account(st, 101);
		return rc;
	}
	if (r->ops != OPS_NONE && r->ops != OPS_READYZ)
		return ops_handle(req, r);

	query_params_init(&qp);
	if (query_parse(r->query, qs, qs_len, &qp) < 0)
	{
		char		detail[160];

		snprintf(detail, sizeof(detail), "%s %s", qp.bad_param, qp.bad_reason);
		send_problem(req, 400, "bad_parameter", detail, qp.bad_param, 0);
		query_params_free(&qp);
		return 0;
	}
	if ((r->flags & RF_AUTH) && !bearer_token(req, &token, &present))
	{
		send_problem(req, 401, "unauthorized",
					 present ? "the Authorization header is not a bearer token"
					 : "an Authorization: Bearer token is required", NULL, 0);
		query_params_free(&qp);
		return 0;
	}
	if (req->entity.base && req->entity.len > cfg.max_body)
	{
		send_problem(req, 413, "body_too_large", "the request body is too large", NULL, 0);
		query_params_free(&qp);
		return 0;
	}
	if (r->flags & (RF_BODY | RF_BODY_FORM))
	{
		int			is_form = (r->flags & RF_BODY_FORM) &&
			content_type_is(req, "application/x-www-form-urlencoded");

		if (!is_form && !content_type_is(req, "application/json"))
		{
			send_problem(req, 415, "unsupported_media_type",
						 (r->flags & RF_BODY_FORM)
						 ? "the body must be application/json or application/x-www-form-urlencoded"
						 : "the body must be application/json", NULL, 0);
			query_params_free(&qp);
			return 0;
		}
		if (req->entity.base == NULL || req->entity.len == 0)
		{
			send_problem(req, 400, "body_required", "a request body is required", NULL, 0);
			query_params_free(&qp);
			return 0;
		}
		/* libpq text parameters end at NUL: refuse rather than truncate */
		if (!utf8_valid(req->entity.base, req->entity.len))
		{
			send_problem(req, 400, "malformed_body", "the body is not valid UTF-8 text", NULL, 0);
			query_params_free(&qp);
			return 0;
		}
		if (is_form && form_to_json(req->entity.base, req->entity.len, &qp) < 0)
		{
			char		detail[160];

			snprintf(detail, sizeof(detail), "%s %s", qp.bad_param, qp.bad_reason);
			send_problem(req, 400, "malformed_body", detail, qp.bad_param, 0);
			query_params_free(&qp);
			return 0;
		}
		if (is_form)
		{
			/* the form's JSON replaces the body below */
			req->entity = h2o_strdup(&req->pool, qp.filter.data, qp.filter.len);
		}
	}
	if (r->flags & RF_SLOW)
	{
		if (slow_inflight >= cfg.slow_cap)
		{
			send_problem(req, 503, "busy", "too many sign-in requests at once, try again shortly", NULL, 1);
			query_params_free(&qp);
			return 0;
		}
	}
	if ((r->flags & RF_CSV) && csv_inflight >= (cfg.pool_size > 1 ? cfg.pool_size / 2 : 1))
	{
		send_problem(req, 503, "busy", "too many exports at once, try again shortly", NULL, 1);
		query_params_free(&qp);
		return 0;
	}

	q = db_query_new(m.route);
	/*
	 * The cap counts bcrypt calls in the database, so it is released when the
	 * query ends, not when the client goes away.
	 */
	if (r->flags & RF_SLOW)
	{
		slow_inflight++;
		q->counter = &slow_inflight;
	}
	else if (r->flags & RF_CSV)
	{
		csv_inflight++;
		q->counter = &csv_inflight;
	}
	if (r->flags & RF_AUTH)
		db_query_param(q, token.base, token.len);
	for (int i = 0; i < m.n_ids; i++)
		db_query_param(q, m.ids[i], strlen(m.ids[i]));
	if (r->flags & (RF_BODY | RF_BODY_FORM))
		db_query_param(q, req->entity.base, req->entity.len);
	switch (r->query)
	{
		case Q_NONE:
			break;
		case Q_FILTER:
			db_query_param(q, qp.filter.data, qp.filter.len);
			break;
		case Q_USERS:
			db_query_param(q, qp.has_q ? qp.q.data : NULL, qp.q.len);
			db_query_param(q, qp.has_limit ? qp.limit.data : NULL, qp.limit.len);
			break;
		case Q_SEARCH:
			db_query_param(q, qp.has_q ? qp.q.data : NULL, qp.q.len);
			db_query_param(q, qp.filter.data, qp.filter.len);
			break;
	}
	if (r->flags & RF_IF_MATCH)
	{
		const char *v = if_match_version(req, version, sizeof(version));

		db_query_param(q, v, v ? strlen(v) : 0);
	}
	query_params_free(&qp);
	q->binary_result = (r->flags & RF_PDF) != 0;
	q->single_row = (r->flags & RF_CSV) != 0;
	q->on_row = on_row;
	q->on_done = on_done;
	q->owner = st;
	st->q = q;
	st->timer.cb = on_timeout;
	if (db_submit(q) < 0)
	{
		st->q = NULL;
		send_problem(req, 503, "unavailable", "the database is unavailable", NULL, 1);
		return 0;
	}
	if (!st->responded && st->q)
		h2o_timeout_link(shim_loop, &request_timeout, &st->timer);
	return 0;
}

void
handler_register(h2o_globalconf_t *conf, h2o_loop_t *loop)
{
	h2o_hostconf_t *host = h2o_config_register_host(conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
	h2o_handler_t *h = h2o_create_handler(path, sizeof(*h));
	struct timespec ts;

	h->on_req = on_req;
	h2o_timeout_init(loop, &request_timeout, (uint64_t) cfg.request_timeout_ms);
	clock_gettime(CLOCK_REALTIME, &ts);
	rid_prefix = (uint32_t) (ts.tv_nsec ^ ts.tv_sec ^ (getpid() << 16));
}
