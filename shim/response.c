/*
 * response.c: what every response carries, whoever writes it.
 *
 * Each request gets a request id (the client's X-Request-Id when it is
 * sane, else one of ours), Cache-Control: no-store and, for an allowed
 * Origin, the CORS headers; it is accounted exactly once (metrics and one
 * access-log line) when its status is decided.  handler.c, stream.c, ops.c
 * and ws.c answer through here; nothing here knows what a route does.
 */
#include "shim.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Kept in the request's pool: freed with the request. */
typedef struct response_info
{
	const char *id;				/* X-Request-Id, NUL-terminated */
	int			route;			/* index into routes[], -1 until matched */
	int			accounted;
	struct timespec start;
} response_info;

static uint64_t rid_counter;
static uint32_t rid_prefix;

static h2o_iovec_t
find_header(h2o_req_t *req, const char *name)
{
	ssize_t		i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);

	if (i < 0)
		return h2o_iovec_init(NULL, 0);
	return req->headers.entries[i].value;
}

/*
 * h2o 2.2.5 has no per-request user pointer: the record is found through a
 * request "env" entry.
 */
static response_info *
info_of(h2o_req_t *req)
{
	h2o_iovec_t *slot = h2o_req_getenv(req, H2O_STRLIT("shim.response"), 0);

	return slot && slot->len == sizeof(response_info) ? (response_info *) slot->base : NULL;
}

static const char *
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
	return copy.base;
}

static void
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

/* Our request ids: a per-process prefix and a counter. */
void
response_init(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	rid_prefix = (uint32_t) (ts.tv_nsec ^ ts.tv_sec ^ (getpid() << 16));
}

void
response_begin(h2o_req_t *req)
{
	response_info *ri = h2o_mem_alloc_pool(&req->pool, sizeof(*ri));
	h2o_iovec_t *slot;

	memset(ri, 0, sizeof(*ri));
	ri->route = -1;
	clock_gettime(CLOCK_MONOTONIC, &ri->start);
	slot = h2o_req_getenv(req, H2O_STRLIT("shim.response"), 1);
	*slot = h2o_iovec_init((char *) ri, sizeof(*ri));
	ri->id = assign_request_id(req);
	add_common_headers(req);
	conns_request_begin(req);
}

void
response_route(h2o_req_t *req, int route)
{
	response_info *ri = info_of(req);

	if (ri)
		ri->route = route;
}

int
response_started(h2o_req_t *req)
{
	response_info *ri = info_of(req);

	return ri && ri->accounted;
}

const char *
request_id(h2o_req_t *req)
{
	response_info *ri = info_of(req);

	return ri ? ri->id : "-";
}

void
response_account(h2o_req_t *req, int status)
{
	response_info *ri = info_of(req);
	struct timespec now;
	double		ms;

	if (ri == NULL || ri->accounted)
		return;
	ri->accounted = 1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (now.tv_sec - ri->start.tv_sec) * 1e3 + (now.tv_nsec - ri->start.tv_nsec) / 1e6;
	metrics_request(ri->route, status, ms);
	log_access(ri->id, req->method.base, req->method.len,
			   ri->route >= 0 ? routes[ri->route].pattern : "-", status, ms);
}

