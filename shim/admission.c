/*
 * admission.c: fair admission to the routes that spend a bcrypt (sign-in,
 * registration, password change).
 *
 * At most cfg.slow_cap such statements run at once, since each holds a
 * database connection and a core for a quarter of a second.  A request that
 * finds them all taken waits in the queue of its client address; queues are
 * served round-robin, so a client flooding from one address gets one turn
 * in N when N addresses wait, and cannot starve the others.  An address may
 * queue cfg.slow_queue_per_client requests (all addresses together
 * cfg.slow_queue); beyond that, and after cfg.slow_wait_ms in the queue, the
 * request is answered 503 with Retry-After.  The database's own throttling
 * (per email and address) is separate: this protects the CPU, that the
 * passwords.
 *
 * The client address is the peer's, or with --trust-proxy the last entry of
 * X-Forwarded-For (what the proxy in front saw); IPv6 addresses count by
 * /64, the block one host usually has.
 */
#define _GNU_SOURCE				/* memrchr */
#include "shim.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef struct slow_client slow_client;

struct slow_waiter
{
	h2o_linklist_t link;		/* in its client's queue, oldest first */
	slow_client *client;
	h2o_req_t  *req;
	int			route;
	db_query   *q;
	admission_go go;
	h2o_timeout_entry_t deadline;
};

/* An address with requests waiting; in the round-robin ring while it has any. */
struct slow_client
{
	h2o_linklist_t ring;
	h2o_linklist_t waiters;
	int			n_waiting;
	char		addr[INET6_ADDRSTRLEN + 4];
};

static struct
{
	int			running;
	int			waiting;
	h2o_linklist_t ring;		/* slow_client; the head is served next */
	h2o_timeout_t wait_timeout;
} adm;

/* ---- the client's address ---- */

/* s (len bytes, blanks around allowed) as a numeric address in buf; 0 if it is not one */
static int
parse_addr(const char *s, size_t len, unsigned char raw[16], int *family)
{
	char		tmp[INET6_ADDRSTRLEN + 1];

	while (len && (s[0] == ' ' || s[0] == '\t'))
		s++, len--;
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len == 0 || len >= sizeof(tmp))
		return 0;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (inet_pton(AF_INET, tmp, raw) == 1)
		*family = AF_INET;
	else if (inet_pton(AF_INET6, tmp, raw) == 1)
		*family = AF_INET6;
	else
		return 0;
	return 1;
}

/* The peer, or with --trust-proxy the last X-Forwarded-For entry if it is an address. */
static int
client_raw(h2o_req_t *req, unsigned char raw[16], int *family)
{
	struct sockaddr_storage ss;
	socklen_t	len;

	if (cfg.trust_proxy)
	{
		ssize_t		i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-forwarded-for"), -1);

		if (i >= 0)
		{
			h2o_iovec_t v = req->headers.entries[i].value;
			const char *comma = memrchr(v.base, ',', v.len);
			size_t		off = comma ? (size_t) (comma - v.base) + 1 : 0;

			if (parse_addr(v.base + off, v.len - off, raw, family))
				return 1;
		}
	}
	len = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *) &ss);
	if (len > 0 && ss.ss_family == AF_INET)
	{
		memcpy(raw, &((struct sockaddr_in *) &ss)->sin_addr, 4);
		*family = AF_INET;
		return 1;
	}
	if (len > 0 && ss.ss_family == AF_INET6)
	{
		memcpy(raw, &((struct sockaddr_in6 *) &ss)->sin6_addr, 16);
		*family = AF_INET6;
		return 1;
	}
	return 0;
}

/* an IPv4-mapped IPv6 address (a dual-stack listener's IPv4 client) as IPv4 */
static void
unmap_v4(unsigned char raw[16], int *family)
{
	static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (*family == AF_INET6 && memcmp(raw, v4mapped, 12) == 0)
	{
		memmove(raw, raw + 12, 4);
		*family = AF_INET;
	}
}

/* The client's address as text ("" if unknown): what the database counts sign-ins against. */
void
client_address(h2o_req_t *req, char *buf, size_t size)
{
	unsigned char raw[16];
	int			family;

	buf[0] = '\0';
	if (!client_raw(req, raw, &family))
		return;
	unmap_v4(raw, &family);
	if (inet_ntop(family, raw, buf, size) == NULL)
		buf[0] = '\0';
}

