/*
 * smtp.c
 *	  One message over SMTP with libcurl.  The easy handle is kept between
 *	  messages so curl can reuse the connection for a whole batch; after a
 *	  failure it is dropped so the next message starts on a fresh one.
 */
#include "mailer.h"

#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

static CURL *curl;

typedef struct Reader
{
	const char *data;
	size_t		len;
	size_t		pos;
} Reader;

static size_t
read_message(char *dst, size_t size, size_t nitems, void *arg)
{
	Reader	   *r = arg;
	size_t		room = size * nitems;
	size_t		left = r->len - r->pos;
	size_t		n = left < room ? left : room;

	memcpy(dst, r->data + r->pos, n);
	r->pos += n;
	return n;
}

bool
smtp_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

void
smtp_cleanup(void)
{
	if (curl)
		curl_easy_cleanup(curl);
	curl = NULL;
	curl_global_cleanup();
}

void
smtp_send(const MailerConfig *cfg, const OutboxRow *row, const Buf *message, SendResult *result)
{
	char		from[512];
	char		to[512];
	char		errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *rcpt = NULL;
	Reader		reader = {message->data, message->len, 0};
	CURLcode	rc;
	long		code = 0;

	memset(result, 0, sizeof(*result));
	if (curl == NULL && (curl = curl_easy_init()) == NULL)
	{
		snprintf(result->error, sizeof(result->error), "curl_easy_init failed");
		return;
	}
	snprintf(from, sizeof(from), "<%s>", cfg->mail_from);
	snprintf(to, sizeof(to), "<%s>", row->recipient);
	rcpt = curl_slist_append(rcpt, to);

	curl_easy_setopt(curl, CURLOPT_URL, cfg->smtp_url);
	curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_message);
	curl_easy_setopt(curl, CURLOPT_READDATA, &reader);
	curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t) message->len);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long) (cfg->smtp_timeout < 10 ? cfg->smtp_timeout : 10));
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long) cfg->smtp_timeout);
	curl_easy_setopt(curl, CURLOPT_USE_SSL,
					 cfg->smtp_tls == MAILER_TLS_REQUIRED ? (long) CURLUSESSL_ALL :
					 cfg->smtp_tls == MAILER_TLS_TRY ? (long) CURLUSESSL_TRY : (long) CURLUSESSL_NONE);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, cfg->smtp_tls_verify ? 1L : 0L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, cfg->smtp_tls_verify ? 2L : 0L);
	if (cfg->smtp_user)
		curl_easy_setopt(curl, CURLOPT_USERNAME, cfg->smtp_user);
	if (cfg->smtp_password)
		curl_easy_setopt(curl, CURLOPT_PASSWORD, cfg->smtp_password);

	rc = curl_easy_perform(curl);
	curl_slist_free_all(rcpt);
	curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, NULL);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);
	if (rc == CURLE_OK)
	{
		result->ok = true;
		return;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	/*
	 * Refusals of this message or its recipient are final; anything else
	 * (server down, 4xx, authentication trouble) is worth retrying later.
	 */
	result->permanent = rc != CURLE_LOGIN_DENIED &&
		(code == 501 || code == 541 || (code >= 550 && code <= 554));
	snprintf(result->error, sizeof(result->error), "%.60s%s%.160s (SMTP %ld)",
			 curl_easy_strerror(rc), errbuf[0] ? ": " : "", errbuf, code);
	curl_easy_cleanup(curl);
	curl = NULL;
}
