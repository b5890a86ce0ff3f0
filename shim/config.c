/*
 * config.c: settings from flags, then environment variables, then defaults
 * (a flag wins over its variable), and --help.
 */
#include "shim.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

shim_config cfg;

typedef enum opt_type
{
	T_STR,
	T_INT,
	T_SIZE,
	T_LOG
} opt_type;

typedef struct option_def
{
	const char *flag;
	const char *env;
	opt_type	type;
	void	   *target;
	long		min,
				max;
	const char *help;
} option_def;

static char exe_dir[PATH_MAX];
static char default_openapi[PATH_MAX + 32];
static char default_docs[PATH_MAX + 32];
static char default_web[PATH_MAX + 32];
static const char *log_format = "text";

static option_def options[] = {
	{"database-url", "DATABASE_URL", T_STR, &cfg.database_url, 0, 0,
	"libpq connection string or URI (default: dbname=taskmgmt)"},
	{"listen", "LISTEN_ADDR", T_STR, &cfg.listen_addr, 0, 0,
	"numeric IPv4/IPv6 address to listen on (default 127.0.0.1; 0.0.0.0 in containers)"},
	{"port", "PORT", T_INT, &cfg.port, 1, 65535, "TCP port (default 8080)"},
	{"pool-size", "POOL_SIZE", T_INT, &cfg.pool_size, 1, 256,
	"database connections (default 8)"},
	{"pipeline", "PIPELINE", T_INT, &cfg.pipeline, 1, 64,
	"requests in flight per database connection, each its own transaction (default 4)"},
	{"slow-cap", "SLOW_CAP", T_INT, &cfg.slow_cap, 1, 256,
	"concurrent password hashing calls: sign-in, register, password change (default 2)"},
	{"queue-max", "QUEUE_MAX", T_INT, &cfg.queue_max, 1, 1000000,
	"requests waiting for a database connection before 503 (default 1024)"},
	{"max-body", "MAX_BODY", T_SIZE, &cfg.max_body, 1024, 64L << 20,
	"request body cap in bytes (default 1048576)"},
	{"max-head", "MAX_HEAD", T_SIZE, &cfg.max_head, 1024, 1L << 20,
	"request line + headers cap in bytes; larger gets 431 (default 16384)"},
	{"max-connections", "MAX_CONNECTIONS", T_INT, &cfg.max_connections, 1, 1000000,
	"concurrent client connections (default 4096)"},
	{"header-timeout", "HEADER_TIMEOUT_MS", T_INT, &cfg.header_timeout_ms, 100, 3600000,
	"ms to receive a request head; also the keep-alive idle timeout (default 10000)"},
	{"request-timeout", "REQUEST_TIMEOUT_MS", T_INT, &cfg.request_timeout_ms, 100, 3600000,
	"ms before a request waiting on the database gets 503 (default 10000)"},
	{"statement-timeout", "STATEMENT_TIMEOUT_MS", T_INT, &cfg.statement_timeout_ms, 100, 3600000,
	"statement_timeout of the database connections (default 8000)"},
	{"cors-origins", "CORS_ORIGINS", T_STR, &cfg.cors_origins, 0, 0,
	"comma-separated allowed Origins for CORS and websockets (default: none; the shim's own origin needs no entry)"},
	{"public-origin", "PUBLIC_ORIGIN", T_STR, &cfg.public_origin, 0, 0,
	"origin the UI is reached at behind a proxy, e.g. https://tasks.example.com (default: none)"},
	{"trust-proxy", "TRUST_PROXY", T_INT, &cfg.trust_proxy, 0, 1,
	"1: the request's own origin comes from X-Forwarded-Proto/-Host; only behind a proxy that sets them (default 0)"},
	{"log-format", "LOG_FORMAT", T_LOG, NULL, 0, 0, "access log: text, json or off (default text)"},
	{"ws-ping", "WS_PING_S", T_INT, &cfg.ws_ping_s, 1, 3600,
	"seconds between websocket pings; silent clients are closed (default 30)"},
	{"ws-max-queue", "WS_MAX_QUEUE", T_SIZE, &cfg.ws_max_queue, 1024, 1L << 30,
	"bytes queued for one websocket before it is closed with 1008 (default 1048576)"},
	{"ws-max-frame", "WS_MAX_FRAME", T_SIZE, &cfg.ws_max_frame, 64, 1L << 24,
	"largest incoming websocket message in bytes (default 16384)"},
	{"ws-max-per-user", "WS_MAX_PER_USER", T_INT, &cfg.ws_max_per_user, 1, 10000,
	"open websockets per user (default 8)"},
	{"openapi", "OPENAPI_PATH", T_STR, &cfg.openapi_path, 0, 0,
	"OpenAPI document served at /openapi.json (default: openapi.json beside the binary)"},
	{"web-dir", "WEB_DIR", T_STR, &cfg.web_dir, 0, 0,
	"folder of the built web UI served at / (default: web/ or ../web/dist beside the binary)"},
	{"docs-dir", "DOCS_DIR", T_STR, &cfg.docs_dir, 0, 0,
	"folder with redoc.standalone.js for /docs (default: docs-dist/ beside the binary)"},
};
#define N_OPTIONS ((int) (sizeof(options) / sizeof(options[0])))

