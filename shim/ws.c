/*
 * ws.c: GET /api/v1/notifications/ws.
 *
 * A NOTIFY (listen.c) names a user by their notification key, an opaque
 * per-user MAC (taskmgmt._notification_key): it wakes the sockets of the
 * user with that key, and they fetch what they have not seen yet (id >
 * last sent) through the pool with a socket's own token, so RLS decides
 * what they get and the JSON comes from the database.  The same fetch
 * authenticates a socket (and tells it its user's key), does the catch-up
 * after "since", and runs for every socket after the LISTEN connection
 * came back (what was announced while it was down is re-sent).
 *
 * Anyone connected to the database may LISTEN and NOTIFY on the channel
 * (PostgreSQL has no privilege for either): a payload is only a hint to
 * look, never trusted for what it says.  Sockets are found by key in a
 * hash (key_buckets), so a key of nobody here costs a lookup and nothing
 * more, and wakes are rate-limited per user (wake_user), so a flood of
 * forged NOTIFYs costs few queries.
 *
 * h2o 2.2.5 + wslay give no ping, idle timeout or send-queue bound: a 1 s
 * sweep pings, closes silent sockets and expired tokens; the queue is
 * capped.  conn->sock is NULL until the 101 is written.
 */
#include "shim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* at most one wake-up fetch per user per interval (see wake_user) */
#define WS_WAKE_INTERVAL_MS 500
/* key_buckets: indexed by the first two characters of a key (12 bits) */
#define WS_KEY_BUCKETS 4096

typedef struct ws_client
{
	h2o_websocket_conn_t *conn;
	h2o_linklist_t link;
	char	   *token;
	int64_t		user_id;			/* 0 until authenticated */
	int64_t		last_id;
	int64_t		exp;				/* token expiry, unix seconds */
	db_query   *q;
	int			again;				/* fetch again when the current one ends */
	int			group;				/* q fetches for all of this user's sockets */
	unsigned	wake_pass;
	char		key[WS_KEY_LEN + 1];	/* the user's notification key, "" until known */
	h2o_linklist_t key_link;		/* in key_buckets once the key is known */
	uint64_t	woke_at;			/* loop ms when a wake last fetched for this user */
	h2o_timeout_entry_t wake_entry;	/* a wake put off by the rate limit */
	int			flushing;
	int			dead;
	int			sndbuf_set;
	time_t		opened;
	time_t		last_seen;
	time_t		last_ping;
	time_t		close_deadline;
} ws_client;

static h2o_linklist_t clients;
static struct timespec notified_at;	/* when the last NOTIFY arrived */
static h2o_timeout_t sweep_timeout;
static h2o_timeout_entry_t sweep_entry;
static h2o_timeout_t wake_timeout;	/* WS_WAKE_INTERVAL_MS */
static h2o_linklist_t key_buckets[WS_KEY_BUCKETS];
/*
 * Sockets whose first fetch (the one that authenticates and tells the key)
 * is in flight, linked by key_link: a NOTIFY that arrives meanwhile may be
 * for them, after that fetch's snapshot, so they fetch once more.
 */
static h2o_linklist_t unkeyed;

static void fetch(ws_client *c);
static void wake_user(int64_t uid, int64_t id);
static void on_wake_due(h2o_timeout_entry_t *e);

/*
 * Keys are MACs in base64url, uniformly spread: the low 6 bits of two
 * characters pick the bucket (a few characters share their low bits, which
 * only makes some buckets twice as likely).
 */
static h2o_linklist_t *
key_bucket(const char *key)
{
	return &key_buckets[(((unsigned char) key[0] & 63) << 6) | ((unsigned char) key[1] & 63)];
}

