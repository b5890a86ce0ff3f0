/*
 * routes.c: the route table.  Every SQL route is ONE statement: the token
 * is verified by taskmgmt.authenticate() in a MATERIALIZED CTE, so it runs
 * before the API function, in the same transaction, and the identity ends
 * with that transaction.  Parameters are always bind parameters.  Extra
 * columns ("id", "version") carry Location and ETag so the shim never has
 * to parse the JSON the database returns.  "OFFSET 0" keeps the planner
 * from flattening the subquery, which would call the function twice.
 *
 * RF_IDEMPOTENT routes wrap their write in idempotency_begin/finish with
 * the Idempotency-Key header as the last parameter (NULL without one): the
 * same key and request give the stored answer instead of a second write,
 * in the transaction of the write.  The request is identified by method,
 * path and the body as jsonb (so spacing and key order do not matter).
 */
#include "routes.h"

#include <string.h>

#define AUTH "WITH a AS MATERIALIZED (SELECT taskmgmt.authenticate($1) AS uid) "
/* the stored answer for key $K and this request, or NULL: go ahead */
#define IDEM(key, request) \
	", p AS MATERIALIZED (SELECT taskmgmt.idempotency_begin(" key ", " request ") AS prior FROM a) "
/* the stored body, or the write's, stored under the key */
#define IDEM_WRITE(key, status, write) \
	"coalesce(p.prior->'body', taskmgmt.idempotency_finish(" key ", " status ", " write "))"
/* CalDAV: Basic credentials first, then the request, after them (LATERAL) */
#define DAV "WITH a AS MATERIALIZED (SELECT taskmgmt.dav_authenticate($1) AS uid) " \
	"SELECT d.status, d.content_type, d.etag, d.location, d.dav, d.allow, d.body FROM a " \
	"CROSS JOIN LATERAL (SELECT * FROM taskmgmt.dav($2, $3, $4, $5, $6, $7) x " \
	"WHERE a.uid IS NOT NULL OFFSET 0) d"

