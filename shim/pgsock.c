/*
 * pgsock.c: a libpq connection on the h2o event loop: its socket watched,
 * and connecting without blocking, again after every failure.
 *
 * We wrap a dup() of PQsocket(), created with H2O_SOCKET_FLAG_DONT_READ so
 * h2o only reports readiness and libpq does all the reading.  The dup is
 * needed because h2o_socket_close() closes the fd it was given, and libpq
 * reuses fd numbers after a reconnect; the (device, inode) pair tells
 * whether libpq switched sockets during connection set-up.
 */
#include "shim.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

void
pgw_attach(pg_watch *w, h2o_loop_t *loop, PGconn *conn, h2o_socket_cb on_read)
{
	int			fd = PQsocket(conn);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) != 0)
	{
		pgw_detach(w);
		return;
	}
	if (w->sock == NULL || st.st_dev != w->dev || st.st_ino != w->ino)
	{
		int			copy;

		pgw_detach(w);
		copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (copy < 0)
			return;
		w->sock = h2o_evloop_socket_create(loop, copy, H2O_SOCKET_FLAG_DONT_READ);
		w->sock->data = w->data;
		w->dev = st.st_dev;
		w->ino = st.st_ino;
	}
	h2o_socket_read_start(w->sock, on_read);
}

void
pgw_detach(pg_watch *w)
{
	if (w->sock)
	{
		h2o_socket_read_stop(w->sock);
		h2o_socket_close(w->sock);
		w->sock = NULL;
	}
	w->want_write = 0;
}

/* h2o asserts that no write notification is pending: track ours. */
void
pgw_want_write(pg_watch *w, h2o_socket_cb on_write)
{
	if (w->sock && !w->want_write)
	{
		w->want_write = 1;
		h2o_socket_notify_write(w->sock, on_write);
	}
}

/*
 * Connecting: PQconnectPoll says which readiness it waits for; the socket
 * may change between steps (pgw_attach follows it).  A failed attempt or
 * a lost connection is handed to the owner's on_failed, which cleans up
 * and calls pgc_retry(): the connection is closed and tried again after
 * 250 ms, for as long as it takes.
 */
static h2o_timeout_t retry_timeout;

static void on_connect_read(h2o_socket_t *sock, const char *err);
static void on_connect_write(h2o_socket_t *sock, const char *err);

static void
connect_step(pg_conn *c)
{
	switch (PQconnectPoll(c->pg))
	{
		case PGRES_POLLING_OK:
			c->connecting = 0;
			c->on_ready(c);
			break;
		case PGRES_POLLING_READING:
			pgw_attach(&c->w, c->loop, c->pg, on_connect_read);
			break;
		case PGRES_POLLING_WRITING:
			pgw_attach(&c->w, c->loop, c->pg, on_connect_read);
			pgw_want_write(&c->w, on_connect_write);
			break;
		default:
			c->connecting = 0;
			c->on_failed(c);
	}
}

/* A readiness left over from the attempt is ignored once it is over. */
static void
on_connect_read(h2o_socket_t *sock, const char *err)
{
	pg_conn    *c = sock->data;

	if (c->connecting)
		connect_step(c);
}

static void
on_connect_write(h2o_socket_t *sock, const char *err)
{
	pg_conn    *c = sock->data;

	c->w.want_write = 0;
	if (c->connecting)
		connect_step(c);
}

/*
 * One attempt.  expand_dbname: DATABASE_URL (a URI or key=value string) is
 * the dbname, and the later keywords add settings to it.
 */
static void
pgc_connect(pg_conn *c)
{
	c->pg = PQconnectStartParams(c->keywords, c->values, 1);
	if (c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD)
	{
		c->on_failed(c);
		return;
	}
	PQsetnonblocking(c->pg, 1);
	c->connecting = 1;
	pgw_attach(&c->w, c->loop, c->pg, on_connect_read);
	pgw_want_write(&c->w, on_connect_write);
}

static void
on_retry(h2o_timeout_entry_t *e)
{
	pgc_connect(H2O_STRUCT_FROM_MEMBER(pg_conn, retry, e));
}

void
pgc_start(pg_conn *c, h2o_loop_t *loop, const char *const *keywords, const char *const *values,
		  void (*on_ready) (pg_conn *c), void (*on_failed) (pg_conn *c))
{
	static int	initialized;

	if (!initialized)
	{
		h2o_timeout_init(loop, &retry_timeout, 250);
		initialized = 1;
	}
	c->loop = loop;
	c->keywords = keywords;
	c->values = values;
	c->on_ready = on_ready;
	c->on_failed = on_failed;
	c->w.data = c;
	c->retry.cb = on_retry;
	pgc_connect(c);
}

static void
pgc_close(pg_conn *c)
{
	pgw_detach(&c->w);
	if (c->pg)
		PQfinish(c->pg);
	c->pg = NULL;
	c->connecting = 0;
}

void
pgc_retry(pg_conn *c)
{
	pgc_close(c);
	if (!h2o_timeout_is_linked(&c->retry))
		h2o_timeout_link(c->loop, &retry_timeout, &c->retry);
}

/* Closes the connection and opens a new one now, without the retry delay. */
void
pgc_reconnect(pg_conn *c)
{
	pgc_close(c);
	pgc_connect(c);
}
