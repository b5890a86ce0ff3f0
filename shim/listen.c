/*
 * listen.c: the LISTEN connection.
 *
 * One dedicated connection LISTENs on taskmgmt_notifications; a payload
 * {"user_id":N,"id":M} is handed to ws.c, which wakes that user's sockets.
 * The connection reconnects by itself (pgsock.c); once it listens again,
 * every socket catches up on what was announced while it was down.
 */
#include "shim.h"

#include <stdio.h>
#include <string.h>

typedef enum listen_state
{
	LC_CONNECTING,				/* not connected: pgsock.c connects, and retries */
	LC_SUBSCRIBING,				/* LISTEN sent, its answer not read yet */
	LC_LISTENING				/* notifications arrive */
} listen_state;

static struct
{
	pg_conn		pc;
	listen_state state;
	int			ever_up;
} lc;

static const char *const keywords[] = {"dbname", "application_name", "client_encoding", NULL};
static const char *values[4];

static void
lc_failed(void)
{
	if (lc.state == LC_LISTENING)
		log_msg("notification listener lost: %s", lc.pc.pg ? PQerrorMessage(lc.pc.pg) : "");
	lc.state = LC_CONNECTING;
	pgc_retry(&lc.pc);
}

static void
lc_drain(void)
{
	PGnotify   *n;

	while ((n = PQnotifies(lc.pc.pg)) != NULL)
	{
		long long	uid = 0,
					id = 0;
		const char *p = strstr(n->extra, "\"user_id\"");
		const char *q = strstr(n->extra, "\"id\"");

		/* a space in a scanf format matches any amount of white space */
		if (p && sscanf(p, "\"user_id\" : %lld", &uid) != 1)
			uid = 0;
		if (q && sscanf(q, "\"id\" : %lld", &id) != 1)
			id = 0;
		ws_notified(uid, id);
		PQfreemem(n);
	}
}

static void
on_lc_read(h2o_socket_t *sock, const char *err)
{
	PGconn	   *pg = lc.pc.pg;
	PGresult   *res;

	if (err || !PQconsumeInput(pg) || PQstatus(pg) == CONNECTION_BAD)
	{
		lc_failed();
		return;
	}
	if (lc.state == LC_SUBSCRIBING)
	{
		while (!PQisBusy(pg) && (res = PQgetResult(pg)) != NULL)
		{
			if (PQresultStatus(res) != PGRES_COMMAND_OK)
				log_msg("LISTEN failed: %s", PQresultErrorMessage(res));
			PQclear(res);
		}
		if (PQisBusy(pg))
			return;
		lc.state = LC_LISTENING;
		if (lc.ever_up)
			ws_catch_up();
		lc.ever_up = 1;
	}
	lc_drain();
}

static void
on_lc_ready(pg_conn *pc)
{
	if (!PQsendQuery(pc->pg, "LISTEN taskmgmt_notifications") || PQflush(pc->pg) != 0)
	{
		lc_failed();
		return;
	}
	lc.state = LC_SUBSCRIBING;
	pgw_attach(&pc->w, pc->loop, pc->pg, on_lc_read);
}

static void
on_lc_connect_failed(pg_conn *pc)
{
	lc_failed();
}

void
listen_init(h2o_loop_t *loop)
{
	values[0] = cfg.database_url;
	values[1] = "taskmgmt-shim-listen";
	values[2] = "UTF8";
	lc.state = LC_CONNECTING;
	pgc_start(&lc.pc, loop, keywords, values, on_lc_ready, on_lc_connect_failed);
}
