/*
 * handler.c: one HTTP request -> one prepared statement -> one response.
 *
 * on_req checks the request (head, route, method, query string, token,
 * body): whatever is wrong there is the client's and is answered before
 * the database is asked; it then binds the request to the route's
 * statement parameters and submits the statement.  Responses are written
 * through response.c; exports stream through stream.c.
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

static h2o_timeout_t request_timeout;

/* ---- request state ---- */

static void
state_dispose(void *p)
{
	req_state  *st = p;

	req_abandon(st);
	if (h2o_timeout_is_linked(&st->timer))
		h2o_timeout_unlink(&st->timer);
}

static req_state *
state_new(h2o_req_t *req, int route)
{
	req_state  *st = h2o_mem_alloc_shared(&req->pool, sizeof(*st), state_dispose);

	memset(st, 0, sizeof(*st));
	st->req = req;
	st->route = route;
	return st;
}

/* ---- database results ---- */

static void
on_timeout(h2o_timeout_entry_t *e)
{
	req_state  *st = H2O_STRUCT_FROM_MEMBER(req_state, timer, e);

	req_abandon(st);
	if (!response_started(st->req))
		send_problem(st->req, 503, "timeout", "the request took too long", NULL, 1);
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

/* A column of the one row as a header, when it is not NULL. */
static void
column_header(h2o_req_t *req, const PGresult *res, const char *column, const h2o_token_t *token)
{
	int			col = PQfnumber(res, column);

	if (col >= 0 && !PQgetisnull(res, 0, col))
		add_header_value(req, token, "", PQgetvalue(res, 0, col), "");
}

/*
 * A CalDAV answer: the database chose the status, the headers and the body
 * (a multistatus, a calendar object, nothing); the shim copies them.
 */
static void
send_dav(h2o_req_t *req, const PGresult *res)
{
	int			col = PQfnumber(res, "status");
	int			status = col >= 0 && !PQgetisnull(res, 0, col) ? atoi(PQgetvalue(res, 0, col)) : 0;
	int			body = PQfnumber(res, "body");

	if (status < 200 || status > 599)
	{
		log_msg("request %s: a CalDAV answer without a status", request_id(req));
		send_problem(req, 500, "internal_error", "internal error", NULL, 0);
		return;
	}
	column_header(req, res, "content_type", H2O_TOKEN_CONTENT_TYPE);
	column_header(req, res, "etag", H2O_TOKEN_ETAG);
	column_header(req, res, "location", H2O_TOKEN_LOCATION);
	column_header(req, res, "allow", H2O_TOKEN_ALLOW);
	col = PQfnumber(res, "dav");
	if (col >= 0 && !PQgetisnull(res, 0, col))
		h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("dav"), 0, NULL,
							  h2o_strdup(&req->pool, PQgetvalue(res, 0, col), SIZE_MAX).base,
							  (size_t) PQgetlength(res, 0, col));
	if (body < 0 || PQgetisnull(res, 0, body))
		send_status(req, status, NULL, 0);
	else
		send_status(req, status, PQgetvalue(res, 0, body), (size_t) PQgetlength(res, 0, body));
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
	if (st->csv && csv_done(st->csv, res))
		return;
	if (response_started(req))
		return;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		send_db_error(req, res);
		return;
	}
	if (r->ops == OPS_READYZ)
	{
		send_json(req, 200, H2O_STRLIT("{\"status\":\"ready\"}"));
		return;
	}
	if (r->flags & RF_DAV)
	{
		send_dav(req, res);
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
	if (r->flags & RF_ICS)
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
					   H2O_STRLIT("text/calendar; charset=utf-8"));
	send_json(req, (r->flags & RF_CREATED) ? 201 : 200,
			  PQgetvalue(res, 0, col), (size_t) PQgetlength(res, 0, col));
}

/* ---- check: what the shim itself can refuse ---- */

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

/* Answers a refused request; returns 0 (not accepted) for the caller. */
static int
refuse(h2o_req_t *req, int status, const char *code, const char *detail, int retry_after)
{
	send_problem(req, status, code, detail, NULL, retry_after);
	return 0;
}

/* A malformed parameter or form field: 400 naming it. */
static int
refuse_param(h2o_req_t *req, const char *code, const query_params *qp)
{
	char		detail[160];

	snprintf(detail, sizeof(detail), "%s %s", qp->bad_param, qp->bad_reason);
	send_problem(req, 400, code, detail, qp->bad_param, 0);
	return 0;
}

