/*
 * db.c: a fixed pool of non-blocking libpq connections on the event loop.
 *
 * Each connection runs one request at a time in pipeline mode: [Prepare]
 * + Execute + Sync, so a statement is prepared on first use on that
 * connection in the same round trip, and each request is exactly one
 * transaction (one Sync each).  A statement whose function does not exist
 * yet just fails like any query.  A failed connection fails its request
 * (503, never replayed), and is retried every 250 ms; while no connection
 * is up, requests are refused at once instead of waiting.
 */
#include "shim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum conn_state
{
	C_DOWN,
	C_CONNECTING,
	C_IDLE,
	C_BUSY
} conn_state;

typedef enum phase
{
	PH_PREPARE,
	PH_QUERY,
	PH_SYNC
} phase;

typedef struct db_conn
{
	PGconn	   *pg;
	conn_state	state;
	pg_watch	w;
	unsigned char *prepared;		/* per route */
	db_query   *cur;
	phase		ph;
	PGresult   *prep_err;
	PGresult   *final;
	h2o_timeout_entry_t retry;
} db_conn;

static struct
{
	h2o_loop_t *loop;
	db_conn    *conns;
	int			n;
	int			up;
	int			busy;
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

static void
on_retry(h2o_timeout_entry_t *e)
{
	db_conn    *c = H2O_STRUCT_FROM_MEMBER(db_conn, retry, e);

	conn_start(c);
}

static void
conn_failed(db_conn *c)
{
	db_query   *q = c->cur;
	int			was_up = c->state == C_IDLE || c->state == C_BUSY;

	if (was_up)
		pool.up--;
	if (c->state == C_BUSY)
		pool.busy--;
	c->state = C_DOWN;
	c->cur = NULL;
	pgw_detach(&c->w);
	if (c->pg)
	{
		if (was_up)
			log_msg("database connection lost: %s", PQerrorMessage(c->pg));
		PQfinish(c->pg);
		c->pg = NULL;
	}
	if (c->prep_err)
		PQclear(c->prep_err);
	if (c->final)
		PQclear(c->final);
	c->prep_err = c->final = NULL;
	if (q)
		query_done(q, NULL);
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
	memset(c->prepared, 0, (size_t) n_routes);
	c->state = C_IDLE;
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

	c->pg = PQconnectStartParams(kw, val, 1);
	if (c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD)
	{
		c->state = C_CONNECTING;	/* so conn_failed does not count it */
		conn_failed(c);
		return;
	}
	PQsetnonblocking(c->pg, 1);
	c->state = C_CONNECTING;
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
	c->cur = q;
	q->_conn = c;
	c->state = C_BUSY;
	pool.busy++;
	c->ph = PH_QUERY;
	if (!c->prepared[q->stmt])
	{
		ok = PQsendPrepare(c->pg, name, r->sql, 0, NULL);
		c->ph = PH_PREPARE;
	}
	ok = ok && PQsendQueryPrepared(c->pg, name, q->nparams, q->values, NULL, NULL,
								   q->binary_result);
	ok = ok && PQpipelineSync(c->pg);
	if (!ok)
	{
		conn_failed(c);
		return;
	}
	if (c->ph == PH_QUERY && q->single_row)
		PQsetSingleRowMode(c->pg);
	int			f = PQflush(c->pg);

	if (f < 0)
		conn_failed(c);
	else if (f == 1)
		pgw_want_write(&c->w, on_db_write);
}

static void
conn_finish_query(db_conn *c)
{
	db_query   *q = c->cur;
	PGresult   *final = c->final;

	c->cur = NULL;
	c->final = NULL;
	if (c->prep_err)
		PQclear(c->prep_err);
	c->prep_err = NULL;
	c->state = C_IDLE;
	pool.busy--;
	query_done(q, final);
	if (final)
		PQclear(final);
}

/*
 * Reads what results are complete.  In pipeline mode each query ends with
 * a NULL and each Sync with PGRES_PIPELINE_SYNC; PQisBusy first, because
 * PQgetResult would block.
 */
static void
conn_process(db_conn *c)
{
	while (c->cur)
	{
		db_query   *q = c->cur;
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
		switch (c->ph)
		{
			case PH_PREPARE:
				if (res == NULL)
				{
					c->ph = PH_QUERY;
					if (q->single_row)
						PQsetSingleRowMode(c->pg);
				}
				else if (PQresultStatus(res) == PGRES_COMMAND_OK)
				{
					c->prepared[q->stmt] = 1;
					PQclear(res);
				}
				else
				{
					if (c->prep_err)
						PQclear(c->prep_err);
					c->prep_err = res;
				}
				break;
			case PH_QUERY:
				if (res == NULL)
				{
					c->ph = PH_SYNC;
					break;
				}
				if (PQresultStatus(res) == PGRES_SINGLE_TUPLE)
				{
					if (q->owner && q->on_row)
						q->on_row(q, res);
					PQclear(res);
					break;
				}
				if (PQresultStatus(res) == PGRES_PIPELINE_ABORTED && c->prep_err)
				{
					PQclear(res);
					res = c->prep_err;
					c->prep_err = NULL;
				}
				if (c->final)
					PQclear(c->final);
				c->final = res;
				break;
			case PH_SYNC:
				if (res == NULL)
					break;
				if (PQresultStatus(res) == PGRES_PIPELINE_SYNC)
				{
					PQclear(res);
					conn_finish_query(c);
					dispatch();
					return;
				}
				PQclear(res);
				break;
		}
	}
	/* an idle connection: only a server-side close can arrive here */
	if (PQstatus(c->pg) == CONNECTION_BAD)
		conn_failed(c);
}

static db_conn *
idle_conn(void)
{
	for (int i = 0; i < pool.n; i++)
		if (pool.conns[i].state == C_IDLE)
			return &pool.conns[i];
	return NULL;
}

static void
dispatch(void)
{
	db_conn    *c;

	while (!h2o_linklist_is_empty(&pool.waiting) && (c = idle_conn()) != NULL)
	{
		db_query   *q = H2O_STRUCT_FROM_MEMBER(db_query, _link, pool.waiting.next);

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
	c = idle_conn();
	if (c && h2o_linklist_is_empty(&pool.waiting))
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
	if (h2o_linklist_is_linked(&q->_link))
	{
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
	if (c && c->cur == q && c->w.sock)
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
