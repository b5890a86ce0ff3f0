/*
 * shim.h: declarations shared by the taskmgmt-shim sources.
 * h2o 2.2.5 is built with its own event loop: H2O_USE_LIBUV must be 0
 * before h2o.h, or the structs do not match the library.
 */
#ifndef SHIM_H
#define SHIM_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <h2o/websocket.h>
#include <libpq-fe.h>
#include <stdint.h>

#include "buf.h"
#include "errors.h"
#include "framing.h"
#include "routes.h"

/* ---- configuration (config.c) ---- */
typedef struct shim_config
{
	const char *database_url;
	const char *notify_database_url;	/* the LISTEN connection's; "" = database_url */
	int			pooler_transaction;	/* behind a transaction-mode pooler (--pooler) */
	const char *listen_addr;
	int			port;
	int			workers;			/* event loop processes sharing the port */
	int			pool_size;
	int			pipeline;			/* requests in flight per connection */
	int			slow_cap;			/* concurrent bcrypt calls (sign-in, register, password) */
	int			slow_queue;			/* bcrypt requests waiting, all addresses */
	int			slow_queue_per_client;	/* ... from one client address */
	int			slow_wait_ms;		/* how long one waits before 503 */
	size_t		max_buffered;		/* request bytes buffered, all connections */
	const char *metrics_listen;		/* "addr:port" of the /metrics listener; "" = none */
	int			queue_max;			/* requests waiting for a connection */
	size_t		max_body;
	size_t		max_head;
	int			max_connections;
	int			header_timeout_ms;	/* request head + keep-alive idle */
	int			request_timeout_ms;
	int			statement_timeout_ms;
	const char *cors_origins;		/* comma-separated; "" = none */
	const char *public_origin;		/* the UI's origin behind a proxy; "" = none */
	int			trust_proxy;		/* honour X-Forwarded-Proto/-Host */
	int			log_json;
	int			log_quiet;
	int			ws_ping_s;
	size_t		ws_max_queue;
	size_t		ws_max_frame;
	int			ws_max_per_user;
	const char *openapi_path;
	const char *docs_dir;
	const char *web_dir;
} shim_config;

extern shim_config cfg;
int			config_load(int argc, char **argv);	/* 0 ok, 1 exit 0, -1 error */

/* ---- browser origins (origin.c) ---- */
int			origin_listed(const char *origin, size_t len);
int			origin_allowed(h2o_req_t *req, const char *origin, size_t len);

/* ---- database pool (db.c) ---- */
typedef struct db_query db_query;
/* single-row mode: one call per row; the row is freed after the call */
typedef void (*db_row_cb)(db_query *q, PGresult *row);
/* the final result (tuples or error), or NULL when the database is unavailable */
typedef void (*db_done_cb)(db_query *q, PGresult *res);

#define DB_MAX_PARAMS 8

struct db_query
{
	int			stmt;				/* index into routes[] */
	int			nparams;
	const char *values[DB_MAX_PARAMS];
	int			binary_result;
	int			single_row;
	db_row_cb	on_row;
	db_done_cb	on_done;
	void	   *owner;				/* NULL once the HTTP request is gone */
	int			paused;				/* stop reading rows (client is slow) */
	int		   *counter;			/* decremented when the query is freed */
	void		(*on_free) (void);	/* called when the query is freed */
	/* private to db.c */
	h2o_linklist_t _link;
	struct db_conn *_conn;
	int			_ph;				/* which result comes next */
	PGresult   *_prep_err;
	PGresult   *_final;
	strbuf		_storage;			/* copies of the parameter values */
	size_t		_offsets[DB_MAX_PARAMS];
	int			_isnull[DB_MAX_PARAMS];
};

void		db_init(h2o_loop_t *loop);
db_query   *db_query_new(int stmt);
void		db_query_param(db_query *q, const char *value, size_t len);	/* value NULL = SQL NULL */
/* Returns 0 when queued or sent; -1 when the database is down (q is freed). */
int			db_submit(db_query *q);
/* The request is gone: its callbacks will not be called; q is freed in time. */
void		db_abandon(db_query *q);
void		db_query_free(db_query *q);	/* one that was never submitted */
void		db_resume(db_query *q);
int			db_is_up(void);
void		db_stats(int *total, int *up, int *busy, int *waiting);

/* a libpq socket watched by the event loop (pgsock.c) */
typedef struct pg_watch
{
	h2o_socket_t *sock;
	dev_t		dev;
	ino_t		ino;
	int			want_write;
	void	   *data;
} pg_watch;
void		pgw_attach(pg_watch *w, h2o_loop_t *loop, PGconn *conn, h2o_socket_cb on_read);
void		pgw_detach(pg_watch *w);
void		pgw_want_write(pg_watch *w, h2o_socket_cb on_write);

