/*
 * routes.h: the static route table (method + path pattern -> one prepared
 * statement) and the pure request -> route -> parameters mapping.  Nothing
 * here depends on h2o or libpq, so the fuzz harness links it alone.
 */
#ifndef SHIM_ROUTES_H
#define SHIM_ROUTES_H

#include <stddef.h>
#include "buf.h"

/* route flags */
#define RF_AUTH			0x0001	/* bearer token; $1 is the token */
#define RF_BODY			0x0002	/* JSON body required */
#define RF_BODY_FORM	0x0004	/* JSON or application/x-www-form-urlencoded */
#define RF_SLOW			0x0008	/* bcrypt: counted against the sign-in cap */
#define RF_CREATED		0x0010	/* 201 */
#define RF_NO_CONTENT	0x0020	/* 204 */
#define RF_LOCATION		0x0040	/* column "id" -> Location */
#define RF_ETAG			0x0080	/* column "version" -> ETag */
#define RF_IF_MATCH		0x0100	/* If-Match -> last parameter */
#define RF_CSV			0x0200	/* streamed text/csv, one row per line */
#define RF_PDF			0x0400	/* binary result, application/pdf */
#define RF_IDEMPOTENT	0x0800	/* Idempotency-Key (or NULL) -> last parameter */
#define RF_CLIENT_ADDR	0x1000	/* the client's address -> parameter after the body */
#define RF_ICS			0x2000	/* text result, text/calendar */
/*
 * CalDAV: any body, no bearer; $1 the Authorization header (Basic, checked
 * by the database), then method, path, Depth, If-Match, If-None-Match and
 * the body; the answer's columns status, content_type, etag, location, dav,
 * allow and body are the response.
 */
#define RF_DAV			0x4000

/* how the query string becomes parameters */
typedef enum query_kind
{
	Q_NONE,						/* no query parameters accepted */
	Q_FILTER,					/* every parameter -> one jsonb filter */
	Q_USERS,					/* q (text), limit (int) */
	Q_SEARCH					/* q (text) + the rest as a jsonb filter */
} query_kind;

/* routes served by the shim itself */
typedef enum ops_kind
{
	OPS_NONE,
	OPS_HEALTHZ,
	OPS_READYZ,
	OPS_OPENAPI,
	OPS_DOCS,
	OPS_DOCS_ASSET,
	OPS_WEB_INDEX,				/* the web UI (web/dist): index.html, app.js, app.css, favicon.svg */
	OPS_WEB_JS,
	OPS_WEB_CSS,
	OPS_WEB_ICON,				/* favicon.svg, also as /favicon.ico */
	OPS_WEBSOCKET
} ops_kind;

typedef struct route
{
	const char *method;
	/*
	 * segments: "{id}" matches a positive bigint; "{name}" (optionally with
	 * a fixed suffix, "{name}.ics") any other non-empty segment, passed
	 * percent-encoded after the ids; "{rest}", last, whatever follows.
	 * method "*" takes any method (CalDAV's own ones).
	 */
	const char *pattern;
	unsigned	flags;
	query_kind	query;
	ops_kind	ops;
	const char *sql;			/* NULL for ops routes */
	const char *location;		/* Location prefix, e.g. "/api/v1/tasks/" */
} route;

/*
 * Entries that code uses by name, first in routes[] (designated
 * initializers), so appending a route never moves them.
 */
enum
{
	ROUTE_WS_CATCHUP			/* internal: websocket auth + catch-up */
};
#define WS_CATCHUP_LIMIT 200
/* a notification key: 16 bytes in base64url (taskmgmt._notification_key) */
#define WS_KEY_LEN 22

extern const route routes[];
extern const int n_routes;

#define ROUTE_MAX_IDS 2
#define ROUTE_MAX_NAME 255

typedef struct route_match
{
	int			route;			/* index into routes[], or -1 */
	int			n_ids;
	char		ids[ROUTE_MAX_IDS][24];
	int			has_name;
	char		name[ROUTE_MAX_NAME + 1];	/* "{name}": the segment, percent-encoded */
	char		allow[96];		/* for 405: the methods this path accepts */
} route_match;

typedef enum match_result
{
	MATCH_OK,
	MATCH_NOT_FOUND,
	MATCH_BAD_METHOD
} match_result;

match_result route_find(const char *method, size_t method_len,
						const char *path, size_t path_len, route_match *m);

/*
 * The query string (without '?') turned into statement parameters.  On a
 * bad parameter returns -1 and names it in *bad_param (static or in err).
 */
typedef struct query_params
{
	strbuf		filter;			/* JSON object for Q_FILTER / Q_SEARCH */
	strbuf		q;				/* Q_USERS / Q_SEARCH */
	int			has_q;
	strbuf		limit;			/* Q_USERS */
	int			has_limit;
	char		bad_param[64];
	const char *bad_reason;
} query_params;

void		query_params_init(query_params *qp);
void		query_params_free(query_params *qp);
int			query_parse(query_kind kind, const char *qs, size_t len, query_params *qp);

/*
 * An application/x-www-form-urlencoded body as a JSON object of strings.
 * Returns -1 (naming the field in qp->bad_param) when malformed.
 */
int			form_to_json(const char *body, size_t len, query_params *qp);

#endif