static void
client_free(ws_client *c)
{
	if (h2o_timeout_is_linked(&c->wake_entry))
	{
		/* a wake put off for this user: another of their sockets keeps it */
		h2o_timeout_unlink(&c->wake_entry);
		for (h2o_linklist_t *l = clients.next; l != &clients; l = l->next)
		{
			ws_client  *o = H2O_STRUCT_FROM_MEMBER(ws_client, link, l);

			if (o != c && o->user_id == c->user_id && !o->dead && !h2o_timeout_is_linked(&o->wake_entry))
			{
				h2o_timeout_link(shim_loop, &wake_timeout, &o->wake_entry);
				break;
			}
		}
	}
	if (h2o_linklist_is_linked(&c->key_link))
		h2o_linklist_unlink(&c->key_link);
	if (c->q)
	{
		c->q->owner = NULL;
		db_abandon(c->q);
		/* the user's other sockets were waiting on this fetch: the sweep retries */
		if (c->group)
			for (h2o_linklist_t *l = clients.next; l != &clients; l = l->next)
			{
				ws_client  *o = H2O_STRUCT_FROM_MEMBER(ws_client, link, l);

				if (o != c && o->user_id == c->user_id)
					o->again = 1;
			}
	}
	h2o_linklist_unlink(&c->link);
	metrics_ws(-1);
	free(c->token);
	free(c);
}

/* Sends what wslay queued; returns 0 when the client is gone. */
static int
flush(ws_client *c)
{
	if (c->dead)
		return 0;
	if (c->conn->sock == NULL)
		return 1;
	if (!c->sndbuf_set)
	{
		/*
		 * Notifications are small: a small kernel send buffer makes a client
		 * that stops reading hit our queue cap soon, instead of parking
		 * megabytes in the kernel.
		 */
		int			size = 32 * 1024;

		setsockopt(h2o_socket_get_fd(c->conn->sock), SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
		c->sndbuf_set = 1;
	}
	c->flushing = 1;
	h2o_websocket_proceed(c->conn);
	c->flushing = 0;
	if (c->dead)
	{
		client_free(c);
		return 0;
	}
	return 1;
}

static void
hard_close(ws_client *c)
{
	h2o_websocket_close(c->conn);
	c->dead = 1;
	if (!c->flushing)
		client_free(c);
}

static void
queue_close(ws_client *c, uint16_t code, const char *reason)
{
	wslay_event_queue_close(c->conn->ws_ctx, code, (const uint8_t *) reason, strlen(reason));
	if (!c->close_deadline)
		c->close_deadline = time(NULL) + 2;
}

static int
queue_text(ws_client *c, const char *s, size_t n)
{
	struct wslay_event_msg msg = {WSLAY_TEXT_FRAME, (const uint8_t *) s, n};

	if (wslay_event_queue_msg(c->conn->ws_ctx, &msg) != 0)
		return -1;
	/* a client that stops reading must not grow our memory */
	if (wslay_event_get_queued_msg_length(c->conn->ws_ctx) > cfg.ws_max_queue)
		return -1;
	return 0;
}

static int
user_sockets(int64_t uid)
{
	int			n = 0;

	for (h2o_linklist_t *l = clients.next; l != &clients; l = l->next)
	{
		ws_client  *o = H2O_STRUCT_FROM_MEMBER(ws_client, link, l);

		n += o->user_id == uid && !o->dead;
	}
	return n;
}

/*
 * The user's notification key, from a catch-up result (column 4).  It only
 * changes if the DBA replaced signing_keys.notify_secret.
 */
static void
set_key(ws_client *c, PGresult *res)
{
	const char *k;

	if (PQnfields(res) < 5 || PQgetisnull(res, 0, 4) || PQgetlength(res, 0, 4) != WS_KEY_LEN)
		return;
	k = PQgetvalue(res, 0, 4);
	if (strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != WS_KEY_LEN ||
		strcmp(k, c->key) == 0)
		return;
	if (h2o_linklist_is_linked(&c->key_link))
		h2o_linklist_unlink(&c->key_link);
	memcpy(c->key, k, WS_KEY_LEN + 1);
	h2o_linklist_insert(key_bucket(c->key), &c->key_link);
}

static void
on_fetch_done(db_query *q, PGresult *res)
{
	ws_client  *c = q->owner;
	int			n,
				rows_with_items = 0;

	c->q = NULL;
	if (c->dead)
		return;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1)
	{
		const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

		if (state && (strncmp(state, "28", 2) == 0))
			queue_close(c, 1008, "invalid or expired token");
		else if (c->user_id == 0)
			queue_close(c, 1013, "try again later");
		else
			c->again = 1;		/* database trouble: retried by the sweep */
		flush(c);
		return;
	}
	int64_t		uid = strtoll(PQgetvalue(res, 0, 0), NULL, 10);

	if (c->user_id && uid != c->user_id)
	{
		queue_close(c, 1008, "the token belongs to another user");
		flush(c);
		return;
	}
	if (c->user_id == 0 && user_sockets(uid) >= cfg.ws_max_per_user)
	{
		queue_close(c, 1008, "too many connections for this user");
		flush(c);
		return;
	}
	c->user_id = uid;
	if (!PQgetisnull(res, 0, 1))
		c->exp = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	set_key(c, res);
	if (c->key[0] == '\0' && h2o_linklist_is_linked(&c->key_link))
		h2o_linklist_unlink(&c->key_link);	/* no key (an old catalog): no wakes */
	n = PQntuples(res);
	for (int i = 0; i < n; i++)
	{
		if (PQgetisnull(res, i, 3))
			continue;
		int64_t		id = strtoll(PQgetvalue(res, i, 2), NULL, 10);

		rows_with_items++;
		if (id <= c->last_id)
			continue;
		if (queue_text(c, PQgetvalue(res, i, 3), (size_t) PQgetlength(res, i, 3)) < 0)
		{
			hard_close(c);
			return;
		}
		c->last_id = id;
		metrics_ws_relayed();
	}
	/* a full page means there may be more */
	if (rows_with_items >= WS_CATCHUP_LIMIT)
		c->again = 1;
	if (!flush(c))
		return;
	if (c->again)
		fetch(c);
}

