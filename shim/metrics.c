/*
 * metrics.c: Prometheus text exposition of request counts (by route and
 * status), a latency histogram, pool and websocket gauges.
 */
#include "shim.h"

#include <stdlib.h>
#include <string.h>

#define MAX_STATUSES 24
static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define N_BUCKETS ((int) (sizeof(buckets) / sizeof(buckets[0])))

typedef struct route_stats
{
	int			status[MAX_STATUSES];
	uint64_t	count[MAX_STATUSES];
	uint64_t	hist[N_BUCKETS + 1];
	double		sum;
	uint64_t	total;
} route_stats;

/* index n_routes is "no route" (404 and friends) */
static route_stats *stats;
static int	ws_connections;
static uint64_t ws_relayed;
static uint64_t ws_notifies;
static uint64_t ws_catchups;
static double last_fanout_s;
static int	last_fanout_n;
static uint64_t slow_refused;
static uint64_t accept_errors;
static uint64_t conns_shed;

static route_stats *
stats_for(int route)
{
	if (stats == NULL)
		stats = calloc((size_t) n_routes + 1, sizeof(route_stats));
	return &stats[route >= 0 && route < n_routes ? route : n_routes];
}

void
metrics_request(int route, int status, double ms)
{
	route_stats *s = stats_for(route);
	double		sec = ms / 1000.0;
	int			i;

	for (i = 0; i < MAX_STATUSES && s->status[i] && s->status[i] != status; i++)
		;
	if (i < MAX_STATUSES)
	{
		s->status[i] = status;
		s->count[i]++;
	}
	for (i = 0; i < N_BUCKETS && sec > buckets[i]; i++)
		;
	s->hist[i]++;
	s->sum += sec;
	s->total++;
}

void
metrics_ws(int delta)
{
	ws_connections += delta;
}

/* NOTIFY received -> frames written to every socket of that user */
void
metrics_ws_fanout(double seconds, int sockets)
{
	last_fanout_s = seconds;
	last_fanout_n = sockets;
}

void
metrics_ws_relayed(void)
{
	ws_relayed++;
}

/* a NOTIFY on taskmgmt_notifications, genuine or not */
void
metrics_ws_notify(void)
{
	ws_notifies++;
}

/* a catch-up query for websockets (authentication, token frame or wake) */
void
metrics_ws_catchup(void)
{
	ws_catchups++;
}

void
metrics_slow_refused(void)
{
	slow_refused++;
}

void
metrics_accept_error(void)
{
	accept_errors++;
}

void
metrics_conn_shed(void)
{
	conns_shed++;
}

static void
label(strbuf *out, int route)
{
	const char *p = route < n_routes ? routes[route].pattern : "unmatched";
	const char *m = route < n_routes ? routes[route].method : "";

	sb_printf(out, "method=\"%s\",route=\"%s\"", m, p);
}

