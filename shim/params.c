/*
 * params.c: query strings and form bodies -> statement parameters.
 *
 * GET /tasks and friends pass their parameters to the database as one jsonb
 * filter whose keys are the HTTP parameter names (the database validates
 * names and values and raises TM400 naming the parameter).  The shim only
 * checks what it must to build valid JSON: percent-encoding, UTF-8, NUL,
 * duplicates, and that limit is an integer.
 */
#include "routes.h"

#include <stdio.h>
#include <string.h>

void
query_params_init(query_params *qp)
{
	memset(qp, 0, sizeof(*qp));
	sb_init(&qp->filter);
	sb_init(&qp->q);
	sb_init(&qp->limit);
}

void
query_params_free(query_params *qp)
{
	sb_free(&qp->filter);
	sb_free(&qp->q);
	sb_free(&qp->limit);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes s[0..n) ('+' is a space) into out; -1 when malformed. */
static int
url_decode(const char *s, size_t n, strbuf *out)
{
	sb_reset(out);
	for (size_t i = 0; i < n; i++)
	{
		char		c = s[i];

		if (c == '+')
			c = ' ';
		else if (c == '%')
		{
			int			hi,
						lo;

			if (i + 2 >= n)
				return -1;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (char) (hi * 16 + lo);
			i += 2;
		}
		sb_append(out, &c, 1);
	}
	if (out->data == NULL)
		sb_append(out, "", 0);
	return utf8_valid(out->data, out->len) ? 0 : -1;
}

static void
set_bad(query_params *qp, const char *name, size_t len, const char *reason)
{
	if (len >= sizeof(qp->bad_param))
		len = sizeof(qp->bad_param) - 1;
	memcpy(qp->bad_param, name, len);
	qp->bad_param[len] = '\0';
	/* a name that is not clean text is not echoed back */
	if (!utf8_valid(qp->bad_param, len))
		strcpy(qp->bad_param, "?");
	qp->bad_reason = reason;
}

static int
is_integer(const char *s, size_t n)
{
	size_t		i = 0;

	if (n > 0 && s[0] == '-')
		i = 1;
	if (i == n || n - i > 9)
		return 0;
	for (; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* Keys seen so far, to refuse a parameter given twice. */
#define MAX_PARAMS 32

typedef struct seen_keys
{
	int			n;
	char		key[MAX_PARAMS][64];
} seen_keys;

static int
remember(seen_keys *seen, const char *k, size_t n)
{
	if (n >= 64)
		n = 63;
	for (int i = 0; i < seen->n; i++)
		if (strlen(seen->key[i]) == n && memcmp(seen->key[i], k, n) == 0)
			return 0;
	if (seen->n >= MAX_PARAMS)
		return -1;
	memcpy(seen->key[seen->n], k, n);
	seen->key[seen->n][n] = '\0';
	seen->n++;
	return 1;
}

/*
 * Walks name=value pairs; as_json: every pair goes into qp->filter (used
 * for forms), otherwise the route's query kind decides.
 */
static int
parse_pairs(query_kind kind, const char *qs, size_t len, query_params *qp, int as_json)
{
	strbuf		key,
				val;
	seen_keys	seen;
	int			rc = 0,
				n_filter = 0;
	size_t		i = 0;

	sb_init(&key);
	sb_init(&val);
	seen.n = 0;
	sb_reset(&qp->filter);
	sb_append(&qp->filter, "{", 1);
	while (i < len && rc == 0)
	{
		size_t		end = i,
					eq;

		while (end < len && qs[end] != '&')
			end++;
		eq = i;
		while (eq < end && qs[eq] != '=')
			eq++;
		if (end == i)
		{
			i = end + 1;		/* empty pair, as in "a=1&&b=2" */
			continue;
		}
		if (url_decode(qs + i, eq - i, &key) < 0 || key.len == 0)
		{
			set_bad(qp, qs + i, eq - i, "is not a well-formed parameter name");
			rc = -1;
			break;
		}
		if (url_decode(qs + (eq < end ? eq + 1 : end), eq < end ? end - eq - 1 : 0, &val) < 0)
		{
			set_bad(qp, key.data, key.len, "is not well-formed (percent-encoding or UTF-8)");
			rc = -1;
			break;
		}
		int			r = remember(&seen, key.data, key.len);

		if (r <= 0)
		{
			set_bad(qp, key.data, key.len, r == 0 ? "is given more than once" : "too many parameters");
			rc = -1;
			break;
		}

		int			is_q = !as_json && (kind == Q_USERS || kind == Q_SEARCH) &&
			key.len == 1 && key.data[0] == 'q';
		int			is_limit = key.len == 5 && memcmp(key.data, "limit", 5) == 0;

		if (is_q)
		{
			sb_reset(&qp->q);
			sb_append(&qp->q, val.data, val.len);
			qp->has_q = 1;
		}
		else if (!as_json && kind == Q_USERS && is_limit)
		{
			if (!is_integer(val.data, val.len))
			{
				set_bad(qp, key.data, key.len, "must be an integer");
				rc = -1;
				break;
			}
			sb_reset(&qp->limit);
			sb_append(&qp->limit, val.data, val.len);
			qp->has_limit = 1;
		}
		else if (as_json || kind == Q_FILTER || kind == Q_SEARCH)
		{
			if (n_filter++)
				sb_append(&qp->filter, ",", 1);
			sb_json_string(&qp->filter, key.data, key.len);
			sb_append(&qp->filter, ":", 1);
			if (!as_json && is_limit)
			{
				if (!is_integer(val.data, val.len))
				{
					set_bad(qp, key.data, key.len, "must be an integer");
					rc = -1;
					break;
				}
				/* re-printed, so "007" becomes the JSON number 7 */
				long		v = 0;

				sscanf(val.data, "%ld", &v);
				sb_printf(&qp->filter, "%ld", v);
			}
			else
				sb_json_string(&qp->filter, val.data, val.len);
		}
		else
		{
			set_bad(qp, key.data, key.len, "is not a known parameter");
			rc = -1;
			break;
		}
		i = end + 1;
	}
	sb_append(&qp->filter, "}", 1);
	sb_free(&key);
	sb_free(&val);
	return rc;
}

int
query_parse(query_kind kind, const char *qs, size_t len, query_params *qp)
{
	return parse_pairs(kind, qs, len, qp, 0);
}

int
form_to_json(const char *body, size_t len, query_params *qp)
{
	return parse_pairs(Q_FILTER, body, len, qp, 1);
}
