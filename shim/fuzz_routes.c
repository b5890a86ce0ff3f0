/*
 * fuzz_routes.c: libFuzzer harness for request -> route -> parameters, and
 * for database error -> problem.
 * Input: "<method> <path>[?query]\n<form body>".  Checks that matching
 * never reads out of bounds and that every filter built is well-formed
 * JSON text (balanced, valid UTF-8) with ids made of digits only.  The same
 * bytes, read as the fields of an error, must map to a known status, a
 * message not marked for clients must never be shown, and a syntax error's
 * position and expected text come together, from the error's own fields.
 * The same bytes, read as a raw request head, go through the framing check
 * (framing.c), which must not depend on the case of field names and values.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "framing.h"
#include "routes.h"

/* A minimal JSON object-of-scalars checker for what params.c produces. */
static int
json_string_end(const char *s, size_t n, size_t *i)
{
	if (*i >= n || s[*i] != '"')
		return 0;
	for ((*i)++; *i < n; (*i)++)
	{
		unsigned char c = (unsigned char) s[*i];

		if (c == '"')
		{
			(*i)++;
			return 1;
		}
		if (c < 0x20)
			return 0;
		if (c == '\\')
			(*i)++;
	}
	return 0;
}

static int
valid_filter(const char *s, size_t n)
{
	size_t		i = 0;

	if (n < 2 || s[0] != '{' || s[n - 1] != '}' || !utf8_valid(s, n))
		return 0;
	i = 1;
	if (s[i] == '}')
		return i + 1 == n;
	for (;;)
	{
		if (!json_string_end(s, n, &i) || i >= n || s[i++] != ':')
			return 0;
		if (i < n && s[i] == '"')
		{
			if (!json_string_end(s, n, &i))
				return 0;
		}
		else
		{
			if (i < n && s[i] == '-')
				i++;
			size_t		d = i;

			while (i < n && s[i] >= '0' && s[i] <= '9')
				i++;
			if (i == d)
				return 0;
		}
		if (i >= n)
			return 0;
		if (s[i] == '}')
			return i + 1 == n;
		if (s[i++] != ',')
			return 0;
	}
}

static int
known_status(int status)
{
	return status == 500 || strcmp(status_title(status), status_title(500)) != 0;
}

/* nnn of a TMnnn SQLSTATE, or -1 */
static int
tm_number(const char *s)
{
	if (s == NULL || strlen(s) != 5 || s[0] != 'T' || s[1] != 'M')
		return -1;
	for (int i = 2; i < 5; i++)
		if (s[i] < '0' || s[i] > '9')
			return -1;
	return atoi(s + 2);
}

/*
 * The input split at '\n' into SQLSTATE, message, detail, column, schema,
 * table, type and internal position ("-" or a missing line: the field is
 * absent).
 */
static void
check_error(const uint8_t *data, size_t size)
{
	char		buf[600];
	const char *f[8] = {NULL};
	char	   *s = buf;
	size_t		n = size < sizeof(buf) - 1 ? size : sizeof(buf) - 1;
	pg_error	e;
	problem		p;
	int			tm;

	memcpy(buf, data, n);
	buf[n] = '\0';
	for (int i = 0; i < 8 && s; i++)
	{
		f[i] = s;
		if ((s = strchr(s, '\n')) != NULL)
			*s++ = '\0';
		if (strcmp(f[i], "-") == 0)
			f[i] = NULL;
	}
	e = (pg_error) {f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]};
	p = problem_of(&e);
	if (p.status < 400 || p.status > 599 || !known_status(p.status) || p.detail == NULL ||
		p.code == NULL || p.code[0] == '\0' || p.retry_after < 0)
		abort();
	for (const char *c = p.code; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || *c == '_'))
			abort();
	/* only messages the extension marked for clients are shown, never on 500/501 */
	if (p.detail == e.message &&
		(!error_for_client(&e) || p.status == 500 || p.status == 501))
		abort();
	/* PostgreSQL's own errors name a table or type with their schema */
	if ((e.table || e.datatype) && !(e.sqlstate && strncmp(e.sqlstate, "TM", 2) == 0) &&
		error_for_client(&e))
		abort();
	if (p.field && (p.field != e.column || p.detail != e.message))
		abort();
	/*
	 * a syntax error's position and expected text: both or neither, only on
	 * a shown error with a field, the position a positive number, what was
	 * expected a non-empty part of the DETAIL
	 */
	if ((p.position > 0) != (p.expected != NULL) || p.position < 0)
		abort();
	if (p.expected && (p.field == NULL || e.detail == NULL || p.expected_len <= 0 ||
					   p.expected < e.detail ||
					   p.expected + p.expected_len > e.detail + strlen(e.detail)))
		abort();
	/* TMnnn is status nnn, for every error status the shim knows */
	tm = tm_number(e.sqlstate);
	if (tm >= 400 && known_status(tm) && p.status != tm)
		abort();
}

