/*
 * outbox.c
 *	  The database side: one libpq connection that LISTENs on
 *	  taskmgmt_outbox and calls the extension's outbox_* functions.  All the
 *	  queue logic (SKIP LOCKED claims, leases, backoff, dead-lettering) lives
 *	  in SQL; this file only moves rows.
 */
#include "mailer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

#include <libpq-fe.h>

struct Outbox
{
	PGconn	   *conn;
	const MailerConfig *cfg;
};

static void
quiet_notice(void *arg, const char *message)
{
	(void) arg;
	(void) message;
}

Outbox *
outbox_connect(const MailerConfig *cfg)
{
	Outbox	   *ob = calloc(1, sizeof(Outbox));
	PGresult   *res;

	if (ob == NULL)
		return NULL;
	ob->cfg = cfg;
	ob->conn = PQconnectdb(cfg->database_url);
	if (PQstatus(ob->conn) != CONNECTION_OK)
	{
		mlog("database: %s", PQerrorMessage(ob->conn));
		outbox_close(ob);
		return NULL;
	}
	PQsetNoticeProcessor(ob->conn, quiet_notice, NULL);
	res = PQexec(ob->conn, "SET application_name = 'taskmgmt-mailer'; LISTEN taskmgmt_outbox");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		mlog("database: LISTEN failed: %s", PQerrorMessage(ob->conn));
		PQclear(res);
		outbox_close(ob);
		return NULL;
	}
	PQclear(res);
	return ob;
}

void
outbox_close(Outbox *ob)
{
	if (ob == NULL)
		return;
	PQfinish(ob->conn);
	free(ob);
}

/* The connection, for the webhook deliveries that share it (webhook.c). */
PGconn *
outbox_conn(Outbox *ob)
{
	return ob->conn;
}

bool
outbox_ok(Outbox *ob)
{
	return ob != NULL && PQstatus(ob->conn) == CONNECTION_OK;
}

/* A copy of one value of a result (webhook.c reads its rows with it too). */
char *
dup_value(PGresult *res, int row, int col)
{
	char	   *s = strdup(PQgetvalue(res, row, col));

	if (s == NULL)
	{
		fprintf(stderr, "mailer: out of memory\n");
		exit(1);
	}
	return s;
}

/* Claims up to batch_size due rows; returns how many, or -1 on error. */
int
outbox_claim(Outbox *ob, OutboxRow **rows)
{
	char		batch[16];
	char		lease[16];
	const char *params[2] = {batch, lease};
	PGresult   *res;
	int			n;

	*rows = NULL;
	snprintf(batch, sizeof(batch), "%d", ob->cfg->batch_size);
	snprintf(lease, sizeof(lease), "%d", ob->cfg->lease);
	res = PQexecParams(ob->conn,
					   "SELECT id, recipient, subject, body, message_id, attempts, claim_token, "
					   "coalesce(body_html, ''), coalesce(list_unsubscribe, '') "
					   "FROM taskmgmt.outbox_claim($1::int, make_interval(secs => $2::int)) ORDER BY id",
					   2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		mlog("database: claim failed: %s", PQerrorMessage(ob->conn));
		PQclear(res);
		return -1;
	}
	n = PQntuples(res);
	if (n > 0)
	{
		*rows = calloc(n, sizeof(OutboxRow));
		if (*rows == NULL)
		{
			fprintf(stderr, "mailer: out of memory\n");
			exit(1);
		}
	}
	for (int i = 0; i < n; i++)
	{
		OutboxRow  *r = &(*rows)[i];

		r->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		r->recipient = dup_value(res, i, 1);
		r->subject = dup_value(res, i, 2);
		r->body = dup_value(res, i, 3);
		r->message_id = dup_value(res, i, 4);
		r->attempts = atoi(PQgetvalue(res, i, 5));
		r->claim_token = dup_value(res, i, 6);
		r->body_html = dup_value(res, i, 7);
		r->list_unsubscribe = dup_value(res, i, 8);
	}
	PQclear(res);
	return n;
}

void
outbox_free_rows(OutboxRow *rows, int n)
{
	for (int i = 0; i < n; i++)
	{
		free(rows[i].recipient);
		free(rows[i].subject);
		free(rows[i].body);
		free(rows[i].body_html);
		free(rows[i].list_unsubscribe);
		free(rows[i].message_id);
		free(rows[i].claim_token);
	}
	free(rows);
}