const route routes[] = {
	/* internal (pattern "" never matches a path): websocket auth + catch-up */
	/*
	 * The expiry (a JWT's exp, a personal token's expires_at, NULL: never)
	 * is computed after authenticate() has accepted the token, in the same
	 * row: _token_expiry() is volatile, so no plan folds it early.  The
	 * user's notification key (how NOTIFY payloads name them, ws.c) comes
	 * last, computed once per fetch.
	 */
	[ROUTE_WS_CATCHUP] = {"", "", RF_AUTH, Q_NONE, OPS_NONE,
		"WITH a AS MATERIALIZED (SELECT taskmgmt.authenticate($1) AS uid, taskmgmt._token_expiry($1) AS exp), "
		"k AS MATERIALIZED (SELECT taskmgmt.notification_key() AS key FROM a WHERE a.uid IS NOT NULL) "
		"SELECT a.uid, a.exp, n.id, n.item, k.key FROM a LEFT JOIN k ON true LEFT JOIN LATERAL ("
		"SELECT (e->>'id')::bigint AS id, e AS item FROM jsonb_array_elements("
		"taskmgmt.notifications(jsonb_build_object('since', $2::bigint, 'limit', 200))->'items') e "
		"WHERE a.uid IS NOT NULL ORDER BY 1) n ON true", NULL},

	/* operations */
	{"GET", "/healthz", 0, Q_NONE, OPS_HEALTHZ, NULL, NULL},
	{"GET", "/readyz", 0, Q_NONE, OPS_READYZ, "SELECT 1", NULL},
	{"GET", "/openapi.json", 0, Q_NONE, OPS_OPENAPI, NULL, NULL},
	{"GET", "/docs", 0, Q_NONE, OPS_DOCS, NULL, NULL},
	{"GET", "/docs/redoc.standalone.js", 0, Q_NONE, OPS_DOCS_ASSET, NULL, NULL},
	{"GET", "/", 0, Q_NONE, OPS_WEB_INDEX, NULL, NULL},
	{"GET", "/app.js", 0, Q_NONE, OPS_WEB_JS, NULL, NULL},
	{"GET", "/app.css", 0, Q_NONE, OPS_WEB_CSS, NULL, NULL},
	{"GET", "/favicon.svg", 0, Q_NONE, OPS_WEB_ICON, NULL, NULL},
	/* what browsers ask for when a page names no icon (/openapi.json) */
	{"GET", "/favicon.ico", 0, Q_NONE, OPS_WEB_ICON, NULL, NULL},

	/* auth */
	{"POST", "/api/v1/auth/register", RF_BODY | RF_SLOW | RF_CREATED, Q_NONE, OPS_NONE,
		"SELECT taskmgmt.register(b->>'email', b->>'password', b->>'display_name') AS body "
		"FROM (SELECT $1::jsonb AS b) s", NULL},
	/* $2: the client's address, whom the attempt counts against */
	{"POST", "/api/v1/auth/token", RF_BODY_FORM | RF_SLOW | RF_CLIENT_ADDR, Q_NONE, OPS_NONE,
		"SELECT CASE WHEN coalesce(b->>'grant_type', 'password') = 'password' "
		"THEN taskmgmt.password_grant(coalesce(b->>'username', b->>'email'), b->>'password', $2::inet) "
		"ELSE (SELECT NULL::jsonb FROM taskmgmt._bad_parameter('grant_type', 'must be \"password\"')) "
		"END AS body FROM (SELECT $1::jsonb AS b) s", NULL},
	{"POST", "/api/v1/auth/refresh", RF_BODY, Q_NONE, OPS_NONE,
		"SELECT taskmgmt.refresh($1::jsonb->>'refresh_token') AS body", NULL},
	{"POST", "/api/v1/auth/logout", RF_AUTH | RF_NO_CONTENT, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.sign_out() FROM a", NULL},

	/* profile */
	{"GET", "/api/v1/me", RF_AUTH, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.me() AS body FROM a", NULL},
	{"GET", "/api/v1/me/notification-preferences", RF_AUTH, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.notification_preferences() AS body FROM a", NULL},
	{"PATCH", "/api/v1/me", RF_AUTH | RF_BODY, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.update_me($2::jsonb) AS body FROM a", NULL},
	{"POST", "/api/v1/me/password", RF_AUTH | RF_BODY | RF_SLOW | RF_NO_CONTENT, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.change_password($2::jsonb->>'current_password', "
		"$2::jsonb->>'new_password') FROM a", NULL},

	/* users and teams */
	{"GET", "/api/v1/users", RF_AUTH, Q_USERS, OPS_NONE,
		AUTH "SELECT taskmgmt.list_users($2, coalesce($3::int, 50)) AS body FROM a", NULL},
	{"POST", "/api/v1/teams", RF_AUTH | RF_BODY | RF_CREATED | RF_LOCATION | RF_IDEMPOTENT, Q_NONE, OPS_NONE,
		AUTH IDEM("$3", "'POST /api/v1/teams ' || $2::jsonb::text")
		"SELECT r AS body, r->>'id' AS id FROM "
		"(SELECT " IDEM_WRITE("$3", "201", "taskmgmt.create_team($2::jsonb->>'name')") " AS r FROM p OFFSET 0) t",
		"/api/v1/teams/"},
	{"GET", "/api/v1/teams", RF_AUTH, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.list_teams() AS body FROM a", NULL},
	{"GET", "/api/v1/teams/{id}", RF_AUTH, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.get_team($2::bigint) AS body FROM a", NULL},
	{"DELETE", "/api/v1/teams/{id}", RF_AUTH | RF_NO_CONTENT, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.delete_team($2::bigint) FROM a", NULL},
	{"POST", "/api/v1/teams/{id}/members", RF_AUTH | RF_BODY, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.add_team_member($2::bigint, ($3::jsonb->>'user_id')::bigint, "
		"coalesce($3::jsonb->>'role', 'member')) AS body FROM a", NULL},
	{"DELETE", "/api/v1/teams/{id}/members/{id}", RF_AUTH | RF_NO_CONTENT, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.remove_team_member($2::bigint, $3::bigint) FROM a", NULL},
	{"PATCH", "/api/v1/admin/users/{id}", RF_AUTH | RF_BODY, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.admin_update_user($2::bigint, $3::jsonb) AS body FROM a", NULL},

	/* tasks */
	{"POST", "/api/v1/tasks", RF_AUTH | RF_BODY | RF_CREATED | RF_LOCATION | RF_ETAG | RF_IDEMPOTENT,
		Q_NONE, OPS_NONE,
		AUTH IDEM("$3", "'POST /api/v1/tasks ' || $2::jsonb::text")
		"SELECT r AS body, r->>'id' AS id, r->>'version' AS version FROM "
		"(SELECT " IDEM_WRITE("$3", "201", "taskmgmt.create_task($2::jsonb)") " AS r FROM p OFFSET 0) t",
		"/api/v1/tasks/"},
	{"GET", "/api/v1/tasks", RF_AUTH, Q_FILTER, OPS_NONE,
		AUTH "SELECT taskmgmt.list_tasks($2::jsonb) AS body FROM a", NULL},
	{"GET", "/api/v1/tasks/export.csv", RF_AUTH | RF_CSV, Q_FILTER, OPS_NONE,
		/* the C function itself: export_tasks_csv_lines() wraps it for FROM */
		AUTH "SELECT taskmgmt._export_csv_lines($2::jsonb) AS line FROM a", NULL},
	{"GET", "/api/v1/tasks/{id}", RF_AUTH | RF_ETAG, Q_NONE, OPS_NONE,
		AUTH "SELECT r AS body, r->>'version' AS version FROM "
		"(SELECT taskmgmt.get_task($2::bigint) AS r FROM a OFFSET 0) t", NULL},
	{"PATCH", "/api/v1/tasks/{id}", RF_AUTH | RF_BODY | RF_ETAG | RF_IF_MATCH, Q_NONE, OPS_NONE,
		AUTH "SELECT r AS body, r->>'version' AS version FROM "
		"(SELECT taskmgmt.update_task($2::bigint, $3::jsonb, $4::int) AS r FROM a OFFSET 0) t", NULL},
	{"DELETE", "/api/v1/tasks/{id}", RF_AUTH | RF_NO_CONTENT, Q_FILTER, OPS_NONE,
		AUTH "SELECT taskmgmt.delete_task($2::bigint, taskmgmt._delete_cascade_param($3::jsonb)) FROM a", NULL},
	/* planning (#14): subtasks and relations */
	{"GET", "/api/v1/tasks/{id}/subtasks", RF_AUTH, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.task_subtasks($2::bigint) AS body FROM a", NULL},
	{"GET", "/api/v1/tasks/{id}/relations", RF_AUTH, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.list_relations($2::bigint) AS body FROM a", NULL},
	{"POST", "/api/v1/tasks/{id}/relations", RF_AUTH | RF_BODY | RF_CREATED, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.add_relation($2::bigint, $3::jsonb) AS body FROM a", NULL},
	{"DELETE", "/api/v1/tasks/{id}/relations/{id}", RF_AUTH | RF_NO_CONTENT, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.remove_relation($2::bigint, $3::bigint) FROM a", NULL},
	{"GET", "/api/v1/tasks/{id}/as-of", RF_AUTH, Q_FILTER, OPS_NONE,
		AUTH "SELECT taskmgmt.task_as_of($2::bigint, taskmgmt._as_of_param($3::jsonb)) AS body FROM a", NULL},
	{"GET", "/api/v1/tasks/{id}/history", RF_AUTH, Q_FILTER, OPS_NONE,
		AUTH "SELECT taskmgmt.task_history($2::bigint, $3::jsonb) AS body FROM a", NULL},
	{"POST", "/api/v1/tasks/{id}/updates", RF_AUTH | RF_BODY | RF_CREATED | RF_IDEMPOTENT, Q_NONE, OPS_NONE,
		AUTH IDEM("$4", "'POST /api/v1/tasks/' || $2 || '/updates ' || $3::jsonb::text")
		"SELECT " IDEM_WRITE("$4", "201", "taskmgmt.add_update($2::bigint, $3::jsonb->>'description')")
		" AS body FROM p", NULL},
	{"GET", "/api/v1/tasks/{id}/comments", RF_AUTH, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.comment_thread($2::bigint) AS body FROM a", NULL},
	{"POST", "/api/v1/tasks/{id}/comments", RF_AUTH | RF_BODY | RF_CREATED | RF_IDEMPOTENT, Q_NONE, OPS_NONE,
		AUTH IDEM("$4", "'POST /api/v1/tasks/' || $2 || '/comments ' || $3::jsonb::text")
		"SELECT " IDEM_WRITE("$4", "201", "taskmgmt.add_comment($2::bigint, $3::jsonb->>'body', "
							 "($3::jsonb->>'parent_id')::bigint)") " AS body FROM p", NULL},
	{"PATCH", "/api/v1/comments/{id}", RF_AUTH | RF_BODY, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.update_comment($2::bigint, $3::jsonb->>'body') AS body FROM a", NULL},
	{"DELETE", "/api/v1/comments/{id}", RF_AUTH | RF_NO_CONTENT, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.delete_comment($2::bigint) FROM a", NULL},

	/* search, notifications, export, reports */
	{"GET", "/api/v1/search", RF_AUTH, Q_SEARCH, OPS_NONE,
		AUTH "SELECT taskmgmt.search_tasks($2, $3::jsonb) AS body FROM a", NULL},
	{"GET", "/api/v1/notifications", RF_AUTH, Q_FILTER, OPS_NONE,
		AUTH "SELECT taskmgmt.notifications($2::jsonb) AS body FROM a", NULL},
	{"POST", "/api/v1/notifications/read", RF_AUTH | RF_BODY | RF_NO_CONTENT, Q_NONE, OPS_NONE,
		AUTH "SELECT CASE WHEN b->'all' = 'true' THEN taskmgmt.mark_all_read() "
		"ELSE taskmgmt.mark_read(CASE WHEN jsonb_typeof(b->'ids') = 'array' "
		"THEN ARRAY(SELECT jsonb_array_elements_text(b->'ids'))::bigint[] END) END "
		"FROM a, (SELECT $2::jsonb AS b) s", NULL},
	{"GET", "/api/v1/notifications/ws", 0, Q_NONE, OPS_WEBSOCKET, NULL, NULL},
	/*
	 * One-click unsubscribe (RFC 8058): the mail provider POSTs to the
	 * List-Unsubscribe address, without a session; the signed token in its
	 * query string is the authority (the body, "List-Unsubscribe=One-Click",
	 * is not needed).  A person following the link gets the web UI, which
	 * asks before it POSTs.
	 */
	{"POST", "/api/v1/mail/unsubscribe", 0, Q_FILTER, OPS_NONE,
		"SELECT taskmgmt.mail_unsubscribe($1::jsonb) AS body", NULL},
	{"GET", "/api/v1/mail/unsubscribe", 0, Q_NONE, OPS_WEB_INDEX, NULL, NULL},
	{"GET", "/api/v1/reports/summary", RF_AUTH, Q_FILTER, OPS_NONE,
		AUTH "SELECT taskmgmt.report_summary($2::jsonb) AS body FROM a", NULL},
	{"GET", "/api/v1/reports/summary.pdf", RF_AUTH | RF_PDF, Q_FILTER, OPS_NONE,
		AUTH "SELECT taskmgmt.report_summary_pdf($2::jsonb) AS body FROM a", NULL},

	/* personal access tokens */
	{"POST", "/api/v1/me/tokens", RF_AUTH | RF_BODY | RF_CREATED, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.create_token($2::jsonb) AS body FROM a", NULL},
	{"GET", "/api/v1/me/tokens", RF_AUTH, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.list_tokens() AS body FROM a", NULL},
	{"DELETE", "/api/v1/me/tokens/{id}", RF_AUTH | RF_NO_CONTENT, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.revoke_token($2::bigint) FROM a", NULL},

	/* saved views; a view's name arrives percent-encoded */
	{"GET", "/api/v1/views", RF_AUTH, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.list_views() AS body FROM a", NULL},
	{"POST", "/api/v1/views", RF_AUTH | RF_BODY | RF_CREATED, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.save_view_json($2::jsonb) AS body FROM a", NULL},
	{"DELETE", "/api/v1/views/{name}", RF_AUTH | RF_NO_CONTENT, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.delete_view(coalesce(taskmgmt._url_decode($2), '')) FROM a", NULL},

	/* webhooks */
	{"POST", "/api/v1/webhooks", RF_AUTH | RF_BODY | RF_CREATED, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.create_webhook($2::jsonb) AS body FROM a", NULL},
	{"GET", "/api/v1/webhooks", RF_AUTH, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.list_webhooks() AS body FROM a", NULL},
	{"DELETE", "/api/v1/webhooks/{id}", RF_AUTH | RF_NO_CONTENT, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.delete_webhook($2::bigint) FROM a", NULL},
	{"GET", "/api/v1/webhooks/{id}/deliveries", RF_AUTH, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.webhook_deliveries($2::bigint) AS body FROM a", NULL},

	/* calendar: the subscription feed (its token is the credential) and CalDAV */
	{"POST", "/api/v1/me/calendar-feed", RF_AUTH | RF_CREATED, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.create_calendar_feed() AS body FROM a", NULL},
	{"DELETE", "/api/v1/me/calendar-feed", RF_AUTH | RF_NO_CONTENT, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.revoke_calendar_feed() FROM a", NULL},
	{"GET", "/api/v1/calendar/{name}.ics", RF_ICS, Q_NONE, OPS_NONE,
		"SELECT taskmgmt.calendar_feed($1) AS body", NULL},
	{"GET", "/.well-known/caldav", RF_DAV, Q_NONE, OPS_NONE, DAV, NULL},
	{"*", "/.well-known/caldav", RF_DAV, Q_NONE, OPS_NONE, DAV, NULL},
	{"GET", "/dav/{rest}", RF_DAV, Q_NONE, OPS_NONE, DAV, NULL},
	{"PUT", "/dav/{rest}", RF_DAV, Q_NONE, OPS_NONE, DAV, NULL},
	{"DELETE", "/dav/{rest}", RF_DAV, Q_NONE, OPS_NONE, DAV, NULL},
	{"*", "/dav/{rest}", RF_DAV, Q_NONE, OPS_NONE, DAV, NULL},
};

const int	n_routes = sizeof(routes) / sizeof(routes[0]);

/* Next segment of p[0..n) starting at *pos (just after a '/'). */
static int
next_segment(const char *p, size_t n, size_t *pos, const char **seg, size_t *seg_len)
{
	if (*pos > n)
		return 0;
	size_t		start = *pos,
				i = start;

	while (i < n && p[i] != '/')
		i++;
	*seg = p + start;
	*seg_len = i - start;
	*pos = i + 1;
	return 1;
}

/* A positive bigint written without sign or leading zero. */
static int
is_id(const char *s, size_t n)
{
	static const char max[] = "9223372036854775807";

	if (n == 0 || n > 19 || s[0] == '0')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return n < 19 || memcmp(s, max, 19) <= 0;
}

/* A view name or token: unreserved characters and percent-escapes. */
static int
is_name(const char *s, size_t n)
{
	if (n == 0 || n > ROUTE_MAX_NAME)
		return 0;
	for (size_t i = 0; i < n; i++)
	{
		char		c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '-' || c == '.' || c == '_' || c == '~' || c == '%' || c == '@' ||
			  c == '+' || c == '='))
			return 0;
	}
	return 1;
}

static int
path_matches(const char *pattern, const char *path, size_t path_len, route_match *m)
{
	size_t		plen = strlen(pattern),
				ppos = 1,
				qpos = 1;
	const char *ps,
			   *qs;
	size_t		pl,
				ql;

	if (path_len == 0 || path[0] != '/')
		return 0;
	m->n_ids = 0;
	m->has_name = 0;
	for (;;)
	{
		int			more_p = next_segment(pattern, plen, &ppos, &ps, &pl);
		int			more_q;

		/* "{rest}": the rest of the path, nothing included */
		if (more_p && pl == 6 && memcmp(ps, "{rest}", 6) == 0)
			return 1;
		more_q = next_segment(path, path_len, &qpos, &qs, &ql);
		if (!more_p || !more_q)
			return more_p == more_q;
		if (pl == 4 && memcmp(ps, "{id}", 4) == 0)
		{
			if (!is_id(qs, ql) || m->n_ids >= ROUTE_MAX_IDS)
				return 0;
			memcpy(m->ids[m->n_ids], qs, ql);
			m->ids[m->n_ids][ql] = '\0';
			m->n_ids++;
		}
		else if (pl >= 6 && memcmp(ps, "{name}", 6) == 0)
		{
			/* "{name}.ics": the segment must end with the suffix */
			size_t		sl = pl - 6;

			if (ql <= sl || memcmp(qs + ql - sl, ps + 6, sl) != 0 || !is_name(qs, ql - sl) ||
				m->has_name)
				return 0;
			memcpy(m->name, qs, ql - sl);
			m->name[ql - sl] = '\0';
			m->has_name = 1;
		}
		else if (pl != ql || memcmp(ps, qs, pl) != 0)
			return 0;
	}
}

/* HEAD is answered wherever GET is: the same status and headers, no body */
static int
method_matches(const char *route_method, const char *method, size_t method_len)
{
	if (strlen(route_method) == method_len && memcmp(route_method, method, method_len) == 0)
		return 1;
	return method_len == 4 && memcmp(method, "HEAD", 4) == 0 && strcmp(route_method, "GET") == 0;
}

match_result
route_find(const char *method, size_t method_len, const char *path, size_t path_len,
		   route_match *m)
{
	int			path_found = 0;
	route_match tmp;

	m->route = -1;
	m->n_ids = 0;
	m->has_name = 0;
	m->allow[0] = '\0';
	for (int i = 0; i < n_routes; i++)
	{
		if (!path_matches(routes[i].pattern, path, path_len, &tmp))
			continue;
		/* fixed segments win over {id}: export.csv is listed before {id} */
		if (strcmp(routes[i].method, "*") == 0 || method_matches(routes[i].method, method, method_len))
		{
			*m = tmp;
			m->route = i;
			return MATCH_OK;
		}
		if (!strstr(m->allow, routes[i].method) &&
			strlen(m->allow) + strlen(routes[i].method) + 9 < sizeof(m->allow))
		{
			if (m->allow[0])
				strcat(m->allow, ", ");
			strcat(m->allow, routes[i].method);
			if (strcmp(routes[i].method, "GET") == 0)
				strcat(m->allow, ", HEAD");
		}
		path_found = 1;
	}
	return path_found ? MATCH_BAD_METHOD : MATCH_NOT_FOUND;
}
