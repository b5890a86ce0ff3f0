/*
 * message.c
 *	  The RFC 5322 message for one outbox row: headers (the subject encoded
 *	  per RFC 2047 when it is not ASCII), a quoted-printable UTF-8 text body
 *	  and, when the database rendered one, its HTML alternative
 *	  (multipart/alternative, RFC 2046), and the one-click unsubscribe
 *	  headers (RFC 2369, RFC 8058).  Everything from the database is treated
 *	  as data: CR and LF never reach a header, so a subject cannot add
 *	  headers.
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

/*
 * An address fit for List-Unsubscribe: http(s), printable ASCII without
 * what would end the <...> or the header.  RFC 8058 one-click needs https.
 */
static bool
unsubscribe_url_ok(const char *u, bool *https)
{
	size_t		n = strlen(u);

	*https = strncmp(u, "https://", 8) == 0;
	if (!*https && strncmp(u, "http://", 7) != 0)
		return false;
	if (n > 900)
		return false;
	for (const unsigned char *p = (const unsigned char *) u; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f || *p == '<' || *p == '>' || *p == '"' || *p == ',')
			return false;
	return true;
}

/*
 * The boundary between the parts: made from the Message-ID (so a re-send is
 * byte for byte the same) and starting with "=_", which quoted-printable
 * text can never contain (it writes "=" as "=3D").
 */
static void
boundary_for(char *b, size_t size, const char *message_id)
{
	size_t		n = 0;

	n += snprintf(b, size, "=_taskmgmt_");
	for (const char *p = message_id; *p && n + 1 < size && n < 50; p++)
		if ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
			b[n++] = *p;
	b[n] = '\0';
}

static void
text_part(Buf *out, const char *type, const char *text)
{
	buf_printf(out, "Content-Type: %s; charset=UTF-8\r\n"
			   "Content-Transfer-Encoding: quoted-printable\r\n\r\n", type);
	quoted_printable(out, text);
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
		buf_puts(out, "Auto-Submitted: auto-generated\r\n");
		if (row->list_unsubscribe && row->list_unsubscribe[0])
		{
			bool		https;

			if (unsubscribe_url_ok(row->list_unsubscribe, &https))
			{
				buf_printf(out, "List-Unsubscribe: <%s>\r\n", row->list_unsubscribe);
				/* one-click is for https only (RFC 8058, section 3.1) */
				if (https)
					buf_puts(out, "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n");
			}
			else
				mlog("outbox %lld: unsubscribe address left out (not an http(s) URL fit for a header)",
					 row->id);
		}
		buf_puts(out, "MIME-Version: 1.0\r\n");
		if (row->body_html && row->body_html[0])
		{
			char		boundary[80];

			boundary_for(boundary, sizeof(boundary), mid);
			buf_printf(out, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", boundary);
			/* the plain text first: the last part is the preferred one */
			buf_printf(out, "--%s\r\n", boundary);
			text_part(out, "text/plain", row->body ? row->body : "");
			buf_printf(out, "--%s\r\n", boundary);
			text_part(out, "text/html", row->body_html);
			buf_printf(out, "--%s--\r\n", boundary);
		}
		else
			text_part(out, "text/plain", row->body ? row->body : "");
	}
	free(to);
	free(mid);
	return ok;
}