/*
 * framing_check() on the input, and on a copy with the header fields (what
 * follows the request line, which is case-sensitive) in upper case: the same
 * answer.
 */
static void
fuzz_framing(const char *in, size_t size)
{
	char	   *up = malloc(size ? size : 1);
	size_t		m = 0,
				mlen,
				fields;
	const char *nl,
			   *a,
			   *b;

	/* the method, after the empty line picohttpparser skips */
	if (m < size && in[m] == '\r')
		m++;
	if (m < size && in[m] == '\n')
		m++;
	for (mlen = 0; m + mlen < size && in[m + mlen] != ' '; mlen++)
		;
	nl = memchr(in + m, '\n', size - m);
	fields = nl ? (size_t) (nl - in) : size;
	for (size_t i = 0; i < size; i++)
		up[i] = i < fields ? in[i] : (char) toupper((unsigned char) in[i]);
	a = framing_check(in, size, in + m, mlen);
	b = framing_check(up, size, up + m, mlen);
	if (a != b || (a && a[0] == '\0'))
		abort();
	free(up);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *) data;
	const char *sp = memchr(in, ' ', size);
	const char *nl;
	size_t		mlen,
				rest;
	route_match m;
	query_params qp;

	check_error(data, size);
	fuzz_framing(in, size);
	if (sp == NULL)
		return 0;
	mlen = (size_t) (sp - in);
	rest = size - mlen - 1;
	nl = memchr(sp + 1, '\n', rest);
	size_t		line = nl ? (size_t) (nl - sp - 1) : rest;
	const char *path = sp + 1;
	const char *q = memchr(path, '?', line);
	size_t		plen = q ? (size_t) (q - path) : line;

	if (route_find(in, mlen, path, plen, &m) == MATCH_OK)
	{
		for (int i = 0; i < m.n_ids; i++)
			for (const char *c = m.ids[i]; *c; c++)
				if (*c < '0' || *c > '9')
					abort();
		/* a {name} is a non-empty segment of unreserved characters and escapes */
		if (m.has_name && (m.name[0] == '\0' || strlen(m.name) > ROUTE_MAX_NAME ||
						   strspn(m.name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
								  "0123456789-._~%@+=") != strlen(m.name)))
			abort();
		query_params_init(&qp);
		if (query_parse(routes[m.route].query, q ? q + 1 : "", q ? line - plen - 1 : 0, &qp) == 0 &&
			routes[m.route].query != Q_NONE && routes[m.route].query != Q_USERS &&
			!valid_filter(qp.filter.data, qp.filter.len))
			abort();
		query_params_free(&qp);
	}
	/* every query kind, and the form parser, on the raw query */
	for (int k = Q_NONE; k <= Q_SEARCH; k++)
	{
		query_params_init(&qp);
		if (query_parse((query_kind) k, q ? q + 1 : path, q ? line - plen - 1 : line, &qp) == 0 &&
			(k == Q_FILTER || k == Q_SEARCH) && !valid_filter(qp.filter.data, qp.filter.len))
			abort();
		if (qp.has_q && !utf8_valid(qp.q.data, qp.q.len))
			abort();
		query_params_free(&qp);
	}
	if (nl)
	{
		query_params_init(&qp);
		if (form_to_json(nl + 1, size - (size_t) (nl + 1 - in), &qp) == 0 &&
			!valid_filter(qp.filter.data, qp.filter.len))
			abort();
		query_params_free(&qp);
	}
	return 0;
}
