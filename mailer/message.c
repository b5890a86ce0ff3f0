/*
 * message.c
 *	  The RFC 5322 message for one outbox row: headers (the subject encoded
 *	  per RFC 2047 when it is not ASCII), a quoted-printable UTF-8 text body.
 *	  Everything from the database is treated as data: CR and LF never reach
 *	  a header, so a subject cannot add headers.
 */
#include "mailer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void
buf_append(Buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 256;

		while (b->len + n + 1 > cap)
			cap *= 2;
		b->data = realloc(b->data, cap);
		if (b->data == NULL)
		{
			fprintf(stderr, "mailer: out of memory\n");
			exit(1);
		}
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_puts(Buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void
buf_printf(Buf *b, const char *fmt,...)
{
	char		small[512];
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t) n < sizeof(small))
	{
		buf_append(b, small, n);
		return;
	}
	{
		char	   *big = malloc(n + 1);

		if (big == NULL)
		{
			fprintf(stderr, "mailer: out of memory\n");
			exit(1);
		}
		va_start(ap, fmt);
		vsnprintf(big, n + 1, fmt, ap);
		va_end(ap);
		buf_append(b, big, n);
		free(big);
	}
}

void
buf_free(Buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void
base64(Buf *out, const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i += 3)
	{
		unsigned	v = s[i] << 16 | (i + 1 < n ? s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);
		char		q[4];

		q[0] = b64[(v >> 18) & 63];
		q[1] = b64[(v >> 12) & 63];
		q[2] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? b64[v & 63] : '=';
		buf_append(out, q, 4);
	}
}

/* Control characters (CR, LF, tabs...) in a header value become spaces. */
static char *
header_clean(const char *s)
{
	char	   *c = strdup(s ? s : "");

	if (c == NULL)
	{
		fprintf(stderr, "mailer: out of memory\n");
		exit(1);
	}
	for (char *p = c; *p; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			*p = ' ';
	return c;
}

/*
 * Subject: as is when printable ASCII, else RFC 2047 encoded-words of at
 * most 45 input bytes each, never splitting a UTF-8 sequence, folded onto
 * continuation lines.
 */
static void
subject_header(Buf *out, const char *subject)
{
	char	   *s = header_clean(subject);
	size_t		n = strlen(s);
	bool		ascii = true;

	for (size_t i = 0; i < n; i++)
		if ((unsigned char) s[i] >= 0x80)
			ascii = false;
	buf_puts(out, "Subject: ");
	if (ascii)
		buf_puts(out, s);
	else
	{
		size_t		i = 0;

		while (i < n)
		{
			size_t		len = n - i > 45 ? 45 : n - i;

			/* back off to the start of a UTF-8 sequence */
			while (i + len < n && len > 0 && ((unsigned char) s[i + len] & 0xC0) == 0x80)
				len--;
			if (i > 0)
				buf_puts(out, "\r\n ");
			buf_puts(out, "=?UTF-8?B?");
			base64(out, (const unsigned char *) s + i, len);
			buf_puts(out, "?=");
			i += len;
		}
	}
	buf_puts(out, "\r\n");
	free(s);
}

/* Quoted-printable (RFC 2045) with CRLF line ends and soft breaks at 76. */
static void
quoted_printable(Buf *out, const char *text)
{
	int			col = 0;

	for (const unsigned char *p = (const unsigned char *) text; *p; p++)
	{
		char		enc[4];
		int			w;
		bool		at_eol = p[1] == '\n' || p[1] == '\0' || (p[1] == '\r' && p[2] == '\n');

		if (*p == '\r' && p[1] == '\n')
			continue;
		if (*p == '\n')
		{
			buf_puts(out, "\r\n");
			col = 0;
			continue;
		}
		if ((*p >= 33 && *p <= 126 && *p != '=') || ((*p == ' ' || *p == '\t') && !at_eol))
		{
			enc[0] = (char) *p;
			w = 1;
		}
		else
		{
			snprintf(enc, sizeof(enc), "=%02X", *p);
			w = 3;
		}
		if (col + w > 75)
		{
			buf_puts(out, "=\r\n");
			col = 0;
		}
		buf_append(out, enc, w);
		col += w;
	}
	if (col > 0)
		buf_puts(out, "\r\n");
}

bool
message_build(Buf *out, const MailerConfig *cfg, const OutboxRow *row, char *err, size_t errlen)
{
	char		date[64];
	time_t		now = time(NULL);
	struct tm	tm;
	char	   *to = header_clean(row->recipient);
	char	   *mid = header_clean(row->message_id);
	bool		ok = true;

	if (strchr(to, '@') == NULL || strpbrk(to, "<>,; \"") != NULL)
	{
		snprintf(err, errlen, "invalid recipient address");
		ok = false;
	}
	else if (mid[0] != '<' || mid[strlen(mid) - 1] != '>' || strchr(mid, ' ') != NULL)
	{
		snprintf(err, errlen, "invalid Message-ID");
		ok = false;
	}
	if (ok)
	{
		gmtime_r(&now, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
		buf_printf(out, "Date: %s\r\n", date);
		buf_printf(out, "From: taskmgmt <%s>\r\n", cfg->mail_from);
		buf_printf(out, "To: <%s>\r\n", to);
		buf_printf(out, "Message-ID: %s\r\n", mid);
		subject_header(out, row->subject);
		buf_puts(out, "MIME-Version: 1.0\r\n"
				 "Content-Type: text/plain; charset=UTF-8\r\n"
				 "Content-Transfer-Encoding: quoted-printable\r\n"
				 "Auto-Submitted: auto-generated\r\n"
				 "\r\n");
		quoted_printable(out, row->body ? row->body : "");
	}
	free(to);
	free(mid);
	return ok;
}