void
send_json(h2o_req_t *req, int status, const char *body, size_t len)
{
	response_account(req, status);
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

/* Reason phrases send_json() does not know (CalDAV's). */
static const char *
reason(int status)
{
	switch (status)
	{
		case 200: return "OK";
		case 201: return "Created";
		case 204: return "No Content";
		case 207: return "Multi-Status";
		case 301: return "Moved Permanently";
		default: return status_title(status);
	}
}

void
send_status(h2o_req_t *req, int status, const char *body, size_t len)
{
	static h2o_generator_t none = {NULL, NULL};

	response_account(req, status);
	req->res.status = status;
	req->res.reason = reason(status);
	if (body == NULL || status == 204)
	{
		req->res.content_length = 0;
		h2o_start_response(req, &none);
		h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
		return;
	}
	req->res.content_length = len;
	h2o_send_inline(req, body, len);
}

/* CalDAV clients answer a challenge for Basic credentials; the API wants a bearer token. */
static int
route_is_dav(h2o_req_t *req)
{
	response_info *ri = info_of(req);

	return ri && ri->route >= 0 && (routes[ri->route].flags & RF_DAV);
}

/* The problem+json body of p, with errors[0] when it names a field. */
static void
send_problem_of(h2o_req_t *req, const problem *p)
{
	int			status = p->status;
	const char *code = p->code;
	const char *detail = p->detail;
	const char *field = p->field;
	int			retry_after = p->retry_after;
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
		/* a syntax error: where (characters from 1) and what was expected */
		if (p->position > 0 && p->expected)
		{
			sb_printf(&b, ",\"position\":%d,\"expected\":", p->position);
			sb_json_string(&b, p->expected, (size_t) p->expected_len);
		}
		sb_puts(&b, "}]");
	}
	sb_puts(&b, "}");
	if (retry_after > 0)
	{
		int			n = snprintf(num, sizeof(num), "%d", retry_after);
		h2o_iovec_t v = h2o_strdup(&req->pool, num, (size_t) n);

		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, v.base, v.len);
	}
	if (status == 401 && route_is_dav(req))
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
					   H2O_STRLIT("Basic realm=\"taskmgmt\", charset=\"UTF-8\""));
	else if (status == 401)
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
					   H2O_STRLIT("Bearer realm=\"taskmgmt\""));
	h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE,
				   H2O_STRLIT("application/problem+json"), 1);
	send_json(req, status, b.data, b.len);
	sb_free(&b);
}

void
send_problem(h2o_req_t *req, int status, const char *code, const char *detail,
			 const char *field, int retry_after)
{
	problem		p = {status, code, detail, field, 0, NULL, 0, retry_after, 0};

	send_problem_of(req, &p);
}

/* OPTIONS on a route: the CORS preflight, with headers for allowed origins only. */
void
send_preflight(h2o_req_t *req, const char *allow)
{
	h2o_iovec_t origin = find_header(req, "origin");

	if (origin.len && origin_listed(origin.base, origin.len))
	{
		h2o_iovec_t methods = h2o_strdup(&req->pool, allow, strlen(allow));

		h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-methods"),
							  0, NULL, methods.base, methods.len);
		h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-headers"),
							  0, NULL, H2O_STRLIT("Authorization, Content-Type, Idempotency-Key, If-Match, X-Request-Id"));
		h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-max-age"),
							  0, NULL, H2O_STRLIT("600"));
	}
	send_json(req, 204, NULL, 0);
}

/*
 * A statement that did not give its one row: the problem errors.c maps its
 * error to (res NULL: the database went away).  5xx are logged with the
 * request id, since the client sees only a fixed text.
 */
void
send_db_error(h2o_req_t *req, const PGresult *res)
{
	pg_error	e;
	problem		p;

	if (res == NULL)
	{
		send_problem(req, 503, "unavailable", "the database is unavailable", NULL, 1);
		return;
	}
	if (PQresultStatus(res) != PGRES_FATAL_ERROR)
	{
		log_msg("request %s: unexpected result shape", request_id(req));
		send_problem(req, 500, "internal_error", "internal error", NULL, 0);
		return;
	}
	e.sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	e.message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	e.detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	e.column = PQresultErrorField(res, PG_DIAG_COLUMN_NAME);
	e.schema = PQresultErrorField(res, PG_DIAG_SCHEMA_NAME);
	e.table = PQresultErrorField(res, PG_DIAG_TABLE_NAME);
	e.datatype = PQresultErrorField(res, PG_DIAG_DATATYPE_NAME);
	e.position = PQresultErrorField(res, PG_DIAG_INTERNAL_POSITION);
	p = problem_of(&e);
	if (p.log)
		log_msg("request %s: database error %s: %s", request_id(req),
				e.sqlstate ? e.sqlstate : "-", e.message ? e.message : "-");
	send_problem_of(req, &p);
}