static void
fetch(ws_client *c)
{
	char		since[24];
	db_query   *q;

	if (c->dead || c->close_deadline)
		return;
	if (c->q)
	{
		c->again = 1;
		return;
	}
	c->again = 0;
	if (c->key[0] == '\0' && !h2o_linklist_is_linked(&c->key_link))
		h2o_linklist_insert(&unkeyed, &c->key_link);
	q = db_query_new(ROUTE_WS_CATCHUP);
	db_query_param(q, c->token, strlen(c->token));
	snprintf(since, sizeof(since), "%lld", (long long) c->last_id);
	db_query_param(q, since, strlen(since));
	q->on_done = on_fetch_done;
	q->owner = c;
	c->q = q;
	metrics_ws_catchup();
	if (db_submit(q) < 0)
	{
		c->q = NULL;
		if (c->user_id == 0)
		{
			queue_close(c, 1013, "the database is unavailable");
			flush(c);
		}
		else
			c->again = 1;
	}
}

/*
 * A NOTIFY wakes a user: one fetch, with the token of one of the user's
 * sockets and "since" the oldest of their positions, serves all of them,
 * so 1,000 sockets of one user cost one query instead of 1,000.
 */
static void
on_group_done(db_query *q, PGresult *res)
{
	ws_client  *leader = q->owner;
	int64_t		uid = leader->user_id;
	int			n,
				items = 0,
				delivered = 0;

	leader->q = NULL;
	leader->group = 0;
	if (leader->dead)
		return;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1 ||
		strtoll(PQgetvalue(res, 0, 0), NULL, 10) != uid)
	{
		const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

		/* this socket's token no longer works; the others try their own */
		for (h2o_linklist_t *l = clients.next; l != &clients; l = l->next)
		{
			ws_client  *o = H2O_STRUCT_FROM_MEMBER(ws_client, link, l);

			if (o->user_id == uid)
				o->again = 1;
		}
		if (state && strncmp(state, "28", 2) == 0)
		{
			leader->again = 0;
			queue_close(leader, 1008, "invalid or expired token");
			flush(leader);
		}
		return;
	}
	if (!PQgetisnull(res, 0, 1))
		leader->exp = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	set_key(leader, res);
	/* a wake that came while this ran: one more round after it (leader may go) */
	int			rerun = leader->again;

	leader->again = 0;
	n = PQntuples(res);
	for (int i = 0; i < n; i++)
		items += !PQgetisnull(res, i, 3);
	h2o_linklist_t *l = clients.next;

	while (l != &clients)
	{
		ws_client  *o = H2O_STRUCT_FROM_MEMBER(ws_client, link, l);
		int			sent = 0;

		l = l->next;
		if (o->user_id != uid || o->dead || o->close_deadline)
			continue;
		for (int i = 0; i < n; i++)
		{
			int64_t		id;

			if (PQgetisnull(res, i, 3))
				continue;
			id = strtoll(PQgetvalue(res, i, 2), NULL, 10);
			if (id <= o->last_id)
				continue;
			if (queue_text(o, PQgetvalue(res, i, 3), (size_t) PQgetlength(res, i, 3)) < 0)
			{
				sent = -1;
				break;
			}
			o->last_id = id;
			metrics_ws_relayed();
			sent = 1;
		}
		if (sent < 0)
		{
			/* l already points past o, so freeing o is safe */
			hard_close(o);
			continue;
		}
		if (items >= WS_CATCHUP_LIMIT)
			o->again = 1;
		if (sent)
		{
			delivered++;
			flush(o);
		}
	}
	if (delivered)
	{
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		metrics_ws_fanout((now.tv_sec - notified_at.tv_sec) + (now.tv_nsec - notified_at.tv_nsec) / 1e9,
						  delivered);
	}
	if (rerun)
		wake_user(uid, 0);
}

