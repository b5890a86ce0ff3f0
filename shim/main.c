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
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

h2o_loop_t *shim_loop;
h2o_context_t shim_ctx;

static h2o_globalconf_t config;
static h2o_accept_ctx_t accept_ctx;
static volatile sig_atomic_t stopping;

static void
on_signal(int sig)
{
	stopping = 1;
}

/* ---- client connections ---- */

/*
 * Every accepted connection, so that the request bytes h2o buffers for all
 * of them (a request's head and body wait in its socket's input buffer
 * until the request is complete, and while the handler uses them) can be
 * bounded in total: --max-buffered.  h2o itself bounds one request (the
 * body cap) and its time (--header-timeout covers head and body).
 */
typedef struct client_conn
{
	h2o_linklist_t link;
	h2o_socket_t *sock;
	int			in_handler;		/* requests of it in the handler: never cut */
	int			shed;			/* cut; h2o closes it on its next read */
} client_conn;

static h2o_linklist_t clients;
static int	n_connections;
static size_t buffered_total;
static h2o_timeout_t sweep_timeout;
static h2o_timeout_entry_t sweep_entry;

#define SWEEP_MS 100

static void
on_client_close(void *data)
{
	client_conn *cc = data;

	h2o_linklist_unlink(&cc->link);
	free(cc);
	n_connections--;
}

size_t
conns_buffered(void)
{
	return buffered_total;
}

static client_conn *
conn_of_req(h2o_req_t *req)
{
	h2o_socket_t *sock = req->conn->callbacks->get_socket ? req->conn->callbacks->get_socket(req->conn) : NULL;

	return sock && sock->on_close.cb == on_client_close ? sock->on_close.data : NULL;
}

static void
request_done(void *p)
{
	client_conn **slot = p;

	if (*slot)
		(*slot)->in_handler--;
}

/* response.c: a request reached the handler; its connection is not cut while it runs */
void
conns_request_begin(h2o_req_t *req)
{
	client_conn *cc = conn_of_req(req);
	client_conn **slot;

	if (cc == NULL)
		return;
	slot = h2o_mem_alloc_shared(&req->pool, sizeof(*slot), request_done);
	*slot = cc;
	cc->in_handler++;
}

/*
 * Every SWEEP_MS: the total buffered; above --max-buffered, the
 * connections holding the most in a request still arriving are cut (their
 * socket shut down: h2o closes them on the next read) until the total is
 * back under three quarters of the cap.
 */
static void
sweep(h2o_timeout_entry_t *e)
{
	size_t		total = 0;

	for (h2o_linklist_t *l = clients.next; l != &clients; l = l->next)
		total += H2O_STRUCT_FROM_MEMBER(client_conn, link, l)->sock->input->size;
	buffered_total = total;
	if (total > cfg.max_buffered)
	{
		while (total > cfg.max_buffered / 4 * 3)
		{
			client_conn *big = NULL;

			for (h2o_linklist_t *l = clients.next; l != &clients; l = l->next)
			{
				client_conn *cc = H2O_STRUCT_FROM_MEMBER(client_conn, link, l);

				if (!cc->shed && cc->in_handler == 0 && cc->sock->input->size > 0 &&
					(big == NULL || cc->sock->input->size > big->sock->input->size))
					big = cc;
			}
			if (big == NULL)
				break;
			total -= big->sock->input->size;
			shutdown(h2o_socket_get_fd(big->sock), SHUT_RDWR);
			big->shed = 1;
			metrics_conn_shed();
		}
	}
	h2o_timeout_link(shim_loop, &sweep_timeout, &sweep_entry);
}

/* ---- accepting ---- */

/*
 * Out of file descriptors: accept() fails while the connection stays
 * queued, and the level-triggered listener would wake the loop again at
 * once, for ever (100% CPU, nothing served).  A spare descriptor is given
 * up to accept and close that connection, and the listener rests a moment.
 */
static int	spare_fd = -1;
static int	listener_resting;
static h2o_timeout_t rest_timeout;
static h2o_timeout_entry_t rest_entry;
static h2o_socket_t *api_listener;
static time_t last_emfile_log;

static void on_accept(h2o_socket_t *listener, const char *err);

static void
end_rest(h2o_timeout_entry_t *e)
{
	listener_resting = 0;
	h2o_socket_read_start(api_listener, on_accept);
}

