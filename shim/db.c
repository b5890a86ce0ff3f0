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
 *
 * Behind a transaction-mode pooler (--pooler transaction, e.g. PgBouncer
 * 1.18) consecutive transactions may run on different server connections,
 * so a statement prepared on one is unknown to the next: each request is
 * then Parse + Bind + Execute + Sync of an unnamed statement (parsed and
 * planned every time), and no startup options are sent (the pooler would
 * refuse them; the timeouts are the login role's settings then).
 */
#include "shim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	pg_conn		pc;
	int			up;					/* connected, in pipeline mode */
	unsigned char *prepared;		/* per route */
	h2o_linklist_t inflight;		/* db_query, oldest first */
	int			n_inflight;
	int			streaming;			/* a single-row query is in flight */
	int			read_only;			/* got 25006: reconnect once drained */
	int			renewing;			/* reconnecting after read_only */
	uint64_t	renewed_at;			/* loop time of the last renewal, ms */
} db_conn;

static struct
{
	h2o_loop_t *loop;
	db_conn    *conns;
	int			n;
	int			up;
	int			renewing;			/* connections reconnecting on purpose */
	int			busy;				/* requests in flight */
	h2o_linklist_t waiting;
	int			n_waiting;
	char		options[160];
	const char *conninfo[5];		/* values for conn_keywords */
} pool;

static const char *const conn_keywords[] = {"dbname", "application_name", "options", "client_encoding", NULL};

static void conn_process(db_conn *c);
static void dispatch(void);

static void
query_free(db_query *q)
{
	if (q->counter)
		(*q->counter)--;
	if (q->on_free)
		q->on_free();
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

/* sock->data is the connection's pg_conn */
static db_conn *
conn_of(h2o_socket_t *sock)
{
	return H2O_STRUCT_FROM_MEMBER(db_conn, pc, (pg_conn *) sock->data);
}

static void
conn_failed(db_conn *c)
{
	db_query   *q;

	if (c->up)
	{
		pool.up--;
		log_msg("database connection lost: %s", PQerrorMessage(c->pc.pg));
	}
	c->up = 0;
	if (c->renewing)
	{
		c->renewing = 0;
		pool.renewing--;
	}
	pgc_retry(&c->pc);
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
	if (pool.up == 0 && pool.renewing == 0)
	{
		while (!h2o_linklist_is_empty(&pool.waiting))
		{
			db_query   *w = H2O_STRUCT_FROM_MEMBER(db_query, _link, pool.waiting.next);

			h2o_linklist_unlink(&w->_link);
			pool.n_waiting--;
			query_done(w, NULL);
		}
	}
}

static void
on_connect_failed(pg_conn *pc)
{
	conn_failed(H2O_STRUCT_FROM_MEMBER(db_conn, pc, pc));
}

static void
on_db_write(h2o_socket_t *sock, const char *err)
{
	db_conn    *c = conn_of(sock);
	int			r;

	c->pc.w.want_write = 0;
	if (err || c->pc.pg == NULL)
	{
		conn_failed(c);
		return;
	}
	r = PQflush(c->pc.pg);
	if (r < 0)
	{
		conn_failed(c);
		return;
	}
	if (r == 1)
		pgw_want_write(&c->pc.w, on_db_write);
	if (PQconsumeInput(c->pc.pg))
		conn_process(c);
}

static void
on_db_read(h2o_socket_t *sock, const char *err)
{
	db_conn    *c = conn_of(sock);

	if (err || !PQconsumeInput(c->pc.pg) || PQstatus(c->pc.pg) == CONNECTION_BAD)
	{
		conn_failed(c);
		return;
	}
	conn_process(c);
}

static void
conn_ready(pg_conn *pc)
{
	db_conn    *c = H2O_STRUCT_FROM_MEMBER(db_conn, pc, pc);

	if (!PQenterPipelineMode(pc->pg))
	{
		conn_failed(c);
		return;
	}
	/* behind a pooler nothing is prepared, so every statement is ready */
	memset(c->prepared, cfg.pooler_transaction ? P_YES : P_NO, (size_t) n_routes);
	c->read_only = 0;
	if (c->renewing)
	{
		c->renewing = 0;
		pool.renewing--;
	}
	c->up = 1;
	pool.up++;
	pgw_attach(&pc->w, pool.loop, pc->pg, on_db_read);
	dispatch();
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
		ok = PQsendPrepare(c->pc.pg, name, r->sql, 0, NULL);
		c->prepared[q->stmt] = P_SENT;
		q->_ph = PH_PREPARE;
	}
	if (cfg.pooler_transaction)
		ok = PQsendQueryParams(c->pc.pg, r->sql, q->nparams, NULL, q->values, NULL, NULL,
							   q->binary_result);
	else
		ok = ok && PQsendQueryPrepared(c->pc.pg, name, q->nparams, q->values, NULL, NULL,
									   q->binary_result);
	ok = ok && PQpipelineSync(c->pc.pg);
	if (!ok)
	{
		conn_failed(c);
		return;
	}
	/* single-row mode only applies to the query whose results come next */
	if (q->_ph == PH_QUERY && q->single_row && head_of(c) == q)
		PQsetSingleRowMode(c->pc.pg);
	int			f = PQflush(c->pc.pg);

	if (f < 0)
		conn_failed(c);
	else if (f == 1)
		pgw_want_write(&c->pc.w, on_db_write);
}