/* The route for the method and path; answers 431, 404, 405 or a preflight. */
static int
check_route(h2o_req_t *req, route_match *m)
{
	size_t		path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
	h2o_iovec_t allow;

	/* ambiguous body framing: refused before any route (framing_req.c) */
	if (framing_refused(req))
		return 0;
	if (head_size(req) > cfg.max_head)
		return refuse(req, 431, "header_too_large", "the request head is too large", 0);
	switch (route_find(req->method.base, req->method.len, req->path.base, path_len, m))
	{
		case MATCH_OK:
			return 1;
		case MATCH_NOT_FOUND:
			return refuse(req, 404, "not_found", "no such route", 0);
		case MATCH_BAD_METHOD:
			break;
	}
	if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("OPTIONS")))
	{
		send_preflight(req, m->allow);
		return 0;
	}
	allow = h2o_strdup(&req->pool, m->allow, strlen(m->allow));
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, allow.base, allow.len);
	return refuse(req, 405, "method_not_allowed", "method not allowed on this route", 0);
}

/* The body of a route that takes one; a form becomes the JSON body. */
static int
check_body(h2o_req_t *req, const route *r, query_params *qp)
{
	int			is_form = (r->flags & RF_BODY_FORM) &&
		content_type_is(req, "application/x-www-form-urlencoded");

	if (!is_form && !content_type_is(req, "application/json"))
		return refuse(req, 415, "unsupported_media_type",
					  (r->flags & RF_BODY_FORM)
					  ? "the body must be application/json or application/x-www-form-urlencoded"
					  : "the body must be application/json", 0);
	if (req->entity.base == NULL || req->entity.len == 0)
		return refuse(req, 400, "body_required", "a request body is required", 0);
	/* libpq text parameters end at NUL: refuse rather than truncate */
	if (!utf8_valid(req->entity.base, req->entity.len))
		return refuse(req, 400, "malformed_body", "the body is not valid UTF-8 text", 0);
	if (is_form)
	{
		if (form_to_json(req->entity.base, req->entity.len, qp) < 0)
			return refuse_param(req, "malformed_body", qp);
		/* the form's JSON replaces the body */
		req->entity = h2o_strdup(&req->pool, qp->filter.data, qp->filter.len);
	}
	return 1;
}

/* Query string, token, body and capacity; fills qp and token. */
static int
check_request(h2o_req_t *req, const route *r, query_params *qp, h2o_iovec_t *token)
{
	const char *qs = req->query_at != SIZE_MAX ? req->path.base + req->query_at + 1 : "";
	size_t		qs_len = req->query_at != SIZE_MAX ? req->path.len - req->query_at - 1 : 0;
	int			present;

	if (query_parse(r->query, qs, qs_len, qp) < 0)
		return refuse_param(req, "bad_parameter", qp);
	if ((r->flags & RF_AUTH) && !bearer_token(req, token, &present))
		return refuse(req, 401, "unauthorized",
					  present ? "the Authorization header is not a bearer token"
					  : "an Authorization: Bearer token is required", 0);
	if (req->entity.base && req->entity.len > cfg.max_body)
		return refuse(req, 413, "body_too_large", "the request body is too large", 0);
	if ((r->flags & (RF_BODY | RF_BODY_FORM)) && !check_body(req, r, qp))
		return 0;
	/* CalDAV bodies (XML, iCalendar) go to the database as they are: text */
	if ((r->flags & RF_DAV) && req->entity.base && !utf8_valid(req->entity.base, req->entity.len))
		return refuse(req, 400, "malformed_body", "the body is not valid UTF-8 text", 0);
	if ((r->flags & RF_CSV) && csv_full())
		return refuse(req, 503, "busy", "too many exports at once, try again shortly", 1);
	return 1;
}

/* ---- bind: the request as the statement's parameters ---- */

/* A header's value as a parameter (absent: NULL). */
static void
header_param(h2o_req_t *req, db_query *q, const char *name)
{
	ssize_t		i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);

	if (i < 0)
		db_query_param(q, NULL, 0);
	else
		db_query_param(q, req->headers.entries[i].value.base, req->headers.entries[i].value.len);
}

/*
 * CalDAV: the credentials, method, path, the headers the protocol needs and
 * the raw body; the database reads all of them (taskmgmt.dav()).
 */
static void
bind_dav(h2o_req_t *req, db_query *q)
{
	size_t		path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;

	header_param(req, q, "authorization");
	db_query_param(q, req->method.base, req->method.len);
	db_query_param(q, req->path.base, path_len);
	header_param(req, q, "depth");
	header_param(req, q, "if-match");
	header_param(req, q, "if-none-match");
	if (req->entity.base)
		db_query_param(q, req->entity.base, req->entity.len);
	else
		db_query_param(q, NULL, 0);
}

