/*
 * main.c: taskmgmt-shim, the HTTP and websocket front door of taskmgmt.
 * One h2o event loop owns the listener, the database pool and the
 * notification listener.
 *
 * --workers N runs N such processes (workers), each a whole shim with its
 * own listening socket on the same port: with SO_REUSEPORT the kernel
 * spreads new connections over them.  Every worker has its own pool and
 * LISTEN connection, so a notification reaches a websocket whichever
 * worker holds it.  The parent only starts them, starts again one that
 * dies, and passes SIGTERM/SIGINT on.
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
#include <sys/wait.h>
#include <time.h>
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
 * A single process sets SO_REUSEADDR only: without SO_REUSEPORT a second
 * instance fails to bind instead of silently sharing the port.  Workers
 * set SO_REUSEPORT, which Linux only lets processes of the same user share.
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
	if (cfg.workers > 1)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
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

/* One shim: the whole server in this process.  Returns the exit code. */
static int
serve(int worker)
{
	int			fd;

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
	if (worker)
		log_msg("worker %d of %d listening on http://%s:%d/ (pool %d)", worker, cfg.workers,
				cfg.listen_addr, cfg.port, cfg.pool_size);
	else
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

static pid_t
start_worker(int worker)
{
	pid_t		pid = fork();

	if (pid == 0)
		_exit(serve(worker));
	if (pid < 0)
		log_msg("cannot start worker %d: %s", worker, strerror(errno));
	return pid;
}

/*
 * The parent of --workers.  A worker that dies is started again, unless it
 * died within its first seconds (it could not listen, say): then they all
 * stop, rather than fail again and again.
 */
static int
supervise(void)
{
	pid_t	   *pids = calloc((size_t) cfg.workers, sizeof(pid_t));
	time_t	   *started = calloc((size_t) cfg.workers, sizeof(time_t));
	int			alive = 0,
				rc = 0,
				passed_on = 0;

	for (int i = 0; i < cfg.workers; i++)
	{
		pids[i] = start_worker(i + 1);
		started[i] = time(NULL);
		if (pids[i] < 0)
		{
			stopping = 1;
			rc = 1;
			break;
		}
		alive++;
	}
	while (alive > 0)
	{
		int			status;
		pid_t		pid;

		if (stopping && !passed_on)
		{
			for (int i = 0; i < cfg.workers; i++)
				if (pids[i] > 0)
					kill(pids[i], SIGTERM);
			passed_on = 1;
		}
		/* polled, so that a signal between the check and the wait is not missed */
		pid = waitpid(-1, &status, WNOHANG);
		if (pid == 0 || (pid < 0 && errno == EINTR))
		{
			usleep(100 * 1000);
			continue;
		}
		if (pid < 0)
			break;
		for (int i = 0; i < cfg.workers; i++)
		{
			if (pids[i] != pid)
				continue;
			pids[i] = 0;
			alive--;
			if (stopping)
				break;
			if (time(NULL) - started[i] < 3)
			{
				log_msg("worker %d exited at start: stopping", i + 1);
				stopping = 1;
				rc = 1;
				break;
			}
			log_msg("worker %d exited (%s %d): starting it again", i + 1,
					WIFSIGNALED(status) ? "signal" : "status",
					WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
			pids[i] = start_worker(i + 1);
			started[i] = time(NULL);
			if (pids[i] > 0)
				alive++;
		}
	}
	free(pids);
	free(started);
	return rc;
}

int
main(int argc, char **argv)
{
	int			rc = config_load(argc, argv);
	struct sigaction sa;

	if (rc != 0)
		return rc > 0 ? 0 : 2;
	signal(SIGPIPE, SIG_IGN);
	/* no SA_RESTART: a signal interrupts the supervisor's sleep */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	return cfg.workers > 1 ? supervise() : serve(0);
}
