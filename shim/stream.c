/*
 * stream.c: an export answered as text/csv while its query still runs.
 *
 * The statement runs in single-row mode, one CSV line per row.  Lines
 * collect in `pending` while h2o sends `inflight`; past CSV_HIGH_WATER the
 * query is paused until the client has read, so a slow client costs
 * bounded memory.  The first row is the header, produced before the filter
 * is checked: the 200 starts only at the second row (or the end), so a bad
 * filter still gets its 400.  After the 200, an error can only cut the
 * stream.
 *
 * Exports hold a database connection for as long as their client takes to
 * read them: at most half the pool may do so, so the API always has
 * connections left.  A paused export waits on its client, and PostgreSQL's
 * statement_timeout does not fire while the backend waits on us: after
 * request_timeout_ms without progress the export is cut off.
 */
#include "shim.h"

#define CSV_HIGH_WATER (256 * 1024)

struct csv_stream
{
	req_state  *st;				/* the request; st->q is the query */
	h2o_generator_t gen;
	strbuf		pending;
	strbuf		inflight;
	int			sending;
	int			started;
	int			finished;
	int			failed;
	int			rows;
};

static int	csv_inflight = 0;
static h2o_timeout_t stall_timeout;

void
stream_init(h2o_loop_t *loop)
{
	h2o_timeout_init(loop, &stall_timeout, (uint64_t) cfg.request_timeout_ms);
}

int
csv_full(void)
{
	return csv_inflight >= (cfg.pool_size > 1 ? cfg.pool_size / 2 : 1);
}

static void
csv_dispose(void *p)
{
	csv_stream *s = p;

	sb_free(&s->pending);
	sb_free(&s->inflight);
}

static void
on_stall(h2o_timeout_entry_t *e)
{
	req_state  *st = H2O_STRUCT_FROM_MEMBER(req_state, timer, e);
	csv_stream *s = st->csv;

	log_msg("request %s: export cut off: the client stopped reading", request_id(st->req));
	req_abandon(st);
	s->failed = 1;
	if (!s->sending)
		h2o_send(st->req, NULL, 0, H2O_SEND_STATE_ERROR);
}

static void
flush(csv_stream *s)
{
	req_state  *st = s->st;
	h2o_iovec_t buf;
	strbuf		tmp;

	if (s->sending || !s->started)
		return;
	if (s->pending.len == 0 && !s->finished)
		return;
	/* swap: h2o keeps reading the in-flight buffer until proceed() */
	tmp = s->inflight;
	s->inflight = s->pending;
	s->pending = tmp;
	sb_reset(&s->pending);
	buf = h2o_iovec_init(s->inflight.data, s->inflight.len);
	s->sending = 1;
	h2o_send(st->req, &buf, buf.len ? 1 : 0,
			 s->finished ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
	if (st->q && st->q->paused && s->pending.len < CSV_HIGH_WATER)
	{
		if (h2o_timeout_is_linked(&st->timer))
			h2o_timeout_unlink(&st->timer);
		db_resume(st->q);
	}
}

static void
on_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
	csv_stream *s = H2O_STRUCT_FROM_MEMBER(csv_stream, gen, gen);

	s->sending = 0;
	sb_reset(&s->inflight);
	if (s->failed)
	{
		h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
		return;
	}
	flush(s);
}

static void
on_stop(h2o_generator_t *gen, h2o_req_t *req)
{
	csv_stream *s = H2O_STRUCT_FROM_MEMBER(csv_stream, gen, gen);

	req_abandon(s->st);
}

static void
start(csv_stream *s)
{
	h2o_req_t  *req = s->st->req;

	s->started = 1;
	if (h2o_timeout_is_linked(&s->st->timer))
		h2o_timeout_unlink(&s->st->timer);
	response_account(req, 200);
	req->res.status = 200;
	req->res.reason = "OK";
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
				   H2O_STRLIT("text/csv; charset=utf-8"));
	h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("content-disposition"), 0, NULL,
						  H2O_STRLIT("attachment; filename=\"tasks.csv\""));
	s->gen.proceed = on_proceed;
	s->gen.stop = on_stop;
	h2o_start_response(req, &s->gen);
}

static void
on_row(db_query *q, PGresult *row)
{
	req_state  *st = q->owner;
	csv_stream *s = st->csv;

	if (PQntuples(row) < 1 || PQnfields(row) < 1)
		return;
	if (!s->started && ++s->rows >= 2)
		start(s);
	if (!PQgetisnull(row, 0, 0))
	{
		const char *line = PQgetvalue(row, 0, 0);
		size_t		n = (size_t) PQgetlength(row, 0, 0);

		sb_append(&s->pending, line, n);
		/* RFC 4180 lines end with CRLF */
		if (n == 0 || line[n - 1] != '\n')
			sb_append(&s->pending, "\r\n", 2);
	}
	if (s->pending.len >= CSV_HIGH_WATER && !q->paused)
	{
		q->paused = 1;
		st->timer.cb = on_stall;
		if (!h2o_timeout_is_linked(&st->timer))
			h2o_timeout_link(shim_loop, &stall_timeout, &st->timer);
	}
	flush(s);
}

void
csv_bind(req_state *st, db_query *q)
{
	csv_stream *s = h2o_mem_alloc_shared(&st->req->pool, sizeof(*s), csv_dispose);

	memset(s, 0, sizeof(*s));
	s->st = st;
	sb_init(&s->pending);
	sb_init(&s->inflight);
	st->csv = s;
	q->single_row = 1;
	q->on_row = on_row;
	/* released when the query ends, not when the client goes away */
	csv_inflight++;
	q->counter = &csv_inflight;
}

int
csv_done(csv_stream *s, const PGresult *res)
{
	if (!s->started)
	{
		if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
			return 0;			/* nothing sent yet: the caller answers the error */
		/* a header-only export: everything is still in pending */
		start(s);
	}
	else if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		/* too late for a status: cut the stream so the client sees an error */
		log_msg("request %s: export aborted: %s", request_id(s->st->req),
				res ? PQresultErrorMessage(res) : "database connection lost");
		s->failed = 1;
		if (!s->sending)
			h2o_send(s->st->req, NULL, 0, H2O_SEND_STATE_ERROR);
		return 1;
	}
	s->finished = 1;
	flush(s);
	return 1;
}
