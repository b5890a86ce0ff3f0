/*
 * main.c: taskmgmt-shim, the HTTP and websocket front door of taskmgmt.
 * One h2o event loop owns the listener, the database pool and the
 * notification listener.
 */
#include "shim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

h2o_loop_t *shim_loop;
h2o_context_t shim_ctx;

static h2o_globalconf_t config;
static h2o_accept_ctx_t accept_ctx;
static volatile sig_atomic_t stopping;
static int	n_connections;

static void
on_signal(int sig)
{
	stopping = 1;
}

static void
on_client_close(void *data)
{
	n_connections--;
}

static void
on_accept(h2o_socket_t *listener, const char *err)
{
	h2o_socket_t *sock;

	if (err)
		return;
	/* a few per wake-up, so one busy listener cannot starve the loop */
	for (int i = 0; i < 16 && (sock = h2o_evloop_socket_accept(listener)) != NULL; i++)
	{
		if (n_connections >= cfg.max_connections)
		{
			h2o_socket_close(sock);
			continue;
		}
		n_connections++;
		sock->on_close.cb = on_client_close;
		sock->on_close.data = NULL;
		h2o_accept(&accept_ctx, sock);
	}
}

/*
 * SO_REUSEADDR only: without SO_REUSEPORT a second instance fails to bind
 * instead of silently sharing the port.
 */
static int
open_listener(void)
{
	struct sockaddr_storage ss;
	socklen_t	len;
	int			fd,
				on = 1;

	memset(&ss, 0, sizeof(ss));
	if (strchr(cfg.listen_addr, ':'))
	{
		struct sockaddr_in6 *a = (struct sockaddr_in6 *) &ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t) cfg.port);
		if (inet_pton(AF_INET6, cfg.listen_addr, &a->sin6_addr) != 1)
			goto bad_addr;
		len = sizeof(*a);
	}
	else
	{
		struct sockaddr_in *a = (struct sockaddr_in *) &ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t) cfg.port);
		if (inet_pton(AF_INET, cfg.listen_addr, &a->sin_addr) != 1)
			goto bad_addr;
		len = sizeof(*a);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if (bind(fd, (struct sockaddr *) &ss, len) != 0 || listen(fd, SOMAXCONN) != 0)
	{
		fprintf(stderr, "taskmgmt-shim: cannot listen on %s port %d: %s\n",
				cfg.listen_addr, cfg.port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
bad_addr:
	fprintf(stderr, "taskmgmt-shim: LISTEN_ADDR must be a numeric IPv4 or IPv6 address\n");
	return -1;
}

int
main(int argc, char **argv)
{
	int			rc = config_load(argc, argv);
	int			fd;
	struct sigaction sa;

	if (rc != 0)
		return rc > 0 ? 0 : 2;
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	h2o_config_init(&config);
	config.server_name = h2o_iovec_init(H2O_STRLIT("taskmgmt-shim"));
	/*
	 * h2o refuses bodies over its limit with a plain-text 413 before any
	 * handler runs; up to twice the cap the handler answers problem+json.
	 */
	config.max_request_entity_size = cfg.max_body * 2;
	config.http1.req_timeout = (uint64_t) cfg.header_timeout_ms;
	/* h2o 2.2.5 lacks later HTTP/2 hardening: HTTP/1.1 only */
	config.http1.upgrade_to_http2 = 0;

	fd = open_listener();
	if (fd < 0)
		return 1;
	shim_loop = h2o_evloop_create();
	handler_register(&config, shim_loop);
	h2o_context_init(&shim_ctx, shim_loop, &config);
	accept_ctx.ctx = &shim_ctx;
	accept_ctx.hosts = config.hosts;

	db_init(shim_loop);
	ws_init(shim_loop);
	listen_init(shim_loop);

	h2o_socket_t *listener = h2o_evloop_socket_create(shim_loop, fd, H2O_SOCKET_FLAG_DONT_READ);

	h2o_socket_read_start(listener, on_accept);
	log_msg("listening on http://%s:%d/ (pool %d)", cfg.listen_addr, cfg.port, cfg.pool_size);

	/* h2o_evloop_run returns -1 on EINTR: only the stop flag ends the loop */
	while (!stopping)
		h2o_evloop_run(shim_loop, INT32_MAX);
	log_msg("stopping");
	/* h2o frees closed sockets on the next loop turn: let those turns happen */
	h2o_socket_read_stop(listener);
	h2o_socket_close(listener);
	for (int i = 0; i < 10; i++)
		h2o_evloop_run(shim_loop, 10);
	return 0;
}