static void
out_of_fds(h2o_socket_t *listener)
{
	time_t		now = time(NULL);

	metrics_accept_error();
	if (spare_fd >= 0)
	{
		int			fd;

		close(spare_fd);
		fd = accept(h2o_socket_get_fd(listener), NULL, NULL);
		if (fd >= 0)
			close(fd);
		spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	if (now != last_emfile_log)
	{
		log_msg("out of file descriptors (%d connections): refusing connections for a moment",
				n_connections);
		last_emfile_log = now;
	}
	if (!listener_resting)
	{
		listener_resting = 1;
		h2o_socket_read_stop(listener);
		h2o_timeout_link(shim_loop, &rest_timeout, &rest_entry);
	}
}

static void
on_accept(h2o_socket_t *listener, const char *err)
{
	h2o_socket_t *sock;

	if (err)
		return;
	/* a few per wake-up, so one busy listener cannot starve the loop */
	for (int i = 0; i < 16; i++)
	{
		client_conn *cc;

		if ((sock = h2o_evloop_socket_accept(listener)) == NULL)
		{
			if (errno == EMFILE || errno == ENFILE)
				out_of_fds(listener);
			break;
		}
		if (buffered_total > cfg.max_buffered)
		{
			/* over the cap until the next sweep: no new connection */
			h2o_socket_close(sock);
			metrics_conn_shed();
			continue;
		}
		if (n_connections >= cfg.max_connections || (cc = calloc(1, sizeof(*cc))) == NULL)
		{
			h2o_socket_close(sock);
			continue;
		}
		n_connections++;
		cc->sock = sock;
		h2o_linklist_insert(&clients, &cc->link);
		sock->on_close.cb = on_client_close;
		sock->on_close.data = cc;
		h2o_accept(&accept_ctx, sock);
	}
}

/*
 * As many descriptors as the hard limit allows: each connection takes one,
 * and the default soft limit (often 1024) is below --max-connections.
 */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max)
	{
		rlim_t		want = rl.rlim_max == RLIM_INFINITY ? (rlim_t) 1 << 20 : rl.rlim_max;

		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((rlim_t) cfg.max_connections + (rlim_t) cfg.pool_size + 64 > rl.rlim_cur)
		log_msg("note: %llu file descriptors allowed, fewer than --max-connections (%d) needs; "
				"connections beyond are refused", (unsigned long long) rl.rlim_cur, cfg.max_connections);
}

/* ---- the /metrics listener ---- */

static h2o_globalconf_t metrics_config;
static h2o_context_t metrics_ctx;
static h2o_accept_ctx_t metrics_accept_ctx;
static int	n_metrics_connections;

static void
on_metrics_close(void *data)
{
	n_metrics_connections--;
}

static void
on_metrics_accept(h2o_socket_t *listener, const char *err)
{
	h2o_socket_t *sock;

	if (err)
		return;
	for (int i = 0; i < 4 && (sock = h2o_evloop_socket_accept(listener)) != NULL; i++)
	{
		if (n_metrics_connections >= 16)
		{
			h2o_socket_close(sock);
			continue;
		}
		n_metrics_connections++;
		sock->on_close.cb = on_metrics_close;
		h2o_accept(&metrics_accept_ctx, sock);
	}
}

/* GET or HEAD /metrics, Prometheus text; nothing else. */
static int
on_metrics_req(h2o_handler_t *self, h2o_req_t *req)
{
	static const char text[] = "text/plain; version=0.0.4";
	int			get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) ||
		h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
	size_t		path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
	strbuf		b;

	if (!h2o_memis(req->path.base, path_len, H2O_STRLIT("/metrics")) || !get)
	{
		req->res.status = get ? 404 : 405;
		req->res.reason = get ? "Not Found" : "Method Not Allowed";
		req->res.content_length = 0;
		h2o_send_inline(req, "", 0);
		return 0;
	}
	sb_init(&b);
	metrics_render(&b);
	req->res.status = 200;
	req->res.reason = "OK";
	req->res.content_length = b.len;
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, text, sizeof(text) - 1);
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
	h2o_send_inline(req, b.data, b.len);
	sb_free(&b);
	return 0;
}

/*
 * A single process sets SO_REUSEADDR only: without SO_REUSEPORT a second
 * instance fails to bind instead of silently sharing the port.  Workers
 * set SO_REUSEPORT, which Linux only lets processes of the same user share.
 */
static int
open_listener(const char *addr, int port)
{
	struct sockaddr_storage ss;
	socklen_t	len;
	int			fd,
				on = 1;

	memset(&ss, 0, sizeof(ss));
	if (strchr(addr, ':'))
	{
		struct sockaddr_in6 *a = (struct sockaddr_in6 *) &ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t) port);
		if (inet_pton(AF_INET6, addr, &a->sin6_addr) != 1)
			goto bad_addr;
		len = sizeof(*a);
	}
	else
	{
		struct sockaddr_in *a = (struct sockaddr_in *) &ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t) port);
		if (inet_pton(AF_INET, addr, &a->sin_addr) != 1)
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
				addr, port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
