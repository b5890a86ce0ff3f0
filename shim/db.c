/*
 * db.c: a fixed pool of non-blocking libpq connections on the event loop.
 *
 * Connections run in pipeline mode.  Each request is [Prepare] + Execute +
 * Sync, so it is exactly one transaction of its own, and a statement is
 * prepared on first use on that connection in the same round trip (a
 * statement whose function does not exist yet just fails like any query).
 * When every connection is busy, up to --pipeline requests share one:
 * their transactions stay separate (one Sync each), they only save the
 * wait for a free connection.  Only statements already prepared there are
 * pipelined (a failed Prepare would fail the requests queued behind it),
 * and streamed results (CSV) run alone.  A lost connection fails its
 * requests (503, never replayed) and is retried every 250 ms; while no
 * connection is up, requests are refused at once instead of waiting.
 */
#include "shim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum conn_state
{
	C_DOWN,
	C_CONNECTING,
	C_UP
} conn_state;

enum
{
	PH_PREPARE,
	PH_QUERY,
	PH_SYNC
};

/* prepared[] states */
enum
{
	P_NO,
	P_SENT,
	P_YES
};

typedef struct db_conn
{
	PGconn	   *pg;
	conn_state	state;
	pg_watch	w;
	unsigned char *prepared;		/* per route */
	h2o_linklist_t inflight;		/* db_query, oldest first */
	int			n_inflight;
	int			streaming;			/* a single-row query is in flight */
	h2o_timeout_entry_t retry;
} db_conn;

static struct
{
	h2o_loop_t *loop;
	db_conn    *conns;
	int			n;
	int			up;
	int			busy;				/* requests in flight */
	h2o_linklist_t waiting;
	int			n_waiting;
	h2o_timeout_t retry_timeout;
	char		options[160];
} pool;

static void conn_start(db_conn *c);
static void conn_process(db_conn *c);
static void dispatch(void);

static void
query_free(db_query *q)
{
	if (q->counter)
		(*q->counter)--;
	if (q->_prep_err)
		PQclear(q->_prep_err);
	if (q->_final)
		PQclear(q->_final);
	sb_free(&q->_storage);
	free(q);
}

static void
query_done(db_query *q, PGresult *res)
{
	if (q->owner && q->on_done)
		q->on_done(q, res);
	query_free(q);
}

static db_query *
head_of(db_conn *c)
{
	return h2o_linklist_is_empty(&c->inflight) ? NULL
		: H2O_STRUCT_FROM_MEMBER(db_query, _link, c->inflight.next);
}

static void
on_retry(h2o_timeout_entry_t *e)
{
	db_conn    *c = H2O_STRUCT_FROM_MEMBER(db_conn, retry, e);

	conn_start(c);
}

static void
conn_failed(db_conn *c)
{
	int			was_up = c->state == C_UP;
	db_query   *q;

	if (was_up)
		pool.up--;
	c->state = C_DOWN;
	pgw_detach(&c->w);
	if (c->pg)
	{
		if (was_up)
			log_msg("database connection lost: %s", PQerrorMessage(c->pg));
		PQfinish(c->pg);
		c->pg = NULL;
	}
	/* what was in flight fails; it is not replayed */
	while ((q = head_of(c)) != NULL)
	{
		h2o_linklist_unlink(&q->_link);
		c->n_inflight--;
		pool.busy--;
		q->_conn = NULL;
		query_done(q, NULL);
	}
	c->streaming = 0;
	/* nobody can serve the queue any more: fail it now rather than hang */
	if (pool.up == 0)
	{
		while (!h2o_linklist_is_empty(&pool.waiting))
		{
			db_query   *w = H2O_STRUCT_FROM_MEMBER(db_query, _link, pool.waiting.next);

			h2o_linklist_unlink(&w->_link);
			pool.n_waiting--;
			query_done(w, NULL);
		}
	}
	if (!h2o_timeout_is_linked(&c->retry))
		h2o_timeout_link(pool.loop, &pool.retry_timeout, &c->retry);
}

static void
on_db_write(h2o_socket_t *sock, const char *err)
{
	db_conn    *c = sock->data;
	int			r;

	c->w.want_write = 0;
	if (err || c->pg == NULL)
	{
		conn_failed(c);
		return;
	}
	r = PQflush(c->pg);
	if (r < 0)
	{
		conn_failed(c);
		return;
	}
	if (r == 1)
		pgw_want_write(&c->w, on_db_write);
	if (PQconsumeInput(c->pg))
		conn_process(c);
}

static void
on_db_read(h2o_socket_t *sock, const char *err)
{
	db_conn    *c = sock->data;

	if (err || !PQconsumeInput(c->pg) || PQstatus(c->pg) == CONNECTION_BAD)
	{
		conn_failed(c);
		return;
	}
	conn_process(c);
}

static void
conn_ready(db_conn *c)
{
	if (!PQenterPipelineMode(c->pg))
	{
		conn_failed(c);
		return;
	}
	memset(c->prepared, P_NO, (size_t) n_routes);
	c->state = C_UP;
	pool.up++;
	pgw_attach(&c->w, pool.loop, c->pg, on_db_read);
	dispatch();
}

