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
#include "framing.h"
#include "routes.h"

/* ---- configuration (config.c) ---- */
typedef struct shim_config
{
	const char *database_url;
	const char *listen_addr;
	int			port;
	int			pool_size;
	int			pipeline;			/* requests in flight per connection */
	int			slow_cap;			/* concurrent bcrypt calls (sign-in, register, password) */
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

#define DB_MAX_PARAMS 6

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
void		db_resume(db_query *q);
int			db_is_up(void);
void		db_stats(int *total, int *up, int *busy, int *waiting);

/* a libpq connection driven by the event loop (pgsock.c) */
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

/* ---- HTTP handling (handler.c, ops.c) ---- */
typedef struct req_state req_state;
void		handler_register(h2o_globalconf_t *conf, h2o_loop_t *loop);
void		send_problem(h2o_req_t *req, int status, const char *code, const char *detail,
						 const char *field, int retry_after);
void		send_json(h2o_req_t *req, int status, const char *body, size_t len);
void		add_common_headers(h2o_req_t *req);
int			ops_handle(h2o_req_t *req, const route *r);
const char *request_id(h2o_req_t *req);
/* ambiguous body framing (framing_req.c): answers 400, closes, returns 1 */
int			framing_refused(h2o_req_t *req);

/* ---- errors (errors.c) ---- */
void		problem_from_pg(h2o_req_t *req, const PGresult *res);
const char *status_title(int status);

/* ---- access log and metrics (log.c, metrics.c) ---- */
void		log_access(h2o_req_t *req, const char *route, int status, double ms);
void		log_msg(const char *fmt,...) __attribute__((format(printf, 1, 2)));
void		metrics_request(int route, int status, double ms);
void		metrics_ws(int delta);
void		metrics_ws_relayed(void);
void		metrics_ws_fanout(double seconds, int sockets);
void		metrics_render(strbuf *out);

/* ---- websocket notifications (ws.c) ---- */
void		ws_init(h2o_loop_t *loop);
int			ws_handle(h2o_req_t *req);
int			ws_count(void);

extern h2o_loop_t *shim_loop;
extern h2o_context_t shim_ctx;

#endif