bad_addr:
	fprintf(stderr, "taskmgmt-shim: listen addresses must be numeric IPv4 or IPv6 addresses\n");
	return -1;
}

/* "addr:port" or "[v6addr]:port" */
static int
open_metrics_listener(void)
{
	char		addr[64];
	const char *spec = cfg.metrics_listen;
	const char *colon = strrchr(spec, ':');
	char	   *end;
	long		port;
	size_t		n;

	if (colon == NULL)
		goto bad;
	port = strtol(colon + 1, &end, 10);
	n = (size_t) (colon - spec);
	if (*end != '\0' || port < 1 || port > 65535 || n == 0 || n >= sizeof(addr))
		goto bad;
	if (spec[0] == '[' && n >= 2 && spec[n - 1] == ']')
		spec++, n -= 2;
	memcpy(addr, spec, n);
	addr[n] = '\0';
	return open_listener(addr, (int) port);
bad:
	fprintf(stderr, "taskmgmt-shim: --metrics-listen must be address:port (IPv6: [address]:port)\n");
	return -1;
}

/* One shim: the whole server in this process.  Returns the exit code. */
static int
serve(int worker)
{
	int			fd,
				metrics_fd = -1;

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

	raise_fd_limit();
	fd = open_listener(cfg.listen_addr, cfg.port);
	if (fd < 0)
		return 1;
	/* with --workers, the first one serves /metrics (its own figures) */
	if (cfg.metrics_listen[0] && worker <= 1 && (metrics_fd = open_metrics_listener()) < 0)
		return 1;
	spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	shim_loop = h2o_evloop_create();
	handler_register(&config, shim_loop);
	h2o_context_init(&shim_ctx, shim_loop, &config);
	accept_ctx.ctx = &shim_ctx;
	accept_ctx.hosts = config.hosts;

	db_init(shim_loop);
	ws_init(shim_loop);
	listen_init(shim_loop);

	h2o_linklist_init_anchor(&clients);
	h2o_timeout_init(shim_loop, &sweep_timeout, SWEEP_MS);
	sweep_entry.cb = sweep;
	h2o_timeout_link(shim_loop, &sweep_timeout, &sweep_entry);
	h2o_timeout_init(shim_loop, &rest_timeout, 100);
	rest_entry.cb = end_rest;

	h2o_socket_t *listener = h2o_evloop_socket_create(shim_loop, fd, H2O_SOCKET_FLAG_DONT_READ);
	h2o_socket_t *metrics_listener = NULL;

	api_listener = listener;
	h2o_socket_read_start(listener, on_accept);
	if (worker)
		log_msg("worker %d of %d listening on http://%s:%d/ (pool %d)", worker, cfg.workers,
				cfg.listen_addr, cfg.port, cfg.pool_size);
	else
		log_msg("listening on http://%s:%d/ (pool %d)", cfg.listen_addr, cfg.port, cfg.pool_size);
	if (metrics_fd >= 0)
	{
		h2o_config_init(&metrics_config);
		metrics_config.server_name = config.server_name;
		metrics_config.max_request_entity_size = 4096;
		metrics_config.http1.req_timeout = (uint64_t) cfg.header_timeout_ms;
		metrics_config.http1.upgrade_to_http2 = 0;
		h2o_create_handler(h2o_config_register_path(
						   h2o_config_register_host(&metrics_config, h2o_iovec_init(H2O_STRLIT("default")), 65535),
						   "/", 0), sizeof(h2o_handler_t))->on_req = on_metrics_req;
		h2o_context_init(&metrics_ctx, shim_loop, &metrics_config);
		metrics_accept_ctx.ctx = &metrics_ctx;
		metrics_accept_ctx.hosts = metrics_config.hosts;
		metrics_listener = h2o_evloop_socket_create(shim_loop, metrics_fd, H2O_SOCKET_FLAG_DONT_READ);
		h2o_socket_read_start(metrics_listener, on_metrics_accept);
		log_msg("metrics on http://%s/metrics", cfg.metrics_listen);
	}

	/* h2o_evloop_run returns -1 on EINTR: only the stop flag ends the loop */
	while (!stopping)
		h2o_evloop_run(shim_loop, INT32_MAX);
	log_msg("stopping");
	/* h2o frees closed sockets on the next loop turn: let those turns happen */
	if (!listener_resting)
		h2o_socket_read_stop(listener);
	h2o_socket_close(listener);
	if (metrics_listener)
	{
		h2o_socket_read_stop(metrics_listener);
		h2o_socket_close(metrics_listener);
	}
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
