/*
 * log.c: the access log (one line per request on stdout) and server
 * messages (stderr).  The log names the route pattern, never the raw path
 * or query string, so ids are visible but tokens and secrets are not.
 * A leaf: callers pass what is logged, nothing here reads a request.
 */
#include "shim.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void
timestamp(char *buf, size_t size)
{
	struct timespec ts;
	struct tm	tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t		n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);

	snprintf(buf + n, size - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

void
log_access(const char *request_id, const char *method, size_t method_len,
		   const char *route, int status, double ms)
{
	char		ts[40];
	strbuf		b;

	if (cfg.log_quiet)
		return;
	timestamp(ts, sizeof(ts));
	sb_init(&b);
	if (cfg.log_json)
	{
		sb_printf(&b, "{\"ts\":\"%s\",\"request_id\":", ts);
		sb_json_string(&b, request_id, strlen(request_id));
		sb_puts(&b, ",\"method\":");
		sb_json_string(&b, method, method_len);
		sb_puts(&b, ",\"route\":");
		sb_json_string(&b, route, strlen(route));
		sb_printf(&b, ",\"status\":%d,\"duration_ms\":%.3f}\n", status, ms);
	}
	else
	{
		/* the method is printed only when it is plain letters */
		int			clean = method_len <= 16;

		for (size_t i = 0; clean && i < method_len; i++)
			clean = method[i] >= 'A' && method[i] <= 'Z';
		sb_printf(&b, "%s %s %.*s %s %d %.3fms\n", ts, request_id,
				  clean ? (int) method_len : 1, clean ? method : "?",
				  route, status, ms);
	}
	fwrite(b.data, 1, b.len, stdout);
	fflush(stdout);
	sb_free(&b);
}

void
log_msg(const char *fmt,...)
{
	char		ts[40];
	va_list		ap;

	if (fmt == NULL)
		return;
	timestamp(ts, sizeof(ts));
	fprintf(stderr, "%s taskmgmt-shim: ", ts);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (fmt[0] && fmt[strlen(fmt) - 1] != '\n')
		fputc('\n', stderr);
}
