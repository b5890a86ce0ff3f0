/*
 * mailer.h
 *	  taskmgmt-mailer: drains taskmgmt.email_outbox, mail over SMTP and
 *	  webhook deliveries over HTTP (libcurl).
 */
#ifndef TASKMGMT_MAILER_H
#define TASKMGMT_MAILER_H

#include <stdbool.h>
#include <stddef.h>

/* libpq's, for the few functions that hand connections and results around */
struct pg_conn;
struct pg_result;

typedef struct MailerConfig
{
	const char *database_url;	/* DATABASE_URL: libpq conninfo or URI */
	const char *smtp_url;		/* SMTP_URL: smtp://host:port or smtps://... */
	const char *smtp_user;		/* SMTP_USER (optional) */
	const char *smtp_password;	/* SMTP_PASSWORD (optional) */
	int			smtp_tls;		/* SMTP_TLS: none / try / required */
	bool		smtp_tls_verify;	/* SMTP_TLS_VERIFY: 1 (default) or 0 */
	const char *mail_from;		/* MAIL_FROM: envelope and From: address */
	int			batch_size;		/* MAILER_BATCH_SIZE */
	int			poll_interval;	/* MAILER_POLL_INTERVAL, seconds */
	int			max_attempts;	/* MAILER_MAX_ATTEMPTS, then dead */
	int			backoff;		/* MAILER_BACKOFF, seconds, doubled per attempt */
	int			smtp_timeout;	/* MAILER_SMTP_TIMEOUT, seconds per message */
	int			lease;			/* MAILER_LEASE, seconds a claim is ours */
	int			webhook_timeout;	/* WEBHOOK_TIMEOUT, seconds per webhook delivery */
	bool		once;			/* MAILER_ONCE=1: drain what is due, then exit */
} MailerConfig;

enum
{
	MAILER_TLS_NONE,
	MAILER_TLS_TRY,
	MAILER_TLS_REQUIRED
};

/* A claimed outbox row. */
typedef struct OutboxRow
{
	long long	id;
	char	   *recipient;
	char	   *subject;
	char	   *body;			/* text/plain */
	char	   *body_html;		/* text/html alternative ("" for none) */
	char	   *list_unsubscribe;	/* one-click unsubscribe URL ("" for none) */
	char	   *message_id;
	int			attempts;
	char	   *claim_token;
} OutboxRow;

/* Result of one SMTP attempt. */
typedef struct SendResult
{
	bool		ok;
	bool		permanent;		/* a 5xx answer: retrying will not help */
	char		error[256];
} SendResult;

/* growable byte buffer (message.c) */
typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

extern void buf_append(Buf *b, const char *s, size_t n);
extern void buf_puts(Buf *b, const char *s);
extern void buf_printf(Buf *b, const char *fmt,...) __attribute__((format(printf, 2, 3)));
extern void buf_free(Buf *b);

/* config.c */
extern bool config_load(MailerConfig *cfg, char *err, size_t errlen);

/* message.c */
extern bool message_build(Buf *out, const MailerConfig *cfg, const OutboxRow *row,
						  char *err, size_t errlen);

/* smtp.c */
extern bool smtp_init(void);
extern void smtp_cleanup(void);
extern void smtp_send(const MailerConfig *cfg, const OutboxRow *row, const Buf *message,
					  SendResult *result);

/* outbox.c */
typedef struct Outbox Outbox;

extern Outbox *outbox_connect(const MailerConfig *cfg);
extern void outbox_close(Outbox *ob);
extern bool outbox_ok(Outbox *ob);
extern int	outbox_claim(Outbox *ob, OutboxRow **rows);
extern void outbox_free_rows(OutboxRow *rows, int n);
extern bool outbox_mark_sent(Outbox *ob, const OutboxRow *row);
extern bool outbox_mark_failed(Outbox *ob, const OutboxRow *row, const SendResult *result,
							   char *new_status, size_t len);
extern void outbox_release(Outbox *ob, const OutboxRow *row);
extern double outbox_seconds_to_next_due(Outbox *ob);
extern int	outbox_wait(Outbox *ob, double seconds);
extern struct pg_conn *outbox_conn(Outbox *ob);
extern char *dup_value(struct pg_result *res, int row, int col);

/* webhook.c: the outbox's webhook deliveries */
extern int	webhook_round(Outbox *ob, const MailerConfig *cfg, volatile int *stop);

/* log.c */
extern void mlog(const char *fmt,...) __attribute__((format(printf, 1, 2)));

#endif
