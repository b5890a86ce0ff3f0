/*
 * routes.c: the route table.  Every SQL route is ONE statement: the token
 * is verified by taskmgmt.authenticate() in a MATERIALIZED CTE, so it runs
 * before the API function, in the same transaction, and the identity ends
 * with that transaction.  Parameters are always bind parameters.  Extra
 * columns ("id", "version") carry Location and ETag so the shim never has
 * to parse the JSON the database returns.  "OFFSET 0" keeps the planner
 * from flattening the subquery, which would call the function twice.
 */
#include "routes.h"

#include <string.h>

#define AUTH "WITH a AS MATERIALIZED (SELECT taskmgmt.authenticate($1) AS uid) "

const route routes[] = {
	/* operations */
	{"GET", "/healthz", 0, Q_NONE, OPS_HEALTHZ, NULL, NULL},
	{"GET", "/readyz", 0, Q_NONE, OPS_READYZ, "SELECT 1", NULL},
	{"GET", "/metrics", 0, Q_NONE, OPS_METRICS, NULL, NULL},
	{"GET", "/openapi.json", 0, Q_NONE, OPS_OPENAPI, NULL, NULL},
	{"GET", "/docs", 0, Q_NONE, OPS_DOCS, NULL, NULL},
	{"GET", "/docs/redoc.standalone.js", 0, Q_NONE, OPS_DOCS_ASSET, NULL, NULL},
	{"GET", "/", 0, Q_NONE, OPS_WEB_INDEX, NULL, NULL},
	{"GET", "/app.js", 0, Q_NONE, OPS_WEB_JS, NULL, NULL},
	{"GET", "/app.css", 0, Q_NONE, OPS_WEB_CSS, NULL, NULL},

	/* auth */
	{"POST", "/api/v1/auth/register", RF_BODY | RF_SLOW | RF_CREATED, Q_NONE, OPS_NONE,
		"SELECT taskmgmt.register(b->>'email', b->>'password', b->>'display_name') AS body "
		"FROM (SELECT $1::jsonb AS b) s", NULL},
	{"POST", "/api/v1/auth/token", RF_BODY_FORM | RF_SLOW, Q_NONE, OPS_NONE,
		"SELECT CASE WHEN coalesce(b->>'grant_type', 'password') = 'password' "
		"THEN taskmgmt.password_grant(coalesce(b->>'username', b->>'email'), b->>'password') "
		"ELSE (SELECT NULL::jsonb FROM taskmgmt._bad_parameter('grant_type', 'must be \"password\"')) "
		"END AS body FROM (SELECT $1::jsonb AS b) s", NULL},
	{"POST", "/api/v1/auth/refresh", RF_BODY, Q_NONE, OPS_NONE,
		"SELECT taskmgmt.refresh($1::jsonb->>'refresh_token') AS body", NULL},
	{"POST", "/api/v1/auth/logout", RF_AUTH | RF_NO_CONTENT, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.sign_out() FROM a", NULL},

	/* profile */
	{"GET", "/api/v1/me", RF_AUTH, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.me() AS body FROM a", NULL},
	{"PATCH", "/api/v1/me", RF_AUTH | RF_BODY, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.update_me($2::jsonb) AS body FROM a", NULL},
	{"POST", "/api/v1/me/password", RF_AUTH | RF_BODY | RF_SLOW | RF_NO_CONTENT, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.change_password($2::jsonb->>'current_password', "
		"$2::jsonb->>'new_password') FROM a", NULL},

	/* users and teams */
	{"GET", "/api/v1/users", RF_AUTH, Q_USERS, OPS_NONE,
		AUTH "SELECT taskmgmt.list_users($2, coalesce($3::int, 50)) AS body FROM a", NULL},
	{"POST", "/api/v1/teams", RF_AUTH | RF_BODY | RF_CREATED | RF_LOCATION, Q_NONE, OPS_NONE,
		AUTH "SELECT r AS body, r->>'id' AS id FROM "
		"(SELECT taskmgmt.create_team($2::jsonb->>'name') AS r FROM a OFFSET 0) t",
		"/api/v1/teams/"},
	{"GET", "/api/v1/teams", RF_AUTH, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.list_teams() AS body FROM a", NULL},
	{"GET", "/api/v1/teams/{id}", RF_AUTH, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.get_team($2::bigint) AS body FROM a", NULL},
	{"POST", "/api/v1/teams/{id}/members", RF_AUTH | RF_BODY, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.add_team_member($2::bigint, ($3::jsonb->>'user_id')::bigint, "
		"coalesce($3::jsonb->>'role', 'member')) AS body FROM a", NULL},
	{"DELETE", "/api/v1/teams/{id}/members/{id}", RF_AUTH | RF_NO_CONTENT, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.remove_team_member($2::bigint, $3::bigint) FROM a", NULL},
	{"PATCH", "/api/v1/admin/users/{id}", RF_AUTH | RF_BODY, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.admin_update_user($2::bigint, $3::jsonb) AS body FROM a", NULL},

	/* tasks */
	{"POST", "/api/v1/tasks", RF_AUTH | RF_BODY | RF_CREATED | RF_LOCATION | RF_ETAG, Q_NONE, OPS_NONE,
		AUTH "SELECT r AS body, r->>'id' AS id, r->>'version' AS version FROM "
		"(SELECT taskmgmt.create_task($2::jsonb) AS r FROM a OFFSET 0) t",
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
	{"DELETE", "/api/v1/tasks/{id}", RF_AUTH | RF_NO_CONTENT, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.delete_task($2::bigint) FROM a", NULL},
	{"GET", "/api/v1/tasks/{id}/history", RF_AUTH, Q_FILTER, OPS_NONE,
		AUTH "SELECT taskmgmt.task_history($2::bigint, $3::jsonb) AS body FROM a", NULL},
	{"POST", "/api/v1/tasks/{id}/updates", RF_AUTH | RF_BODY | RF_CREATED, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.add_update($2::bigint, $3::jsonb->>'description') AS body FROM a", NULL},
	{"GET", "/api/v1/tasks/{id}/comments", RF_AUTH, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.comment_thread($2::bigint) AS body FROM a", NULL},
	{"POST", "/api/v1/tasks/{id}/comments", RF_AUTH | RF_BODY | RF_CREATED, Q_NONE, OPS_NONE,
		AUTH "SELECT taskmgmt.add_comment($2::bigint, $3::jsonb->>'body', "
		"($3::jsonb->>'parent_id')::bigint) AS body FROM a", NULL},
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
	{"GET", "/api/v1/reports/summary", RF_AUTH, Q_FILTER, OPS_NONE,
		AUTH "SELECT taskmgmt.report_summary($2::jsonb) AS body FROM a", NULL},
	/* internal (pattern "" never matches a path): websocket auth + catch-up */
	/*
	 * exp is decoded from the CTE's column, not from $1: with $1 a custom
	 * plan would fold the decoding of a malformed token at plan time, before
	 * authenticate() can refuse it as 28000.
	 */
	{"", "", RF_AUTH, Q_NONE, OPS_NONE,
		"WITH a AS MATERIALIZED (SELECT taskmgmt.authenticate($1) AS uid, split_part($1, '.', 2) AS payload) "
		"SELECT a.uid, "
		"(convert_from(decode(rpad(translate(a.payload, '-_', '+/'), "
		"((length(a.payload) + 3) / 4) * 4, '='), 'base64'), 'UTF8')::jsonb->>'exp')::bigint AS exp, "
		"n.id, n.item FROM a LEFT JOIN LATERAL ("
		"SELECT (e->>'id')::bigint AS id, e AS item FROM jsonb_array_elements("
		"taskmgmt.notifications(jsonb_build_object('since', $2::bigint, 'limit', 200))->'items') e "
		"WHERE a.uid IS NOT NULL ORDER BY 1) n ON true", NULL},
	{"GET", "/api/v1/reports/summary.pdf", RF_AUTH | RF_PDF, Q_FILTER, OPS_NONE,
		AUTH "SELECT taskmgmt.report_summary_pdf($2::jsonb) AS body FROM a", NULL},
};

const int	n_routes = sizeof(routes) / sizeof(routes[0]);
const int	ws_catchup_route = sizeof(routes) / sizeof(routes[0]) - 2;

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
	for (;;)
	{
		int			more_p = next_segment(pattern, plen, &ppos, &ps, &pl);
		int			more_q = next_segment(path, path_len, &qpos, &qs, &ql);

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
		else if (pl != ql || memcmp(ps, qs, pl) != 0)
			return 0;
	}
}

match_result
route_find(const char *method, size_t method_len, const char *path, size_t path_len,
		   route_match *m)
{
	int			path_found = 0;
	route_match tmp;

	m->route = -1;
	m->n_ids = 0;
	m->allow[0] = '\0';
	for (int i = 0; i < n_routes; i++)
	{
		if (!path_matches(routes[i].pattern, path, path_len, &tmp))
			continue;
		/* fixed segments win over {id}: export.csv is listed before {id} */
		if (strlen(routes[i].method) == method_len &&
			memcmp(routes[i].method, method, method_len) == 0)
		{
			*m = tmp;
			m->route = i;
			return MATCH_OK;
		}
		if (!strstr(m->allow, routes[i].method) &&
			strlen(m->allow) + strlen(routes[i].method) + 3 < sizeof(m->allow))
		{
			if (m->allow[0])
				strcat(m->allow, ", ");
			strcat(m->allow, routes[i].method);
		}
		path_found = 1;
	}
	return path_found ? MATCH_BAD_METHOD : MATCH_NOT_FOUND;
}
