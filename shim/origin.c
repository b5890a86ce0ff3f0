/*
 * origin.c: which browser origins may open websockets and get CORS headers.
 *
 * A page served by the shim itself may always open the notification
 * websocket: its Origin is the scheme plus the Host it was served on, so the
 * bundled web UI needs no setting.  Behind a TLS-terminating proxy the scheme
 * and Host seen here are not the public ones: --public-origin names the public
 * origin, or --trust-proxy takes scheme and host from X-Forwarded-Proto and
 * X-Forwarded-Host (only safe when the proxy overwrites them, or a client
 * could claim any origin).  Every other origin must be listed in
 * --cors-origins.
 */
#include "shim.h"

#include <string.h>

/* Exact match of one entry of a comma-separated list (no wildcards). */
static int
in_list(const char *list, const char *value, size_t len)
{
	const char *p = list;

	while (p && *p)
	{
		const char *comma = strchr(p, ',');
		size_t		n = comma ? (size_t) (comma - p) : strlen(p);

		while (n > 0 && *p == ' ')
			p++, n--;
		while (n > 0 && p[n - 1] == ' ')
			n--;
		if (n == len && memcmp(p, value, len) == 0)
			return 1;
		p = comma ? comma + 1 : NULL;
	}
	return 0;
}

int
origin_listed(const char *origin, size_t len)
{
	return in_list(cfg.cors_origins, origin, len) ||
		(cfg.public_origin && in_list(cfg.public_origin, origin, len));
}

/* The first element of a header that proxies may have made a list. */
static h2o_iovec_t
first_forwarded(h2o_req_t *req, const char *name)
{
	ssize_t		i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
	h2o_iovec_t v;
	size_t		n = 0;

	if (i < 0)
		return h2o_iovec_init(NULL, 0);
	v = req->headers.entries[i].value;
	while (n < v.len && v.base[n] != ',')
		n++;
	while (n > 0 && v.base[n - 1] == ' ')
		n--;
	while (n > 0 && v.base[0] == ' ')
		v.base++, n--;
	return h2o_iovec_init(v.base, n);
}

/*
 * Does "scheme://host" equal the origin?  Scheme and host compare without
 * regard to case, as browsers lower-case both when they build an Origin.
 */
static int
origin_is(const char *origin, size_t len, h2o_iovec_t scheme, h2o_iovec_t host)
{
	if (scheme.len == 0 || host.len == 0 || len != scheme.len + 3 + host.len)
		return 0;
	return h2o_lcstris(origin, scheme.len, scheme.base, scheme.len) &&
		memcmp(origin + scheme.len, "://", 3) == 0 &&
		h2o_lcstris(origin + scheme.len + 3, host.len, host.base, host.len);
}

/* The origin of the page that made the request is the shim's own. */
static int
origin_is_self(h2o_req_t *req, const char *origin, size_t len)
{
	h2o_iovec_t scheme = req->scheme ? req->scheme->name : h2o_iovec_init(H2O_STRLIT("http"));
	h2o_iovec_t host = req->input.authority;

	if (cfg.trust_proxy)
	{
		h2o_iovec_t fproto = first_forwarded(req, "x-forwarded-proto");
		h2o_iovec_t fhost = first_forwarded(req, "x-forwarded-host");

		if (fproto.len)
			scheme = fproto;
		if (fhost.len)
			host = fhost;
	}
	return origin_is(origin, len, scheme, host);
}

int
origin_allowed(h2o_req_t *req, const char *origin, size_t len)
{
	return origin_is_self(req, origin, len) || origin_listed(origin, len);
}