static void on_connect_read(h2o_socket_t *sock, const char *err);
static void on_connect_write(h2o_socket_t *sock, const char *err);

static void
connect_step(db_conn *c)
{
	switch (PQconnectPoll(c->pg))
	{
		case PGRES_POLLING_OK:
			conn_ready(c);
			break;
		case PGRES_POLLING_READING:
			pgw_attach(&c->w, pool.loop, c->pg, on_connect_read);
			break;
		case PGRES_POLLING_WRITING:
			pgw_attach(&c->w, pool.loop, c->pg, on_connect_read);
			pgw_want_write(&c->w, on_connect_write);
			break;
		default:
			conn_failed(c);
	}
}

static void
on_connect_read(h2o_socket_t *sock, const char *err)
{
	db_conn    *c = sock->data;

	if (c->state == C_CONNECTING)
		connect_step(c);
}

static void
on_connect_write(h2o_socket_t *sock, const char *err)
{
	db_conn    *c = sock->data;

	c->w.want_write = 0;
	if (c->state == C_CONNECTING)
		connect_step(c);
}

/*
 * The DATABASE_URL may be a URI or key=value string; expand_dbname lets
 * the later keywords add settings to it.
 */
static void
conn_start(db_conn *c)
{
	const char *kw[] = {"dbname", "application_name", "options", "client_encoding", NULL};
	const char *val[] = {cfg.database_url, "taskmgmt-shim", pool.options, "UTF8", NULL};

	c->state = C_CONNECTING;
	c->pg = PQconnectStartParams(kw, val, 1);
	if (c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD)
	{
		conn_failed(c);
		return;
	}
	PQsetnonblocking(c->pg, 1);
	pgw_attach(&c->w, pool.loop, c->pg, on_connect_read);
	pgw_want_write(&c->w, on_connect_write);
}

static void
conn_send(db_conn *c, db_query *q)
{
	char		name[16];
	const route *r = &routes[q->stmt];
	int			ok = 1;

	snprintf(name, sizeof(name), "s%d", q->stmt);
	for (int i = 0; i < q->nparams; i++)
		q->values[i] = q->_isnull[i] ? NULL : q->_storage.data + q->_offsets[i];
	h2o_linklist_insert(&c->inflight, &q->_link);
	c->n_inflight++;
	pool.busy++;
	q->_conn = c;
	q->_ph = PH_QUERY;
	if (q->single_row)
		c->streaming = 1;
	if (c->prepared[q->stmt] == P_NO)
	{
		ok = PQsendPrepare(c->pg, name, r->sql, 0, NULL);
		c->prepared[q->stmt] = P_SENT;
		q->_ph = PH_PREPARE;
	}
	ok = ok && PQsendQueryPrepared(c->pg, name, q->nparams, q->values, NULL, NULL,
								   q->binary_result);
	ok = ok && PQpipelineSync(c->pg);
	if (!ok)
	{
		conn_failed(c);
		return;
	}
	/* single-row mode only applies to the query whose results come next */
	if (q->_ph == PH_QUERY && q->single_row && head_of(c) == q)
		PQsetSingleRowMode(c->pg);
	int			f = PQflush(c->pg);

	if (f < 0)
		conn_failed(c);
	else if (f == 1)
		pgw_want_write(&c->w, on_db_write);
}

static void
conn_finish_head(db_conn *c)
{
	db_query   *q = head_of(c);
	PGresult   *final = q->_final;

	h2o_linklist_unlink(&q->_link);
	c->n_inflight--;
	pool.busy--;
	if (q->single_row)
		c->streaming = 0;
	q->_final = NULL;
	q->_conn = NULL;
	query_done(q, final);
	if (final)
		PQclear(final);
}

/*
 * Reads what results are complete, oldest request first.  In pipeline mode
 * each query ends with a NULL and each Sync with PGRES_PIPELINE_SYNC;
 * PQisBusy first, because PQgetResult would block.
 */
static void
conn_process(db_conn *c)
{
	db_query   *q;

	while (c->state == C_UP && (q = head_of(c)) != NULL)
	{
		PGresult   *res;

		if (q->paused && q->owner)
		{
			if (c->w.sock)
				h2o_socket_read_stop(c->w.sock);
			return;
		}
		if (PQisBusy(c->pg))
			return;
		res = PQgetResult(c->pg);
		switch (q->_ph)
		{
			case PH_PREPARE:
				if (res == NULL)
				{
					q->_ph = PH_QUERY;
					if (q->single_row)
						PQsetSingleRowMode(c->pg);
				}
				else if (PQresultStatus(res) == PGRES_COMMAND_OK)
				{
					c->prepared[q->stmt] = P_YES;
					PQclear(res);
				}
				else
				{
					c->prepared[q->stmt] = P_NO;
					if (q->_prep_err)
						PQclear(q->_prep_err);
					q->_prep_err = res;
				}
				break;
			case PH_QUERY:
				if (res == NULL)
				{
					q->_ph = PH_SYNC;
					break;
				}
				if (PQresultStatus(res) == PGRES_SINGLE_TUPLE)
				{
					if (q->owner && q->on_row)
						q->on_row(q, res);
					PQclear(res);
					break;
				}
				if (PQresultStatus(res) == PGRES_PIPELINE_ABORTED && q->_prep_err)
				{
					PQclear(res);
					res = q->_prep_err;
					q->_prep_err = NULL;
				}
				if (q->_final)
					PQclear(q->_final);
				q->_final = res;
				break;
			case PH_SYNC:
				if (res == NULL)
					break;
				if (PQresultStatus(res) == PGRES_PIPELINE_SYNC)
				{
					PQclear(res);
					conn_finish_head(c);
					/* the next request's results follow on the same connection */
					if ((q = head_of(c)) != NULL && q->_ph == PH_QUERY && q->single_row)
						PQsetSingleRowMode(c->pg);
					dispatch();
					continue;
				}
				PQclear(res);
				break;
		}
	}
	/* an idle connection: only a server-side close can arrive here */
	if (c->state == C_UP && PQstatus(c->pg) == CONNECTION_BAD)
		conn_failed(c);
}

