/*
 * log.c
 *	  taskmgmt-mailer's log: one timestamped line per message on stderr.
 */
#include "mailer.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void
mlog(const char *fmt,...)
{
	char		line[1024];
	char		stamp[32];
	time_t		now = time(NULL);
	struct tm	tm;
	va_list		ap;
	size_t		n;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* libpq messages end in a newline of their own */
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s taskmgmt-mailer: %s\n", stamp, line);
}