/*
 * A connection that connects without blocking (pgsock.c).  The owner embeds
 * it; socket callbacks get it as sock->data.  on_ready: connected, the
 * owner attaches its own reader.  on_failed: the attempt failed; the owner
 * cleans up and calls pgc_retry(), as it does when it finds the connection
 * lost.
 */
typedef struct pg_conn pg_conn;
struct pg_conn
{
	PGconn	   *pg;
	pg_watch	w;
	h2o_loop_t *loop;
	const char *const *keywords;
	const char *const *values;
	void		(*on_ready) (pg_conn *c);
	void		(*on_failed) (pg_conn *c);
	int			connecting;
	h2o_timeout_entry_t retry;
};
void		pgc_start(pg_conn *c, h2o_loop_t *loop, const char *const *keywords,
					  const char *const *values, void (*on_ready) (pg_conn *c),
					  void (*on_failed) (pg_conn *c));
/* closes the connection and connects again after 250 ms */
void		pgc_retry(pg_conn *c);
/* closes the connection and connects again now */
void		pgc_reconnect(pg_conn *c);

/* ---- responses (response.c): request id, common headers, accounting ---- */
void		response_init(void);
/* first thing for every request: request id, common headers, the clock */
void		response_begin(h2o_req_t *req);
void		response_route(h2o_req_t *req, int route);	/* for the log and metrics */
/* metrics and the access log, once per request; send_json() does it */
void		response_account(h2o_req_t *req, int status);
int			response_started(h2o_req_t *req);	/* accounted: a status is on its way */
const char *request_id(h2o_req_t *req);
void		send_json(h2o_req_t *req, int status, const char *body, size_t len);
/* any status, the Content-Type already set by the caller (CalDAV) */
void		send_status(h2o_req_t *req, int status, const char *body, size_t len);
void		send_problem(h2o_req_t *req, int status, const char *code, const char *detail,
						 const char *field, int retry_after);
void		send_preflight(h2o_req_t *req, const char *allow);
void		send_db_error(h2o_req_t *req, const PGresult *res);
/* ambiguous body framing (framing_req.c): answers 400, closes, returns 1 */
int			framing_refused(h2o_req_t *req);

/* ---- HTTP handling (handler.c, stream.c, ops.c) ---- */
typedef struct csv_stream csv_stream;

/* A request waiting on its statement (handler.c; stream.c for exports). */
typedef struct req_state
{
	h2o_req_t  *req;
	int			route;			/* index into routes[] */
	db_query   *q;				/* NULL once it ended or was abandoned */
	h2o_timeout_entry_t timer;	/* the request timeout; a paused export's limit */
	csv_stream *csv;			/* RF_CSV routes */
} req_state;

/* The request no longer wants its result. */
static inline void
req_abandon(req_state *st)
{
	if (st->q)
	{
		db_abandon(st->q);
		st->q = NULL;
	}
}

void		handler_register(h2o_globalconf_t *conf, h2o_loop_t *loop);
int			ops_handle(h2o_req_t *req, const route *r);
void		stream_init(h2o_loop_t *loop);
int			csv_full(void);		/* as many exports as the pool can spare */
void		csv_bind(req_state *st, db_query *q);
/* the query ended: 0 if nothing was sent yet and the caller answers the error */
int			csv_done(csv_stream *s, const PGresult *res);

/* ---- fair admission to the bcrypt routes (admission.c) ---- */
typedef void (*admission_go) (h2o_req_t *req, int route, db_query *q);
typedef struct slow_waiter slow_waiter;
void		admission_init(h2o_loop_t *loop);
/* runs go() now or when the client address's turn comes; or answers 503 */
void		admission_submit(h2o_req_t *req, int route, db_query *q, admission_go go);
void		admission_stats(int *running, int *waiting);
void		client_address(h2o_req_t *req, char *buf, size_t size);

/* ---- client connections (main.c): buffered bytes, limits ---- */
size_t		conns_buffered(void);
void		conns_request_begin(h2o_req_t *req);	/* from response_begin() */

/* ---- access log and metrics (log.c, metrics.c) ---- */
void		log_access(const char *request_id, const char *method, size_t method_len,
					   const char *route, int status, double ms);
void		log_msg(const char *fmt,...) __attribute__((format(printf, 1, 2)));
void		metrics_request(int route, int status, double ms);
void		metrics_ws(int delta);
void		metrics_ws_relayed(void);
void		metrics_ws_fanout(double seconds, int sockets);
void		metrics_render(strbuf *out);
void		metrics_slow_refused(void);
void		metrics_accept_error(void);
void		metrics_conn_shed(void);

/* ---- websocket notifications (ws.c) and the LISTEN connection (listen.c) ---- */
void		ws_init(h2o_loop_t *loop);
int			ws_handle(h2o_req_t *req);
void		ws_notified(int64_t user_id, int64_t id);
void		ws_catch_up(void);
void		listen_init(h2o_loop_t *loop);

extern h2o_loop_t *shim_loop;
extern h2o_context_t shim_ctx;

#endif