/*
 * Where q can go now: an idle connection, else (a prepared, non-streamed
 * statement) the up connection with the fewest requests in flight.
 */
static db_conn *
pick_conn(db_query *q)
{
	db_conn    *best = NULL;

	for (int i = 0; i < pool.n; i++)
	{
		db_conn    *c = &pool.conns[i];

		if (c->state != C_UP)
			continue;
		if (c->n_inflight == 0)
			return c;
		if (q->single_row || c->streaming || c->n_inflight >= cfg.pipeline ||
			c->prepared[q->stmt] != P_YES)
			continue;
		if (best == NULL || c->n_inflight < best->n_inflight)
			best = c;
	}
	return best;
}

static void
dispatch(void)
{
	while (!h2o_linklist_is_empty(&pool.waiting))
	{
		db_query   *q = H2O_STRUCT_FROM_MEMBER(db_query, _link, pool.waiting.next);
		db_conn    *c = pick_conn(q);

		if (c == NULL)
			return;				/* strict FIFO: the head waits for a connection */
		h2o_linklist_unlink(&q->_link);
		pool.n_waiting--;
		conn_send(c, q);
	}
}

void
db_init(h2o_loop_t *loop)
{
	pool.loop = loop;
	pool.n = cfg.pool_size;
	pool.conns = calloc((size_t) pool.n, sizeof(db_conn));
	h2o_linklist_init_anchor(&pool.waiting);
	h2o_timeout_init(loop, &pool.retry_timeout, 250);
	/* statement_timeout bounds every call: libpq 15 cannot cancel without blocking */
	snprintf(pool.options, sizeof(pool.options),
			 "-c statement_timeout=%d -c idle_in_transaction_session_timeout=%d",
			 cfg.statement_timeout_ms, cfg.statement_timeout_ms);
	for (int i = 0; i < pool.n; i++)
	{
		db_conn    *c = &pool.conns[i];

		c->prepared = calloc((size_t) n_routes, 1);
		h2o_linklist_init_anchor(&c->inflight);
		c->w.data = c;
		c->retry.cb = on_retry;
		conn_start(c);
	}
}

db_query *
db_query_new(int stmt)
{
	db_query   *q = calloc(1, sizeof(db_query));

	q->stmt = stmt;
	sb_init(&q->_storage);
	return q;
}

void
db_query_param(db_query *q, const char *value, size_t len)
{
	int			i = q->nparams++;

	q->_isnull[i] = value == NULL;
	q->_offsets[i] = q->_storage.len;
	if (value)
		sb_append(&q->_storage, value, len);
	/* keep a NUL after every value; offsets stay valid across growth */
	sb_append(&q->_storage, "\0", 1);
}

int
db_submit(db_query *q)
{
	db_conn    *c;

	if (pool.up == 0 || pool.n_waiting >= cfg.queue_max)
	{
		query_free(q);
		return -1;
	}
	c = h2o_linklist_is_empty(&pool.waiting) ? pick_conn(q) : NULL;
	if (c)
		conn_send(c, q);
	else
	{
		h2o_linklist_insert(&pool.waiting, &q->_link);
		pool.n_waiting++;
	}
	return 0;
}

void
db_abandon(db_query *q)
{
	q->owner = NULL;
	if (q->_conn == NULL && h2o_linklist_is_linked(&q->_link))
	{
		/* still waiting for a connection */
		h2o_linklist_unlink(&q->_link);
		pool.n_waiting--;
		query_free(q);
		return;
	}
	/* in flight: drain whatever remains */
	if (q->paused)
		db_resume(q);
}

void
db_resume(db_query *q)
{
	db_conn    *c = q->_conn;

	q->paused = 0;
	if (c && head_of(c) == q && c->w.sock)
	{
		h2o_socket_read_start(c->w.sock, on_db_read);
		conn_process(c);
	}
}

int
db_is_up(void)
{
	return pool.up > 0;
}

void
db_stats(int *total, int *up, int *busy, int *waiting)
{
	*total = pool.n;
	*up = pool.up;
	*busy = pool.busy;
	*waiting = pool.n_waiting;
}
