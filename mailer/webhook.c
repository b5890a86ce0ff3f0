/*
 * webhook.c
 *	  Webhook deliveries, the outbox's other kind of row (92_webhooks.sql).
 *	  One round: claim due rows with webhook_claim() (the database signs
 *	  them), POST each with libcurl, log the attempt, and report it with the
 *	  same outbox_mark_sent() / outbox_mark_failed() / outbox_release() as
 *	  mail, so leases, backoff and the dead letter are the mail's own.
 *
 * The receiver is reached only at addresses the database allows
 * (_webhook_address_allowed(), asked for each address curl is about to
 * connect to, after name resolution), never through a proxy, never
 * following a redirect.
 */
#include "mailer.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>
#include <libpq-fe.h>

typedef struct WebhookRow
{
	OutboxRow	base;			/* id, recipient (the URL), body, message_id, attempts, claim_token */
	char	   *timestamp;
	char	   *signature;
} WebhookRow;

/* What the connect callback found. */
typedef struct AddressCheck
{
	PGconn	   *conn;
	bool		refused;
	char		address[INET6_ADDRSTRLEN];
} AddressCheck;

static int
claim(PGconn *conn, const MailerConfig *cfg, WebhookRow **rows)
{
	char		batch[16];
	char		lease[16];
	const char *params[2] = {batch, lease};
	PGresult   *res;
	int			n;

	*rows = NULL;
	snprintf(batch, sizeof(batch), "%d", cfg->batch_size);
	snprintf(lease, sizeof(lease), "%d", cfg->lease);
	res = PQexecParams(conn,
					   "SELECT id, url, body, message_id, ts, signature, attempts, claim_token "
					   "FROM taskmgmt.webhook_claim($1::int, make_interval(secs => $2::int)) ORDER BY id",
					   2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		mlog("database: webhook claim failed: %s", PQerrorMessage(conn));
		PQclear(res);
		return -1;
	}
	n = PQntuples(res);
	if (n > 0 && (*rows = calloc(n, sizeof(WebhookRow))) == NULL)
	{
		fprintf(stderr, "mailer: out of memory\n");
		exit(1);
	}
	for (int i = 0; i < n; i++)
	{
		WebhookRow *r = &(*rows)[i];

		r->base.id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		r->base.recipient = dup_value(res, i, 1);
		r->base.body = dup_value(res, i, 2);
		r->base.message_id = dup_value(res, i, 3);
		r->timestamp = dup_value(res, i, 4);
		r->signature = dup_value(res, i, 5);
		r->base.attempts = atoi(PQgetvalue(res, i, 6));
		r->base.claim_token = dup_value(res, i, 7);
	}
	PQclear(res);
	return n;
}

static void
free_rows(WebhookRow *rows, int n)
{
	for (int i = 0; i < n; i++)
	{
		free(rows[i].base.recipient);
		free(rows[i].base.body);
		free(rows[i].base.message_id);
		free(rows[i].base.claim_token);
		free(rows[i].timestamp);
		free(rows[i].signature);
	}
	free(rows);
}

static bool
address_allowed(PGconn *conn, const char *address)
{
	const char *params[1] = {address};
	PGresult   *res = PQexecParams(conn, "SELECT taskmgmt._webhook_address_allowed($1::inet)",
								   1, NULL, params, NULL, NULL, 0);
	bool		ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
		strcmp(PQgetvalue(res, 0, 0), "t") == 0;

	PQclear(res);
	return ok;
}

/* curl is about to connect to a resolved address: allowed? */
static curl_socket_t
open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *addr)
{
	AddressCheck *check = arg;
	const void *ip = NULL;

	(void) purpose;
	if (addr->family == AF_INET)
		ip = &((struct sockaddr_in *) &addr->addr)->sin_addr;
	else if (addr->family == AF_INET6)
		ip = &((struct sockaddr_in6 *) &addr->addr)->sin6_addr;
	if (ip == NULL || inet_ntop(addr->family, ip, check->address, sizeof(check->address)) == NULL ||
		!address_allowed(check->conn, check->address))
	{
		check->refused = true;
		return CURL_SOCKET_BAD;
	}
	return socket(addr->family, addr->socktype, addr->protocol);
}

