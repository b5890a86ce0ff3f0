/*
 * listen.c: the LISTEN connection.
 *
 * One dedicated connection LISTENs on taskmgmt_notifications; a payload
 * {"key":"<a user's notification key>","id":M} is handed to ws.c, which
 * wakes the sockets of the user with that key.  Anyone may NOTIFY on the
 * channel, so a payload is parsed as untrusted text.
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
		long long	id = 0;
		char		key[WS_KEY_LEN + 1];
		int			end = 0;
		const char *k = strstr(n->extra, "\"key\"");
		const char *q = strstr(n->extra, "\"id\"");

		/* a space in a scanf format matches any amount of white space */
		if (q && sscanf(q, "\"id\" : %lld", &id) != 1)
			id = 0;
		/* end > 0 only if the closing quote follows the 22 characters */
		if (!k || sscanf(k, "\"key\" : \"%22[A-Za-z0-9_-]\"%n", key, &end) != 1 || end == 0 ||
			strlen(key) != WS_KEY_LEN)
			k = NULL;
		ws_notified(k ? key : NULL, id);
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
	/* LISTEN needs a session of its own: never a transaction-mode pooler */
	values[0] = cfg.notify_database_url;
	values[1] = "taskmgmt-shim-listen";
	values[2] = "UTF8";
	lc.state = LC_CONNECTING;
	pgc_start(&lc.pc, loop, keywords, values, on_lc_ready, on_lc_connect_failed);
}
