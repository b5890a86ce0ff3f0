/*
 * main.c
 *	  taskmgmt-mailer: claim due rows from the outbox, send each over SMTP
 *	  (mail) or HTTP (webhooks, webhook.c), report the outcome; sleep until
 *	  the next row is due or a NOTIFY on taskmgmt_outbox says a new one was
 *	  written.  SIGTERM/SIGINT finish the message in flight, hand back the
 *	  rest of the batch and exit.
 */
#include "mailer.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile int mailer_stop = 0;

/*
 * Anyone who can connect to the database may NOTIFY taskmgmt_outbox (there
 * is no privilege for it): a wake-up by NOTIFY comes at least this long
 * after the previous round began, and NOTIFYs meanwhile are coalesced into
 * it, so a flood of them cannot make the mailer query in a loop.
 */
#define MIN_WAKE_SPACING 0.2

static void
on_signal(int sig)
{
	(void) sig;
	mailer_stop = 1;
}

static double
monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sleeps, but returns early on a signal. */
static void
nap(double seconds)
{
	struct timespec ts = {(time_t) seconds, (long) ((seconds - (time_t) seconds) * 1e9)};

	nanosleep(&ts, NULL);
}

/* The SMTP URL without any user:password@ part, for the log. */
static void
smtp_url_for_log(const char *url, char *out, size_t len)
{
	const char *scheme_end = strstr(url, "://");
	const char *at = strchr(url, '@');

	if (scheme_end && at && at > scheme_end)
		snprintf(out, len, "%.*s%s", (int) (scheme_end + 3 - url), url, at + 1);
	else
		snprintf(out, len, "%s", url);
}

/* Sends one claimed row and records the outcome; false if the database broke. */
static bool
deliver(Outbox *ob, const MailerConfig *cfg, const OutboxRow *row)
{
	Buf			msg = {0};
	SendResult	result;
	char		status[32] = "";
	bool		ok;

	if (!message_build(&msg, cfg, row, result.error, sizeof(result.error)))
	{
		result.ok = false;
		result.permanent = true;
	}
	else
		smtp_send(cfg, row, &msg, &result);
	buf_free(&msg);

	if (result.ok)
	{
		ok = outbox_mark_sent(ob, row);
		if (ok)
			mlog("sent %lld to %s %s", row->id, row->recipient, row->message_id);
		return ok;
	}
	ok = outbox_mark_failed(ob, row, &result, status, sizeof(status));
	if (ok)
		mlog("attempt %d for %lld to %s failed (%s), now %s", row->attempts, row->id,
			 row->recipient, result.error, status);
	return ok;
}

int
main(void)
{
	MailerConfig cfg;
	char		err[256];
	char		url[512];
	struct sigaction sa;
	Outbox	   *ob = NULL;
	double		reconnect_delay = 1;

	if (!config_load(&cfg, err, sizeof(err)))
	{
		fprintf(stderr, "taskmgmt-mailer: %s\n", err);
		return 2;
	}
	if (!smtp_init())
	{
		fprintf(stderr, "taskmgmt-mailer: could not initialise libcurl\n");
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: select() and sleeps wake up */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	smtp_url_for_log(cfg.smtp_url, url, sizeof(url));
	mlog("starting: SMTP %s, from %s, batch %d, poll %ds, %d attempts, backoff %ds",
		 url, cfg.mail_from, cfg.batch_size, cfg.poll_interval, cfg.max_attempts, cfg.backoff);

	while (!mailer_stop)
	{
		OutboxRow  *rows;
		int			n;
		int			wn = 0;
		int			done = 0;
		double		claimed_at;
		double		wait;
		int			w;

		if (ob == NULL)
		{
			ob = outbox_connect(&cfg);
			if (ob == NULL)
			{
				nap(reconnect_delay);
				reconnect_delay = reconnect_delay * 2 > 30 ? 30 : reconnect_delay * 2;
				continue;
			}
			reconnect_delay = 1;
		}

		n = outbox_claim(ob, &rows);
		if (n < 0)
		{
			outbox_close(ob);
			ob = NULL;
			continue;
		}
		claimed_at = monotonic();
		for (; done < n && !mailer_stop; done++)
		{
			/* a send must end inside our lease, or it is another mailer's turn */
			if (monotonic() - claimed_at > cfg.lease - cfg.smtp_timeout - 1)
				break;
			if (!deliver(ob, &cfg, &rows[done]))
				break;
		}
		/* what we did not get to goes back to the queue without an attempt */
		for (int i = done; i < n && outbox_ok(ob); i++)
			outbox_release(ob, &rows[i]);
		outbox_free_rows(rows, n);
		/* then the webhook deliveries, on the same connection */
		if (outbox_ok(ob) && !mailer_stop)
			wn = webhook_round(ob, &cfg, &mailer_stop);
		if (!outbox_ok(ob) || wn < 0)
		{
			outbox_close(ob);
			ob = NULL;
			continue;
		}
		if (n == cfg.batch_size || wn == cfg.batch_size || mailer_stop)
			continue;
		if (cfg.once)
			break;
		/*
		 * Due rows we could not claim are being claimed by another mailer
		 * right now (SKIP LOCKED): look again shortly rather than spin.
		 */
		wait = outbox_seconds_to_next_due(ob);
		w = outbox_wait(ob, wait < 0.2 ? 0.2 : wait);
		if (w < 0)
		{
			mlog("database connection lost; reconnecting");
			outbox_close(ob);
			ob = NULL;
		}
		else if (w > 0 && monotonic() - claimed_at < MIN_WAKE_SPACING)
			nap(MIN_WAKE_SPACING - (monotonic() - claimed_at));
	}
	mlog("stopping");
	outbox_close(ob);
	smtp_cleanup();
	return 0;
}