static db_query *
bind_params(h2o_req_t *req, const route *r, const route_match *m, const query_params *qp,
			h2o_iovec_t token)
{
	db_query   *q = db_query_new(m->route);
	char		version[16];

	if (r->flags & RF_AUTH)
		db_query_param(q, token.base, token.len);
	if (r->flags & RF_DAV)
		bind_dav(req, q);
	for (int i = 0; i < m->n_ids; i++)
		db_query_param(q, m->ids[i], strlen(m->ids[i]));
	if (m->has_name)
		db_query_param(q, m->name, strlen(m->name));
	if (r->flags & (RF_BODY | RF_BODY_FORM))
		db_query_param(q, req->entity.base, req->entity.len);
	if (r->flags & RF_CLIENT_ADDR)
	{
		char		addr[64];

		client_address(req, addr, sizeof(addr));
		db_query_param(q, addr[0] ? addr : NULL, strlen(addr));
	}
	switch (r->query)
	{
		case Q_NONE:
			break;
		case Q_FILTER:
			db_query_param(q, qp->filter.data, qp->filter.len);
			break;
		case Q_USERS:
			db_query_param(q, qp->has_q ? qp->q.data : NULL, qp->q.len);
			db_query_param(q, qp->has_limit ? qp->limit.data : NULL, qp->limit.len);
			break;
		case Q_SEARCH:
			db_query_param(q, qp->has_q ? qp->q.data : NULL, qp->q.len);
			db_query_param(q, qp->filter.data, qp->filter.len);
			break;
	}
	if (r->flags & RF_IF_MATCH)
	{
		const char *v = if_match_version(req, version, sizeof(version));

		db_query_param(q, v, v ? strlen(v) : 0);
	}
	if (r->flags & RF_IDEMPOTENT)
	{
		/* validated by idempotency_begin(): 400 naming the header */
		ssize_t		i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("idempotency-key"), -1);

		if (i >= 0)
			db_query_param(q, req->headers.entries[i].value.base, req->headers.entries[i].value.len);
		else
			db_query_param(q, NULL, 0);
	}
	q->binary_result = (r->flags & RF_PDF) != 0;
	return q;
}

/* ---- submit ---- */

static void
submit(h2o_req_t *req, int route, db_query *q)
{
	req_state  *st = state_new(req, route);

	if (routes[route].flags & RF_CSV)
		csv_bind(st, q);
	q->on_done = on_done;
	q->owner = st;
	st->q = q;
	st->timer.cb = on_timeout;
	if (db_submit(q) < 0)
	{
		st->q = NULL;
		send_problem(req, 503, "unavailable", "the database is unavailable", NULL, 1);
		return;
	}
	if (!response_started(req) && st->q)
		h2o_timeout_link(shim_loop, &request_timeout, &st->timer);
}

static int
on_req(h2o_handler_t *self, h2o_req_t *req)
{
	route_match m;
	const route *r;
	query_params qp;
	h2o_iovec_t token = {NULL, 0};

	response_begin(req);
	if (!check_route(req, &m))
		return 0;
	r = &routes[m.route];
	response_route(req, m.route);
	if (r->ops == OPS_WEBSOCKET)
	{
		int			rc = ws_handle(req);

		response_account(req, 101);		/* unless ws_handle refused it */
		return rc;
	}
	if (r->ops != OPS_NONE && r->ops != OPS_READYZ)
		return ops_handle(req, r);

	query_params_init(&qp);
	if (check_request(req, r, &qp, &token))
	{
		db_query   *q = bind_params(req, r, &m, &qp, token);

		/*
		 * A bcrypt route runs when its client address's turn comes; its
		 * slot is freed when the statement ends, not when the client goes.
		 */
		if (r->flags & RF_SLOW)
			admission_submit(req, m.route, q, submit);
		else
			submit(req, m.route, q);
	}
	query_params_free(&qp);
	return 0;
}

void
handler_register(h2o_globalconf_t *conf, h2o_loop_t *loop)
{
	h2o_hostconf_t *host = h2o_config_register_host(conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
	h2o_handler_t *h = h2o_create_handler(path, sizeof(*h));

	h->on_req = on_req;
	h2o_timeout_init(loop, &request_timeout, (uint64_t) cfg.request_timeout_ms);
	admission_init(loop);
	response_init();
	stream_init(loop);
}
