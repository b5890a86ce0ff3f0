/*
 * framing.c: does an HTTP/1.x request head say unambiguously where its body
 * ends?
 *
 * When a proxy and the shim read a body's length differently, the bytes one
 * of them takes for the end of a body are the start of a new request for the
 * other: request smuggling (RFC 9112 6.3, 11.2).  h2o 2.2.5 takes the first
 * Content-Length or, when present, the last Transfer-Encoding, silently
 * ignores the rest, and keeps the connection open.  Refused here, as RFC 9112
 * asks of a server that cannot be sure:
 *
 *	- Transfer-Encoding together with Content-Length (6.3 item 3);
 *	- more than one Transfer-Encoding field, or a coding other than a single
 *	  "chunked" (h2o already refuses the latter itself);
 *	- Transfer-Encoding in an HTTP/1.0 request (6.1);
 *	- a Content-Length that is not 1*DIGIT, or two that differ (6.3 item 5;
 *	  the same number repeated is unambiguous, RFC 9110 8.6);
 *	- obsolete line folding (5.2: reject it or unfold it; h2o does neither).
 *
 * The input is the request as received: picohttpparser, which h2o uses,
 * already accepted it, so this only has to find the fields, not to validate
 * the syntax again; it must still be safe on any bytes (the fuzzer checks).
 */
#include "framing.h"

#include <string.h>
#include <strings.h>

/* s[0..n) is name, ignoring case (the shim never sets a locale: ASCII) */
static int
equals_ci(const char *s, size_t n, const char *name)
{
	return n == strlen(name) && strncasecmp(s, name, n) == 0;
}

static int
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * The next line of [*p, end): its start and length without CR LF (picohttpparser
 * also accepts a bare LF).  0 when no LF is left: the head is incomplete.
 */
static int
next_line(const char **p, const char *end, const char **line, size_t *len)
{
	const char *nl = memchr(*p, '\n', (size_t) (end - *p));

	if (nl == NULL)
		return 0;
	*line = *p;
	*len = (size_t) (nl - *p);
	if (*len > 0 && (*line)[*len - 1] == '\r')
		(*len)--;
	*p = nl + 1;
	return 1;
}

const char *
framing_check(const char *buf, size_t len, const char *method, size_t method_len)
{
	const char *p = buf,
			   *end = buf + len,
			   *line,
			   *cl = NULL;		/* the first Content-Length, leading zeros skipped */
	size_t		n,
				cl_len = 0;
	int			n_cl = 0,
				n_te = 0,
				http10;

	/* picohttpparser skips one empty line before the request line */
	if (p < end && *p == '\r')
		p++;
	if (p < end && *p == '\n')
		p++;
	if (!next_line(&p, end, &line, &n) || n < method_len + 1 + 8 ||
		memcmp(line, method, method_len) != 0 || line[method_len] != ' ')
		return "the request head could not be read";
	if (memcmp(line + n - 8, "HTTP/1.", 7) != 0)
		return "the request head could not be read";
	http10 = line[n - 1] == '0';

	for (;;)
	{
		const char *colon,
				   *v;
		size_t		vlen;

		if (!next_line(&p, end, &line, &n))
			return "the request head could not be read";
		if (n == 0)
			break;
		if (is_ows(line[0]))
			return "header fields folded over several lines are not accepted";
		colon = memchr(line, ':', n);
		if (colon == NULL)
			return "the request head could not be read";
		v = colon + 1;
		vlen = (size_t) (line + n - v);
		while (vlen && is_ows(*v))
			v++, vlen--;
		while (vlen && is_ows(v[vlen - 1]))
			vlen--;
		if (equals_ci(line, (size_t) (colon - line), "content-length"))
		{
			if (vlen == 0)
				return "Content-Length is not a number";
			for (size_t i = 0; i < vlen; i++)
				if (v[i] < '0' || v[i] > '9')
					return "Content-Length is not a number";
			/* compare as digit strings: no overflow, and 05 is 5 */
			while (vlen > 1 && *v == '0')
				v++, vlen--;
			if (n_cl++ == 0)
			{
				cl = v;
				cl_len = vlen;
			}
			else if (vlen != cl_len || memcmp(v, cl, vlen) != 0)
				return "the request has Content-Length fields with different values";
		}
		else if (equals_ci(line, (size_t) (colon - line), "transfer-encoding"))
		{
			if (n_te++ > 0)
				return "the request has more than one Transfer-Encoding field";
			if (!equals_ci(v, vlen, "chunked"))
				return "the only Transfer-Encoding accepted is chunked";
		}
	}
	if (n_te && n_cl)
		return "the request has both Content-Length and Transfer-Encoding";
	if (n_te && http10)
		return "Transfer-Encoding is not defined for HTTP/1.0 requests";
	return NULL;
}
