/*
 * pgsock.c: a libpq socket watched by the h2o event loop.
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