static void
usage(FILE *f)
{
	fprintf(f,
			"usage: taskmgmt-shim [options]\n"
			"HTTP and websocket front door of taskmgmt (see doc/http-api.md).\n"
			"Each option can also be given by the environment variable shown.\n\n");
	for (int i = 0; i < N_OPTIONS; i++)
		fprintf(f, "  --%-18s %-22s %s\n", options[i].flag, options[i].env, options[i].help);
	fprintf(f, "  --%-18s %-22s %s\n", "help", "", "this text");
}

static int
set_option(option_def *o, const char *value, const char *origin)
{
	char	   *end;
	long long	v;

	switch (o->type)
	{
		case T_STR:
			*(const char **) o->target = value;
			return 0;
		case T_LOG:
			if (strcmp(value, "text") && strcmp(value, "json") && strcmp(value, "off"))
				break;
			log_format = value;
			return 0;
		case T_INT:
		case T_SIZE:
			v = strtoll(value, &end, 10);
			if (*value == '\0' || *end != '\0' || v < o->min || v > o->max)
				break;
			if (o->type == T_INT)
				*(int *) o->target = (int) v;
			else
				*(size_t *) o->target = (size_t) v;
			return 0;
	}
	fprintf(stderr, "taskmgmt-shim: invalid value for %s%s\n", origin,
			o->type == T_LOG ? " (text, json or off)" : "");
	return -1;
}

int
config_load(int argc, char **argv)
{
	struct option longopts[N_OPTIONS + 2];
	ssize_t		n;

	cfg.database_url = "dbname=taskmgmt";
	cfg.listen_addr = "127.0.0.1";
	cfg.port = 8080;
	cfg.pool_size = 8;
	cfg.pipeline = 4;
	cfg.slow_cap = 2;
	cfg.queue_max = 1024;
	cfg.max_body = 1 << 20;
	cfg.max_head = 16384;
	cfg.max_connections = 4096;
	cfg.header_timeout_ms = 10000;
	cfg.request_timeout_ms = 10000;
	cfg.statement_timeout_ms = 8000;
	cfg.cors_origins = "";
	cfg.public_origin = "";
	cfg.ws_ping_s = 30;
	cfg.ws_max_queue = 1 << 20;
	cfg.ws_max_frame = 16384;
	cfg.ws_max_per_user = 8;

	n = readlink("/proc/self/exe", exe_dir, sizeof(exe_dir) - 1);
	if (n > 0)
	{
		exe_dir[n] = '\0';
		char	   *slash = strrchr(exe_dir, '/');

		if (slash)
			*slash = '\0';
	}
	else
		strcpy(exe_dir, ".");
	snprintf(default_openapi, sizeof(default_openapi), "%s/openapi.json", exe_dir);
	snprintf(default_docs, sizeof(default_docs), "%s/docs-dist", exe_dir);
	cfg.openapi_path = default_openapi;
	cfg.docs_dir = default_docs;
	/* installed: web/ beside the binary; in the source tree: ../web/dist (built by make) */
	snprintf(default_web, sizeof(default_web), "%s/web", exe_dir);
	if (access(default_web, R_OK) != 0)
		snprintf(default_web, sizeof(default_web), "%s/../web/dist", exe_dir);
	cfg.web_dir = default_web;

	for (int i = 0; i < N_OPTIONS; i++)
	{
		const char *v = getenv(options[i].env);

		if (v && *v && set_option(&options[i], v, options[i].env) < 0)
			return -1;
		longopts[i] = (struct option) {options[i].flag, required_argument, NULL, 1000 + i};
	}
	longopts[N_OPTIONS] = (struct option) {"help", no_argument, NULL, 'h'};
	longopts[N_OPTIONS + 1] = (struct option) {NULL, 0, NULL, 0};

	int			c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1)
	{
		if (c == 'h')
		{
			usage(stdout);
			return 1;
		}
		if (c < 1000 || c >= 1000 + N_OPTIONS)
		{
			usage(stderr);
			return -1;
		}
		char		origin[64];

		snprintf(origin, sizeof(origin), "--%s", options[c - 1000].flag);
		if (set_option(&options[c - 1000], optarg, origin) < 0)
			return -1;
	}
	if (optind < argc)
	{
		fprintf(stderr, "taskmgmt-shim: unexpected argument \"%s\"\n", argv[optind]);
		return -1;
	}
	cfg.log_json = strcmp(log_format, "json") == 0;
	cfg.log_quiet = strcmp(log_format, "off") == 0;
	return 0;
}
