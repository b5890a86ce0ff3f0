/*
 * config.c
 *	  Configuration from the environment (the same binary runs on a laptop,
 *	  in a container and under Kubernetes).
 */
#include "mailer.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *
env_or(const char *name, const char *def)
{
	const char *v = getenv(name);

	return (v != NULL && v[0] != '\0') ? v : def;
}

static bool
env_int(const char *name, int def, int min, int max, int *out, char *err, size_t errlen)
{
	const char *v = getenv(name);
	char	   *end;
	long		n;

	if (v == NULL || v[0] == '\0')
	{
		*out = def;
		return true;
	}
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0' || n < min || n > max)
	{
		snprintf(err, errlen, "%s must be an integer from %d to %d", name, min, max);
		return false;
	}
	*out = (int) n;
	return true;
}

/* No CR or LF: the value ends up in a header or an SMTP command. */
static bool
one_line(const char *name, const char *v, char *err, size_t errlen)
{
	if (v != NULL && strpbrk(v, "\r\n") != NULL)
	{
		snprintf(err, errlen, "%s must be a single line", name);
		return false;
	}
	return true;
}

bool
config_load(MailerConfig *cfg, char *err, size_t errlen)
{
	const char *tls;
	const char *verify;

	memset(cfg, 0, sizeof(*cfg));
	cfg->database_url = env_or("DATABASE_URL", NULL);
	if (cfg->database_url == NULL)
	{
		snprintf(err, errlen, "DATABASE_URL is not set");
		return false;
	}
	cfg->smtp_url = env_or("SMTP_URL", "smtp://127.0.0.1:2525");
	if (strncmp(cfg->smtp_url, "smtp://", 7) != 0 && strncmp(cfg->smtp_url, "smtps://", 8) != 0)
	{
		snprintf(err, errlen, "SMTP_URL must start with smtp:// or smtps://");
		return false;
	}
	cfg->smtp_user = env_or("SMTP_USER", NULL);
	cfg->smtp_password = env_or("SMTP_PASSWORD", NULL);
	cfg->mail_from = env_or("MAIL_FROM", "taskmgmt@localhost");
	if (!one_line("SMTP_URL", cfg->smtp_url, err, errlen) ||
		!one_line("SMTP_USER", cfg->smtp_user, err, errlen) ||
		!one_line("SMTP_PASSWORD", cfg->smtp_password, err, errlen) ||
		!one_line("MAIL_FROM", cfg->mail_from, err, errlen))
		return false;
	if (strchr(cfg->mail_from, '@') == NULL || strpbrk(cfg->mail_from, "<> \t") != NULL)
	{
		snprintf(err, errlen, "MAIL_FROM must be a bare address like taskmgmt@example.com");
		return false;
	}

	/* never send credentials in the clear unless told to */
	tls = env_or("SMTP_TLS", cfg->smtp_user ? "required" : "try");
	if (strcmp(tls, "none") == 0)
		cfg->smtp_tls = MAILER_TLS_NONE;
	else if (strcmp(tls, "try") == 0)
		cfg->smtp_tls = MAILER_TLS_TRY;
	else if (strcmp(tls, "required") == 0)
		cfg->smtp_tls = MAILER_TLS_REQUIRED;
	else
	{
		snprintf(err, errlen, "SMTP_TLS must be none, try or required");
		return false;
	}
	verify = env_or("SMTP_TLS_VERIFY", "1");
	if (strcmp(verify, "1") != 0 && strcmp(verify, "0") != 0)
	{
		snprintf(err, errlen, "SMTP_TLS_VERIFY must be 1 or 0");
		return false;
	}
	cfg->smtp_tls_verify = strcmp(verify, "1") == 0;
	cfg->once = strcmp(env_or("MAILER_ONCE", "0"), "1") == 0;

	if (!env_int("MAILER_BATCH_SIZE", 10, 1, 1000, &cfg->batch_size, err, errlen) ||
		!env_int("MAILER_POLL_INTERVAL", 30, 1, 3600, &cfg->poll_interval, err, errlen) ||
		!env_int("MAILER_MAX_ATTEMPTS", 8, 1, 100, &cfg->max_attempts, err, errlen) ||
		!env_int("MAILER_BACKOFF", 30, 1, 86400, &cfg->backoff, err, errlen) ||
		!env_int("MAILER_SMTP_TIMEOUT", 60, 1, 3600, &cfg->smtp_timeout, err, errlen) ||
		!env_int("MAILER_LEASE", 300, 2, 86400, &cfg->lease, err, errlen) ||
		!env_int("WEBHOOK_TIMEOUT", 0, 1, 300, &cfg->webhook_timeout, err, errlen))
		return false;
	/* a send must end well inside the lease, or another mailer could resend */
	if (cfg->lease < 2 * cfg->smtp_timeout)
	{
		snprintf(err, errlen, "MAILER_LEASE must be at least twice MAILER_SMTP_TIMEOUT");
		return false;
	}
	/* unset: 10 s, or less where a short lease needs it */
	if (cfg->webhook_timeout == 0)
		cfg->webhook_timeout = cfg->lease / 2 < 10 ? cfg->lease / 2 : 10;
	if (cfg->lease < 2 * cfg->webhook_timeout)
	{
		snprintf(err, errlen, "MAILER_LEASE must be at least twice WEBHOOK_TIMEOUT");
		return false;
	}
	return true;
}