bool
outbox_mark_sent(Outbox *ob, const OutboxRow *row)
{
	char		id[32];
	const char *params[2] = {id, row->claim_token};
	PGresult   *res;
	bool		ok;

	snprintf(id, sizeof(id), "%lld", row->id);
	res = PQexecParams(ob->conn, "SELECT taskmgmt.outbox_mark_sent($1::bigint, $2::uuid)",
					   2, NULL, params, NULL, NULL, 0);
	ok = PQresultStatus(res) == PGRES_TUPLES_OK;
	if (!ok)
		mlog("database: marking %lld sent failed: %s", row->id, PQerrorMessage(ob->conn));
	else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		mlog("outbox %lld: lease lost before it was marked sent (it may be sent again)", row->id);
	PQclear(res);
	return ok;
}

bool
outbox_mark_failed(Outbox *ob, const OutboxRow *row, const SendResult *result,
				   char *new_status, size_t len)
{
	char		id[32];
	char		max_attempts[16];
	char		backoff[16];
	const char *params[6] = {id, row->claim_token, result->error,
	result->permanent ? "true" : "false", max_attempts, backoff};
	PGresult   *res;
	bool		ok;

	snprintf(id, sizeof(id), "%lld", row->id);
	snprintf(max_attempts, sizeof(max_attempts), "%d", ob->cfg->max_attempts);
	snprintf(backoff, sizeof(backoff), "%d", ob->cfg->backoff);
	res = PQexecParams(ob->conn,
					   "SELECT taskmgmt.outbox_mark_failed($1::bigint, $2::uuid, $3, $4::boolean, $5::int, "
					   "make_interval(secs => $6::int))",
					   6, NULL, params, NULL, NULL, 0);
	ok = PQresultStatus(res) == PGRES_TUPLES_OK;
	if (!ok)
		mlog("database: marking %lld failed failed: %s", row->id, PQerrorMessage(ob->conn));
	else
		snprintf(new_status, len, "%s", PQgetisnull(res, 0, 0) ? "lease lost" : PQgetvalue(res, 0, 0));
	PQclear(res);
	return ok;
}

/* Hands a claimed row back unsent (shutdown, lease running out). */
void
outbox_release(Outbox *ob, const OutboxRow *row)
{
	char		id[32];
	const char *params[2] = {id, row->claim_token};
	PGresult   *res;

	snprintf(id, sizeof(id), "%lld", row->id);
	res = PQexecParams(ob->conn, "SELECT taskmgmt.outbox_release($1::bigint, $2::uuid)",
					   2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		mlog("database: releasing %lld failed: %s", row->id, PQerrorMessage(ob->conn));
	PQclear(res);
}

/* Seconds until the next pending row is due; the poll interval when none. */
double
outbox_seconds_to_next_due(Outbox *ob)
{
	PGresult   *res = PQexec(ob->conn,
							 "SELECT extract(epoch FROM taskmgmt.outbox_next_due() - clock_timestamp())");
	double		s = ob->cfg->poll_interval;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && !PQgetisnull(res, 0, 0))
		s = atof(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (s > ob->cfg->poll_interval)
		s = ob->cfg->poll_interval;
	return s;
}

/*
 * Waits up to the given seconds for a NOTIFY on taskmgmt_outbox.  Returns 1
 * when woken by one, 0 on timeout or a signal, -1 when the connection broke.
 */
int
outbox_wait(Outbox *ob, double seconds)
{
	int			sock = PQsocket(ob->conn);
	fd_set		fds;
	struct timeval tv;
	PGnotify   *note;
	int			woken = 0;

	if (sock < 0)
		return -1;
	/* notifications that arrived with earlier results */
	if (!PQconsumeInput(ob->conn))
		return -1;
	while ((note = PQnotifies(ob->conn)) != NULL)
	{
		woken = 1;
		PQfreemem(note);
	}
	if (woken || seconds <= 0)
		return woken;

	FD_ZERO(&fds);
	FD_SET(sock, &fds);
	tv.tv_sec = (time_t) seconds;
	tv.tv_usec = (suseconds_t) ((seconds - floor(seconds)) * 1e6);
	if (select(sock + 1, &fds, NULL, NULL, &tv) < 0)
		return errno == EINTR ? 0 : -1;
	if (!PQconsumeInput(ob->conn))
		return -1;
	while ((note = PQnotifies(ob->conn)) != NULL)
	{
		woken = 1;
		PQfreemem(note);
	}
	return PQstatus(ob->conn) == CONNECTION_OK ? woken : -1;
}