static void
fetch_group(ws_client *leader)
{
	char		since[24];
	int64_t		min_id = leader->last_id;
	db_query   *q;

	for (h2o_linklist_t *l = clients.next; l != &clients; l = l->next)
	{
		ws_client  *o = H2O_STRUCT_FROM_MEMBER(ws_client, link, l);

		if (o->user_id == leader->user_id && !o->dead && o->last_id < min_id)
			min_id = o->last_id;
	}
	q = db_query_new(ROUTE_WS_CATCHUP);
	db_query_param(q, leader->token, strlen(leader->token));
	snprintf(since, sizeof(since), "%lld", (long long) min_id);
	db_query_param(q, since, strlen(since));
	q->on_done = on_group_done;
	q->owner = leader;
	leader->q = q;
	leader->group = 1;
	metrics_ws_catchup();
	if (db_submit(q) < 0)
	{
		leader->q = NULL;
		leader->group = 0;
		leader->again = 1;
	}
}

/* Pulls "key": <string or integer> out of a small client frame. */
static int
frame_field(const char *s, size_t n, const char *key, const char **val, size_t *len, int *is_string)
{
	size_t		kl = strlen(key);

	for (size_t i = 0; i + kl + 2 <= n; i++)
	{
		if (s[i] != '"' || memcmp(s + i + 1, key, kl) != 0 || s[i + kl + 1] != '"')
			continue;
		size_t		k = i + kl + 2;

		while (k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '\r'))
			k++;
		if (k >= n || s[k] != ':')
			return 0;
		k++;
		while (k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '\r'))
			k++;
		if (k < n && s[k] == '"')
		{
			size_t		e = k + 1;

			while (e < n && s[e] != '"' && s[e] != '\\')
				e++;
			if (e >= n || s[e] != '"')
				return 0;
			*val = s + k + 1;
			*len = e - k - 1;
			*is_string = 1;
			return 1;
		}
		size_t		e = k;

		while (e < n && s[e] >= '0' && s[e] <= '9')
			e++;
		if (e == k || e - k > 18)
			return 0;
		*val = s + k;
		*len = e - k;
		*is_string = 0;
		return 1;
	}
	return 0;
}

static void
on_frame(ws_client *c, const struct wslay_event_on_msg_recv_arg *arg)
{
	const char *s = (const char *) arg->msg,
			   *v;
	size_t		n = arg->msg_length,
				len;
	int			str;

	if (arg->opcode != WSLAY_TEXT_FRAME)
	{
		if (arg->opcode == WSLAY_BINARY_FRAME)
			queue_close(c, 1003, "text frames only");
		return;
	}
	if (!frame_field(s, n, "access_token", &v, &len, &str) || !str || len == 0 || len > 4096)
	{
		queue_close(c, 1008, "expected {\"access_token\": \"...\", \"since\": ID}");
		return;
	}
	free(c->token);
	c->token = strndup(v, len);
	if (frame_field(s, n, "since", &v, &len, &str) && !str && c->user_id == 0)
		c->last_id = strtoll(v, NULL, 10);
	/* a new token (refresh) re-authenticates and extends the socket's life */
	fetch(c);
}