void
metrics_render(strbuf *out)
{
	int			total,
				up,
				busy,
				waiting;

	stats_for(0);
	sb_puts(out, "# HELP taskmgmt_http_requests_total HTTP requests by route and status.\n"
			"# TYPE taskmgmt_http_requests_total counter\n");
	for (int r = 0; r <= n_routes; r++)
		for (int i = 0; i < MAX_STATUSES && stats[r].status[i]; i++)
		{
			sb_puts(out, "taskmgmt_http_requests_total{");
			label(out, r);
			sb_printf(out, ",status=\"%d\"} %llu\n", stats[r].status[i],
					  (unsigned long long) stats[r].count[i]);
		}
	sb_puts(out, "# HELP taskmgmt_http_request_duration_seconds Time to the response, by route.\n"
			"# TYPE taskmgmt_http_request_duration_seconds histogram\n");
	for (int r = 0; r <= n_routes; r++)
	{
		uint64_t	cum = 0;

		if (stats[r].total == 0)
			continue;
		for (int i = 0; i <= N_BUCKETS; i++)
		{
			cum += stats[r].hist[i];
			sb_puts(out, "taskmgmt_http_request_duration_seconds_bucket{");
			label(out, r);
			if (i < N_BUCKETS)
				sb_printf(out, ",le=\"%g\"} %llu\n", buckets[i], (unsigned long long) cum);
			else
				sb_printf(out, ",le=\"+Inf\"} %llu\n", (unsigned long long) cum);
		}
		sb_puts(out, "taskmgmt_http_request_duration_seconds_sum{");
		label(out, r);
		sb_printf(out, "} %.6f\n", stats[r].sum);
		sb_puts(out, "taskmgmt_http_request_duration_seconds_count{");
		label(out, r);
		sb_printf(out, "} %llu\n", (unsigned long long) stats[r].total);
	}
	db_stats(&total, &up, &busy, &waiting);
	sb_printf(out,
			  "# HELP taskmgmt_db_pool_size Database connections configured.\n"
			  "# TYPE taskmgmt_db_pool_size gauge\ntaskmgmt_db_pool_size %d\n"
			  "# HELP taskmgmt_db_pool_up Database connections established.\n"
			  "# TYPE taskmgmt_db_pool_up gauge\ntaskmgmt_db_pool_up %d\n"
			  "# HELP taskmgmt_db_pool_in_use Database connections running a request.\n"
			  "# TYPE taskmgmt_db_pool_in_use gauge\ntaskmgmt_db_pool_in_use %d\n"
			  "# HELP taskmgmt_db_pool_waiting Requests waiting for a connection.\n"
			  "# TYPE taskmgmt_db_pool_waiting gauge\ntaskmgmt_db_pool_waiting %d\n"
			  "# HELP taskmgmt_websocket_connections Open notification websockets.\n"
			  "# TYPE taskmgmt_websocket_connections gauge\ntaskmgmt_websocket_connections %d\n"
			  "# HELP taskmgmt_notifications_relayed_total Notifications sent to websockets.\n"
			  "# TYPE taskmgmt_notifications_relayed_total counter\ntaskmgmt_notifications_relayed_total %llu\n",
			  total, up, busy, waiting, ws_connections, (unsigned long long) ws_relayed);
	sb_printf(out,
			  "# HELP taskmgmt_ws_last_fanout_seconds From the last NOTIFY to its frames written to every socket of the user.\n"
			  "# TYPE taskmgmt_ws_last_fanout_seconds gauge\ntaskmgmt_ws_last_fanout_seconds %.6f\n"
			  "# HELP taskmgmt_ws_last_fanout_sockets Sockets served by that fan-out.\n"
			  "# TYPE taskmgmt_ws_last_fanout_sockets gauge\ntaskmgmt_ws_last_fanout_sockets %d\n",
			  last_fanout_s, last_fanout_n);
	sb_printf(out,
			  "# HELP taskmgmt_ws_notifies_total NOTIFYs received on taskmgmt_notifications (anyone may send one).\n"
			  "# TYPE taskmgmt_ws_notifies_total counter\ntaskmgmt_ws_notifies_total %llu\n"
			  "# HELP taskmgmt_ws_catchup_queries_total Queries run for websockets: authentication, token frames, wakes.\n"
			  "# TYPE taskmgmt_ws_catchup_queries_total counter\ntaskmgmt_ws_catchup_queries_total %llu\n",
			  (unsigned long long) ws_notifies, (unsigned long long) ws_catchups);
	admission_stats(&busy, &waiting);
	sb_printf(out,
			  "# HELP taskmgmt_signin_running Password hashing requests running (sign-in, register, password change).\n"
			  "# TYPE taskmgmt_signin_running gauge\ntaskmgmt_signin_running %d\n"
			  "# HELP taskmgmt_signin_waiting Password hashing requests waiting for their client address's turn.\n"
			  "# TYPE taskmgmt_signin_waiting gauge\ntaskmgmt_signin_waiting %d\n"
			  "# HELP taskmgmt_signin_refused_total Password hashing requests answered 503 (queue full or waited too long).\n"
			  "# TYPE taskmgmt_signin_refused_total counter\ntaskmgmt_signin_refused_total %llu\n"
			  "# HELP taskmgmt_accept_errors_total Connections the listener could not accept (no file descriptor left).\n"
			  "# TYPE taskmgmt_accept_errors_total counter\ntaskmgmt_accept_errors_total %llu\n"
			  "# HELP taskmgmt_connections_shed_total Connections cut or refused because buffered requests exceeded --max-buffered.\n"
			  "# TYPE taskmgmt_connections_shed_total counter\ntaskmgmt_connections_shed_total %llu\n"
			  "# HELP taskmgmt_buffered_bytes Request bytes buffered for all connections.\n"
			  "# TYPE taskmgmt_buffered_bytes gauge\ntaskmgmt_buffered_bytes %zu\n",
			  busy, waiting, (unsigned long long) slow_refused, (unsigned long long) accept_errors,
			  (unsigned long long) conns_shed, conns_buffered());
}