/* The queue an address waits in: IPv4 as is, IPv6 by /64. */
static void
client_key(h2o_req_t *req, char *buf, size_t size)
{
	unsigned char raw[16];
	int			family;

	if (!client_raw(req, raw, &family))
	{
		snprintf(buf, size, "unknown");
		return;
	}
	unmap_v4(raw, &family);
	if (family == AF_INET6)
		memset(raw + 8, 0, 8);
	if (inet_ntop(family, raw, buf, size) == NULL)
		snprintf(buf, size, "unknown");
}

/* ---- the queue ---- */

static void admit_next(void);

static void
released(void)
{
	adm.running--;
	admit_next();
}

static void
start(slow_waiter *w)
{
	adm.running++;
	w->q->on_free = released;
	w->go(w->req, w->route, w->q);
}

static void
leave_queue(slow_waiter *w)
{
	slow_client *c = w->client;

	h2o_linklist_unlink(&w->link);
	if (h2o_timeout_is_linked(&w->deadline))
		h2o_timeout_unlink(&w->deadline);
	w->client = NULL;
	adm.waiting--;
	if (--c->n_waiting == 0)
	{
		h2o_linklist_unlink(&c->ring);
		free(c);
	}
}

/* A free slot: the oldest request of the next address in the ring. */
static void
admit_next(void)
{
	while (adm.running < cfg.slow_cap && !h2o_linklist_is_empty(&adm.ring))
	{
		slow_client *c = H2O_STRUCT_FROM_MEMBER(slow_client, ring, adm.ring.next);
		slow_waiter *w = H2O_STRUCT_FROM_MEMBER(slow_waiter, link, c->waiters.next);

		/* the address goes to the back of the ring for its next turn */
		h2o_linklist_unlink(&c->ring);
		h2o_linklist_insert(&adm.ring, &c->ring);
		leave_queue(w);
		start(w);
	}
}

static void
on_deadline(h2o_timeout_entry_t *e)
{
	slow_waiter *w = H2O_STRUCT_FROM_MEMBER(slow_waiter, deadline, e);

	leave_queue(w);
	db_query_free(w->q);
	w->q = NULL;
	metrics_slow_refused();
	send_problem(w->req, 503, "busy", "too many sign-in requests at once, try again shortly", NULL, 1);
}

/* the request went away while it waited */
static void
waiter_dispose(void *p)
{
	slow_waiter *w = p;

	if (w->client)
	{
		leave_queue(w);
		db_query_free(w->q);
	}
}

void
admission_init(h2o_loop_t *loop)
{
	h2o_linklist_init_anchor(&adm.ring);
	h2o_timeout_init(loop, &adm.wait_timeout, (uint64_t) cfg.slow_wait_ms);
}

void
admission_submit(h2o_req_t *req, int route, db_query *q, admission_go go)
{
	char		addr[INET6_ADDRSTRLEN + 4];
	slow_client *c = NULL;
	slow_waiter *w;

	if (adm.running < cfg.slow_cap && adm.waiting == 0)
	{
		adm.running++;
		q->on_free = released;
		go(req, route, q);
		return;
	}
	client_key(req, addr, sizeof(addr));
	for (h2o_linklist_t *l = adm.ring.next; l != &adm.ring; l = l->next)
	{
		slow_client *x = H2O_STRUCT_FROM_MEMBER(slow_client, ring, l);

		if (strcmp(x->addr, addr) == 0)
		{
			c = x;
			break;
		}
	}
	if (adm.waiting >= cfg.slow_queue || (c && c->n_waiting >= cfg.slow_queue_per_client))
	{
		db_query_free(q);
		metrics_slow_refused();
		send_problem(req, 503, "busy", "too many sign-in requests at once, try again shortly", NULL, 1);
		return;
	}
	if (c == NULL)
	{
		c = calloc(1, sizeof(*c));
		snprintf(c->addr, sizeof(c->addr), "%s", addr);
		h2o_linklist_init_anchor(&c->waiters);
		/* a new address is served before those that just had a turn */
		h2o_linklist_insert(adm.ring.next, &c->ring);
	}
	w = h2o_mem_alloc_shared(&req->pool, sizeof(*w), waiter_dispose);
	memset(w, 0, sizeof(*w));
	w->client = c;
	w->req = req;
	w->route = route;
	w->q = q;
	w->go = go;
	w->deadline.cb = on_deadline;
	h2o_linklist_insert(&c->waiters, &w->link);
	c->n_waiting++;
	adm.waiting++;
	h2o_timeout_link(shim_loop, &adm.wait_timeout, &w->deadline);
}

void
admission_stats(int *running, int *waiting)
{
	*running = adm.running;
	*waiting = adm.waiting;
}