static size_t
discard(char *data, size_t size, size_t nmemb, void *arg)
{
	(void) data;
	(void) arg;
	return size * nmemb;
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* One POST; *status is the HTTP status (0: no answer). */
static void
post(PGconn *conn, const MailerConfig *cfg, const WebhookRow *row, SendResult *result,
	 long *status, int *ms)
{
	CURL	   *curl = curl_easy_init();
	struct curl_slist *headers = NULL;
	char		line[512];
	char		errbuf[CURL_ERROR_SIZE] = "";
	AddressCheck check = {conn, false, ""};
	CURLcode	rc;
	double		start = now_ms();

	memset(result, 0, sizeof(*result));
	*status = 0;
	*ms = 0;
	if (curl == NULL)
	{
		snprintf(result->error, sizeof(result->error), "curl_easy_init failed");
		return;
	}
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "User-Agent: taskmgmt-webhooks");
	snprintf(line, sizeof(line), "webhook-id: %s", row->base.message_id);
	headers = curl_slist_append(headers, line);
	snprintf(line, sizeof(line), "webhook-timestamp: %s", row->timestamp);
	headers = curl_slist_append(headers, line);
	snprintf(line, sizeof(line), "webhook-signature: %s", row->signature);
	headers = curl_slist_append(headers, line);

	curl_easy_setopt(curl, CURLOPT_URL, row->base.recipient);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_PROXY, "");	/* no proxy from the environment */
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, row->base.body);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(row->base.body));
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, &check);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT,
					 (long) (cfg->webhook_timeout < 10 ? cfg->webhook_timeout : 10));
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long) cfg->webhook_timeout);

	rc = curl_easy_perform(curl);
	*ms = (int) (now_ms() - start);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);

	if (check.refused)
	{
		/* the address will not change its range: retrying is pointless */
		result->permanent = true;
		snprintf(result->error, sizeof(result->error),
				 "target address %s is private, loopback or link-local (refused)",
				 check.address[0] ? check.address : "?");
	}
	else if (rc != CURLE_OK)
		snprintf(result->error, sizeof(result->error), "%.60s%s%.160s",
				 curl_easy_strerror(rc), errbuf[0] ? ": " : "", errbuf);
	else if (*status >= 200 && *status < 300)
		result->ok = true;
	else if (*status >= 300 && *status < 400)
		snprintf(result->error, sizeof(result->error), "HTTP %ld: redirects are not followed", *status);
	else
	{
		/* 410 Gone: the receiver says it will never take this */
		result->permanent = *status == 410;
		snprintf(result->error, sizeof(result->error), "HTTP %ld", *status);
	}
}

static bool
log_attempt(PGconn *conn, const WebhookRow *row, long status, int ms, const SendResult *result)
{
	char		id[32];
	char		code[16];
	char		dur[16];
	const char *params[5] = {id, row->base.claim_token, status ? code : NULL, dur,
	result->ok ? NULL : result->error};
	PGresult   *res;
	bool		ok;

	snprintf(id, sizeof(id), "%lld", row->base.id);
	snprintf(code, sizeof(code), "%ld", status);
	snprintf(dur, sizeof(dur), "%d", ms);
	res = PQexecParams(conn,
					   "SELECT taskmgmt.webhook_log_attempt($1::bigint, $2::uuid, $3::int, $4::int, $5)",
					   5, NULL, params, NULL, NULL, 0);
	ok = PQresultStatus(res) == PGRES_TUPLES_OK;
	if (!ok)
		mlog("database: logging webhook %lld failed: %s", row->base.id, PQerrorMessage(conn));
	PQclear(res);
	return ok;
}

/* Delivers one claimed row and records the outcome; false if the database broke. */
static bool
deliver(Outbox *ob, const MailerConfig *cfg, const WebhookRow *row)
{
	PGconn	   *conn = outbox_conn(ob);
	SendResult	result;
	long		status;
	int			ms;
	char		new_status[32] = "";

	post(conn, cfg, row, &result, &status, &ms);
	if (!log_attempt(conn, row, status, ms, &result))
		return false;
	if (result.ok)
	{
		if (!outbox_mark_sent(ob, &row->base))
			return false;
		mlog("webhook %lld delivered to %s (HTTP %ld, %d ms) %s", row->base.id, row->base.recipient,
			 status, ms, row->base.message_id);
		return true;
	}
	if (!outbox_mark_failed(ob, &row->base, &result, new_status, sizeof(new_status)))
		return false;
	mlog("webhook attempt %d for %lld to %s failed (%s), now %s", row->base.attempts, row->base.id,
		 row->base.recipient, result.error, new_status);
	return true;
}

/*
 * One round: returns how many rows were claimed (the caller goes on at
 * once when that was a whole batch), or -1 when the database broke.  A
 * signal (*stop) ends it after the delivery in flight.
 */
int
webhook_round(Outbox *ob, const MailerConfig *cfg, volatile int *stop)
{
	WebhookRow *rows;
	int			n = claim(outbox_conn(ob), cfg, &rows);
	int			done = 0;
	struct timespec t0,
				t;

	if (n <= 0)
		return n;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (; done < n && !*stop; done++)
	{
		/* a delivery must end inside our lease, as for mail */
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > cfg->lease - cfg->webhook_timeout - 1)
			break;
		if (!deliver(ob, cfg, &rows[done]))
			break;
	}
	for (int i = done; i < n && outbox_ok(ob); i++)
		outbox_release(ob, &rows[i].base);
	free_rows(rows, n);
	return outbox_ok(ob) ? n : -1;
}