static void
on_ws_msg(h2o_websocket_conn_t *conn, const struct wslay_event_on_msg_recv_arg *arg)
{
	ws_client  *c = conn->data;

	if (arg == NULL)
	{
		/* closed by the peer or an I/O error */
		h2o_websocket_close(conn);
		c->dead = 1;
		if (!c->flushing)
			client_free(c);
		return;
	}
	c->last_seen = time(NULL);
	/* no flush here: we are inside wslay's receive loop, h2o sends after it */
	on_frame(c, arg);
}

int
ws_handle(h2o_req_t *req)
{
	const char *key = NULL;
	ssize_t		i;
	ws_client  *c;

	if (h2o_is_websocket_handshake(req, &key) != 0 || key == NULL)
	{
		send_problem(req, 400, "websocket_required", "this route needs a websocket upgrade", NULL, 0);
		return 0;
	}
	/* tokens in URLs end up in logs and histories */
	if (req->query_at != SIZE_MAX)
	{
		send_problem(req, 400, "bad_parameter",
					 "query parameters are refused; send the token in the Authorization header or the first frame",
					 NULL, 0);
		return 0;
	}
	i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("origin"), -1);
	if (i >= 0 && !origin_allowed(req, req->headers.entries[i].value.base, req->headers.entries[i].value.len))
	{
		send_problem(req, 403, "forbidden_origin", "this Origin is not allowed", NULL, 0);
		return 0;
	}
	c = calloc(1, sizeof(*c));
	i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
	if (i >= 0)
	{
		h2o_iovec_t v = req->headers.entries[i].value;

		if (v.len <= 7 || !h2o_lcstris(v.base, 7, H2O_STRLIT("bearer ")) || v.len > 4096)
		{
			free(c);
			send_problem(req, 401, "unauthorized", "the Authorization header is not a bearer token", NULL, 0);
			return 0;
		}
		c->token = strndup(v.base + 7, v.len - 7);
	}
	c->opened = c->last_seen = c->last_ping = time(NULL);
	c->wake_entry.cb = on_wake_due;
	h2o_linklist_insert(&clients, &c->link);
	metrics_ws(1);
	c->conn = h2o_upgrade_to_websocket(req, key, c, on_ws_msg);
	wslay_event_config_set_max_recv_msg_length(c->conn->ws_ctx, cfg.ws_max_frame);
	if (c->token)
		fetch(c);
	return 0;
}

/* Once a second: pings, silent sockets, expired tokens, retries. */
static void
on_sweep(h2o_timeout_entry_t *e)
{
	time_t		now = time(NULL);
	h2o_linklist_t *l = clients.next;

	while (l != &clients)
	{
		ws_client  *c = H2O_STRUCT_FROM_MEMBER(ws_client, link, l);

		l = l->next;
		/*
		 * Until the 101 is written h2o still owns the connection and would
		 * call us back on it: closing it here would free it under h2o.
		 */
		if (c->conn->sock == NULL)
			continue;
		if (c->close_deadline && now >= c->close_deadline)
		{
			hard_close(c);
			continue;
		}
		if (c->close_deadline)
			continue;
		if (c->user_id == 0 && now - c->opened >= 10 && c->q == NULL)
			queue_close(c, 1008, "authentication required");
		else if (c->exp && now >= c->exp)
			queue_close(c, 1008, "token expired");
		else if (now - c->last_seen > 2 * cfg.ws_ping_s)
		{
			hard_close(c);
			continue;
		}
		else if (now - c->last_ping >= cfg.ws_ping_s && c->conn->sock)
		{
			struct wslay_event_msg ping = {WSLAY_PING, (const uint8_t *) "", 0};

			wslay_event_queue_msg(c->conn->ws_ctx, &ping);
			c->last_ping = now;
		}
		else if (c->again && c->q == NULL && c->user_id)
			fetch(c);
		if (!c->dead)
			flush(c);
	}
	h2o_timeout_link(shim_loop, &sweep_timeout, &sweep_entry);
}

/*
 * A NOTIFY (or the listener coming back) wakes a user: one group fetch for
 * all of the user's sockets.  uid 0: every user; id 0: whatever is new.
 * Anyone connected to the database can NOTIFY, so wakes are rate-limited
 * per user: at most one fetch per WS_WAKE_INTERVAL_MS.  A wake inside the
 * interval is put off to its end, coalesced with every other wake until
 * then, so a flood of forged NOTIFYs costs each connected user at most
 * 1000 / WS_WAKE_INTERVAL_MS catch-up queries a second in each worker
 * holding their sockets, and a real notification waits that long at most.
 */