/*
 * 25006 on a write: the server is (now) a standby, e.g. a primary demoted
 * by a failover.  The request gets 503 with Retry-After, and the connection
 * takes no new work and is reconnected at once when drained, so that a
 * multi-host URL with target_session_attrs=read-write finds the new primary
 * (requests wait for it meanwhile rather than being refused).  A server that
 * stays read-only (a URL naming only a standby) is retried at the usual
 * pace, not reconnected to on every write.
 */
static int
is_read_only_error(const PGresult *res)
{
	const char *state;

	if (res == NULL || PQresultStatus(res) != PGRES_FATAL_ERROR)
		return 0;
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	return state != NULL && strcmp(state, "25006") == 0;
}

static void
conn_recycle(db_conn *c)
{
	uint64_t	now = h2o_now(pool.loop);
	int			again = c->renewed_at != 0 && now - c->renewed_at < 1000;

	c->read_only = 0;
	c->up = 0;
	pool.up--;
	c->renewed_at = now;
	if (again)
	{
		/* still read-only right after a renewal: the usual retry delay */
		pgc_retry(&c->pc);
		return;
	}
	c->renewing = 1;
	pool.renewing++;
	log_msg("database connection is read-only (a standby?): reconnecting");
	pgc_reconnect(&c->pc);
}

static void
conn_finish_head(db_conn *c)
{
	db_query   *q = head_of(c);
	PGresult   *final = q->_final;

	if (is_read_only_error(final))
		c->read_only = 1;

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

	while (c->up && (q = head_of(c)) != NULL)
	{
		PGresult   *res;

		if (q->paused && q->owner)
		{
			if (c->pc.w.sock)
				h2o_socket_read_stop(c->pc.w.sock);
			return;
		}
		if (PQisBusy(c->pc.pg))
			return;
		res = PQgetResult(c->pc.pg);
		switch (q->_ph)
		{
			case PH_PREPARE:
				if (res == NULL)
				{
					q->_ph = PH_QUERY;
					if (q->single_row)
						PQsetSingleRowMode(c->pc.pg);
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
					if (c->read_only && c->n_inflight == 0)
					{
						conn_recycle(c);
						dispatch();
						return;
					}
					/* the next request's results follow on the same connection */
					if ((q = head_of(c)) != NULL && q->_ph == PH_QUERY && q->single_row)
						PQsetSingleRowMode(c->pc.pg);
					dispatch();
					continue;
				}
				PQclear(res);
				break;
		}
	}
	/* an idle connection: only a server-side close can arrive here */
	if (c->up && PQstatus(c->pc.pg) == CONNECTION_BAD)
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

		if (!c->up || c->read_only)
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
	/* statement_timeout bounds every call: libpq 15 cannot cancel without blocking */
	snprintf(pool.options, sizeof(pool.options),
			 "-c statement_timeout=%d -c idle_in_transaction_session_timeout=%d",
			 cfg.statement_timeout_ms, cfg.statement_timeout_ms);
	pool.conninfo[0] = cfg.database_url;
	pool.conninfo[1] = "taskmgmt-shim";
	/* a NULL value leaves its keyword out */
	pool.conninfo[2] = cfg.pooler_transaction ? NULL : pool.options;
	pool.conninfo[3] = "UTF8";
	for (int i = 0; i < pool.n; i++)
	{
		db_conn    *c = &pool.conns[i];

		c->prepared = calloc((size_t) n_routes, 1);
		h2o_linklist_init_anchor(&c->inflight);
		pgc_start(&c->pc, loop, conn_keywords, pool.conninfo, conn_ready, on_connect_failed);
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

	/* a connection being renewed comes back at once: wait for it */
	if ((pool.up == 0 && pool.renewing == 0) || pool.n_waiting >= cfg.queue_max)
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
db_query_free(db_query *q)
{
	query_free(q);
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
	if (c && head_of(c) == q && c->pc.w.sock)
	{
		h2o_socket_read_start(c->pc.w.sock, on_db_read);
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