static void
wake_user(int64_t uid, int64_t id)
{
	static unsigned pass;
	uint64_t	now = h2o_now(shim_loop);

	pass++;
	for (h2o_linklist_t *l = clients.next; l != &clients; l = l->next)
	{
		ws_client  *c = H2O_STRUCT_FROM_MEMBER(ws_client, link, l);
		ws_client  *running = NULL,
				   *idle = NULL;
		int			put_off = 0;
		uint64_t	last = 0;

		if (c->dead || !c->user_id || c->close_deadline || c->wake_pass == pass ||
			(uid && c->user_id != uid) || (id && id <= c->last_id))
			continue;
		/* once per user and pass */
		for (h2o_linklist_t *m = clients.next; m != &clients; m = m->next)
		{
			ws_client  *o = H2O_STRUCT_FROM_MEMBER(ws_client, link, m);

			if (o->user_id != c->user_id)
				continue;
			o->wake_pass = pass;
			if (o->q && o->group)
				running = o;
			put_off |= h2o_timeout_is_linked(&o->wake_entry);
			if (o->woke_at > last)
				last = o->woke_at;
			if (!idle && !o->dead && !o->close_deadline && o->q == NULL && o->token)
				idle = o;
		}
		if (running)
			running->again = 1; /* a group fetch is running: it wakes again after */
		else if (put_off)
			continue;			/* already due at the end of the interval */
		else if (idle && now - last >= WS_WAKE_INTERVAL_MS)
		{
			idle->woke_at = now;
			fetch_group(idle);
		}
		else
			h2o_timeout_link(shim_loop, &wake_timeout, &c->wake_entry);
	}
}

static void
on_wake_due(h2o_timeout_entry_t *e)
{
	ws_client  *c = H2O_STRUCT_FROM_MEMBER(ws_client, wake_entry, e);

	wake_user(c->user_id, 0);
}

/*
 * A NOTIFY arrived (listen.c) naming this key (NULL: none, or malformed).
 * Only the sockets in the key's bucket are looked at until a wake is due,
 * so a flood costs a hash lookup per NOTIFY, whatever the number of
 * sockets.
 */
void
ws_notified(const char *key, int64_t id)
{
	h2o_linklist_t *b;
	ws_client  *found = NULL,
			   *running = NULL;
	int			put_off = 0,
				behind = 0;

	clock_gettime(CLOCK_MONOTONIC, &notified_at);
	metrics_ws_notify();
	if (key == NULL)
		return;
	for (h2o_linklist_t *l = unkeyed.next; l != &unkeyed; l = l->next)
	{
		ws_client  *o = H2O_STRUCT_FROM_MEMBER(ws_client, key_link, l);

		if (o->q)
			o->again = 1;
	}
	b = key_bucket(key);
	for (h2o_linklist_t *l = b->next; l != b; l = l->next)
	{
		ws_client  *o = H2O_STRUCT_FROM_MEMBER(ws_client, key_link, l);

		if (o->dead || o->close_deadline || strcmp(o->key, key) != 0)
			continue;
		found = o;
		if (o->q && o->group)
			running = o;
		put_off |= h2o_timeout_is_linked(&o->wake_entry);
		behind |= id == 0 || id > o->last_id;
	}
	if (!found || !behind)
		return;					/* nobody here, or an id every socket has */
	if (running)
		running->again = 1;		/* as wake_user would */
	else if (!put_off)
		wake_user(found->user_id, id);
}

/* The listener came back: what was announced while it was down is fetched. */
void
ws_catch_up(void)
{
	wake_user(0, 0);
}

void
ws_init(h2o_loop_t *loop)
{
	h2o_linklist_init_anchor(&clients);
	h2o_linklist_init_anchor(&unkeyed);
	for (int i = 0; i < WS_KEY_BUCKETS; i++)
		h2o_linklist_init_anchor(&key_buckets[i]);
	h2o_timeout_init(loop, &sweep_timeout, 1000);
	h2o_timeout_init(loop, &wake_timeout, WS_WAKE_INTERVAL_MS);
	sweep_entry.cb = on_sweep;
	h2o_timeout_link(loop, &sweep_timeout, &sweep_entry);
}
