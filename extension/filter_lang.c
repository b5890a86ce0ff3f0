/*
 * filter_lang.c
 *	  The filter language (#14): one text for psql and HTTP, e.g.
 *	    status:todo (assignee:me OR team:"Design") due<2027-01-01 -tag:blocked
 *	    priority>=high changed:status:7d text:"launch plan"
 *	  compiled into a condition on "t" (a row of taskmgmt.tasks) for the list.
 *
 * Injection is impossible by construction: the SQL is assembled only from
 * fixed fragments in this file, and every value the user typed becomes an
 * element of one text[] bind parameter ($1), referenced as ($1)[k] with a
 * cast.  The caller runs the condition with EXECUTE ... USING.
 *
 * Grammar (recursive descent; AND binds tighter than OR):
 *	  or	:= and ("OR" and)*
 *	  and	:= unary (["AND"] unary)*
 *	  unary := ("-" | "NOT") unary | "(" or ")" | term
 *	  term	:= word | quoted | field op value
 *	  op	:= ":" | "=" | "<" | "<=" | ">" | ">="
 * A syntax error is TM400 (COLUMN filter) naming the character position
 * (from 1) and what was expected, each in a field of its own as well as in
 * the message: the position is the error's internal position with the
 * filter text as its internal query (psql prints the filter with a marker
 * under it), and DETAIL is "Expected <what>.".  The HTTP shim turns these
 * into errors[0].position and errors[0].expected (shim/errors.c), so the
 * two doors report the same numbers.
 */
#ifdef FL_STANDALONE
#include "filter_lang_fuzz.h"	/* the fuzzer's stand-ins for the backend */
#else
#include "taskmgmt.h"

#include <ctype.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

PG_FUNCTION_INFO_V1(tm_filter_compile);
#endif

char	   *tm_filter_compile_text(const char *src, char ***params, int *nparams, bool *narrows);

#define FL_MAX_LEN		2000
#define FL_MAX_DEPTH	32
#define FL_MAX_PARAMS	200
#define S "taskmgmt."

typedef struct FlState
{
	const char *src;
	int			len;
	int			pos;			/* byte offset */
	int			depth;
	StringInfoData sql;
	char	  **params;
	int			nparams;
	int			nots;			/* NOTs around the term being parsed */
	bool		narrows;		/* a top-level assignee or team condition */
	bool		top_or;			/* an OR outside every parenthesis */
} FlState;

/* the fuzzer checks every error's position and text (filter_lang_fuzz.h) */
#ifndef FL_ERROR_SEEN
#define FL_ERROR_SEEN(position, expected) ((void) 0)
#endif

static void fl_error(FlState *st, int at, const char *expected) pg_attribute_noreturn();

/*
 * at: the byte offset where the error is; reported as a character position
 * from 1 (one past the last character at the end of the text).  expected is
 * one of this file's phrases, never the user's text.
 */
static void
fl_error(FlState *st, int at, const char *expected)
{
	int			chars = pg_mbstrlen_with_len(st->src, at) + 1;

	FL_ERROR_SEEN(chars, expected);
	ereport(ERROR,
			(errcode(ERRCODE_TM_BAD_REQUEST),
			 errmsg("filter: expected %s at position %d", expected, chars),
			 errdetail("Expected %s.", expected),
			 err_generic_string(PG_DIAG_COLUMN_NAME, "filter"),
			 tm_errclient(),
			 internalerrposition(chars),
			 internalerrquery(st->src)));
}

static void
skip_ws(FlState *st)
{
	while (st->pos < st->len && isspace((unsigned char) st->src[st->pos]))
		st->pos++;
}

static bool
is_word_char(char c)
{
	return !(isspace((unsigned char) c) || c == '(' || c == ')' || c == '"' ||
			 c == ':' || c == '<' || c == '>' || c == '=' || c == '\0');
}

/* Adds a value to the parameters; returns its 1-based index. */
static int
add_param(FlState *st, const char *v)
{
	if (st->nparams >= FL_MAX_PARAMS)
		fl_error(st, st->pos, "a shorter filter (at most 200 values)");
	if (st->nparams % 16 == 0)
		st->params = st->params ? repalloc(st->params, sizeof(char *) * (st->nparams + 16))
			: palloc(sizeof(char *) * 16);
	st->params[st->nparams++] = pstrdup(v);
	return st->nparams;
}

/* A word or a "quoted string" (with \" and \\), or NULL if none here. */
static char *
read_value(FlState *st, bool *quoted)
{
	StringInfoData b;

	initStringInfo(&b);
	*quoted = false;
	if (st->pos < st->len && st->src[st->pos] == '"')
	{
		int			start = st->pos;

		*quoted = true;
		st->pos++;
		for (;;)
		{
			if (st->pos >= st->len)
				fl_error(st, start, "a closing '\"' for the quote opened here");
			if (st->src[st->pos] == '\\' && st->pos + 1 < st->len)
			{
				appendStringInfoChar(&b, st->src[st->pos + 1]);
				st->pos += 2;
				continue;
			}
			if (st->src[st->pos] == '"')
			{
				st->pos++;
				break;
			}
			appendStringInfoChar(&b, st->src[st->pos++]);
		}
		return b.data;
	}
	while (st->pos < st->len && is_word_char(st->src[st->pos]))
		appendStringInfoChar(&b, st->src[st->pos++]);
	if (b.len == 0)
		return NULL;
	return b.data;
}

static bool
all_digits(const char *s)
{
	if (*s == '\0' || strlen(s) > 18)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char) *s))
			return false;
	return true;
}

static const char *
sql_op(const char *op)
{
	return strcmp(op, ":") == 0 ? "=" : op;
}

/*
 * A date value: YYYY-MM-DD, today, yesterday, tomorrow, Nd / Nw (N days or
 * weeks ago), +Nd / +Nw (ahead).  Appends an SQL date expression.
 */
static void
date_expr(FlState *st, StringInfo out, const char *v, int at)
{
	int			n = 0,
				sign = -1,
				i = 0;
	char		unit;

	if (strcmp(v, "today") == 0)
	{
		appendStringInfoString(out, S "_user_today(" S "current_user_id())");
		return;
	}
	if (strcmp(v, "yesterday") == 0 || strcmp(v, "tomorrow") == 0)
	{
		appendStringInfo(out, "(" S "_user_today(" S "current_user_id()) %s 1)", v[0] == 'y' ? "-" : "+");
		return;
	}
	if (strlen(v) == 10 && v[4] == '-' && v[7] == '-')
	{
		for (int k = 0; k < 10; k++)
			if (k != 4 && k != 7 && !isdigit((unsigned char) v[k]))
				fl_error(st, at, "a date in the form YYYY-MM-DD");
		if (atoi(v + 5) < 1 || atoi(v + 5) > 12 || atoi(v + 8) < 1 || atoi(v + 8) > 31)
			fl_error(st, at, "a valid date");
		/* the cast checks the calendar; a bad date fails like any other value */
		appendStringInfo(out, "(($1)[%d])::date", add_param(st, v));
		return;
	}
	if (v[0] == '+')
	{
		sign = 1;
		i = 1;
	}
	else if (v[0] == '-')
		i = 1;
	if (!isdigit((unsigned char) v[i]))
		fl_error(st, at, "a date (YYYY-MM-DD, today, yesterday, tomorrow, 7d, +7d, 2w)");
	for (; isdigit((unsigned char) v[i]) && n < 100000; i++)
		n = n * 10 + (v[i] - '0');
	unit = v[i];
	if ((unit != 'd' && unit != 'w') || v[i + 1] != '\0' || n >= 100000)
		fl_error(st, at, "a date (YYYY-MM-DD, today, yesterday, tomorrow, 7d, +7d, 2w)");
	appendStringInfo(out, "(" S "_user_today(" S "current_user_id()) + %d)", sign * n * (unit == 'w' ? 7 : 1));
}

/* A period for changed:FIELD:PERIOD: Nd, Nw or Nh; returns an interval literal. */
static char *
period_value(FlState *st, const char *v, int at)
{
	int			n = 0,
				i = 0;

	for (; isdigit((unsigned char) v[i]) && n < 100000; i++)
		n = n * 10 + (v[i] - '0');
	if (i == 0 || n >= 100000 || v[i + (v[i] ? 1 : 0)] != '\0' ||
		(v[i] != 'd' && v[i] != 'w' && v[i] != 'h'))
		fl_error(st, at, "a period such as 7d, 2w or 12h");
	return psprintf("%d %s", n, v[i] == 'd' ? "days" : v[i] == 'w' ? "weeks" : "hours");
}

/* The history key of a field name in changed: and was:, or NULL. */
static const char *
history_key(const char *f)
{
	static const char *const map[][2] = {
		{"status", "status"}, {"priority", "priority"}, {"assignee", "assignee"},
		{"team", "team_id"}, {"tag", "tags"}, {"tags", "tags"}, {"due", "due_date"},
		{"title", "title"}, {"description", "description"}, {"parent", "parent_id"},
		{"recurrence", "recurrence"}, {NULL, NULL}
	};

	for (int i = 0; map[i][0]; i++)
		if (strcmp(f, map[i][0]) == 0)
			return map[i][1];
	return NULL;
}

static bool
in_list(const char *v, const char *const *list)
{
	for (int i = 0; list[i]; i++)
		if (strcmp(v, list[i]) == 0)
			return true;
	return false;
}

static const char *const statuses[] = {"todo", "in_progress", "done", "canceled", NULL};
static const char *const priorities[] = {"none", "low", "medium", "high", "urgent", NULL};
#define EXPECTED_FIELD "a field (status, priority, assignee, team, tag, due, created, updated, text, is, has, changed, was)"
static const char *const fields[] = {"status", "priority", "assignee", "team", "tag", "due", "created",
"updated", "text", "is", "has", "changed", "was", NULL};

/* field op value, the field already read (at: where it started). */
static void
field_term(FlState *st, const char *field, int at)
{
	StringInfo out = &st->sql;
	char		op[3] = {0};
	char	   *v;
	bool		quoted;
	int			vat;
	bool		cmp;

	/* an unknown field first: later messages name the field */
	if (!in_list(field, fields))
		fl_error(st, at, EXPECTED_FIELD);

	/* the operator */
	op[0] = st->src[st->pos++];
	if ((op[0] == '<' || op[0] == '>') && st->pos < st->len && st->src[st->pos] == '=')
		op[1] = st->src[st->pos++];
	cmp = op[0] != ':' && op[0] != '=';
	vat = st->pos;
	v = read_value(st, &quoted);
	if (v == NULL)
		fl_error(st, vat, psprintf("a value after '%s'", op));

	if (strcmp(field, "status") == 0 || strcmp(field, "priority") == 0)
	{
		bool		is_status = field[0] == 's';

		if (!in_list(v, is_status ? statuses : priorities))
			fl_error(st, vat, is_status ? "a status (todo, in_progress, done, canceled)"
					 : "a priority (none, low, medium, high, urgent)");
		if (is_status && cmp)
			fl_error(st, at + 6, "':' after status");
		appendStringInfo(out, "t.%s %s (($1)[%d])::" S "task_%s", field, sql_op(op),
						 add_param(st, v), field);
		return;
	}
	if (strcmp(field, "due") == 0 || strcmp(field, "created") == 0 || strcmp(field, "updated") == 0)
	{
		if (field[0] == 'd')
		{
			appendStringInfo(out, "t.due_date %s ", sql_op(op));
			date_expr(st, out, v, vat);
			return;
		}
		/* timestamps against the start of the user's days: index-friendly */
		appendStringInfo(out, "(t.%s_at %s " S "_day_start(", field,
						 strcmp(op, "<") == 0 || strcmp(op, ">=") == 0 ? op :
						 strcmp(op, "<=") == 0 ? "<" : strcmp(op, ">") == 0 ? ">=" : ">=");
		date_expr(st, out, v, vat);
		appendStringInfoString(out, strcmp(op, "<=") == 0 || strcmp(op, ">") == 0 ? " + 1))" : "))");
		if (!cmp)
		{
			appendStringInfo(out, " AND t.%s_at < " S "_day_start(", field);
			date_expr(st, out, v, vat);
			appendStringInfoString(out, " + 1)");
		}
		return;
	}
	if (cmp)
		fl_error(st, at + strlen(field), psprintf("':' after %s", field));
	/* an assignee or team that every match must have: its index carries the list */
	if ((strcmp(field, "assignee") == 0 && !(strcmp(v, "none") == 0 && !quoted)) || strcmp(field, "team") == 0)
		if (st->depth == 0 && st->nots == 0)
			st->narrows = true;
	if (strcmp(field, "assignee") == 0)
	{
		if (strcmp(v, "me") == 0 && !quoted)
			appendStringInfoString(out, "t.assignee_user_id = " S "current_user_id()");
		else if (strcmp(v, "none") == 0 && !quoted)
			appendStringInfoString(out, "(t.assignee_user_id IS NULL AND t.assignee_team_id IS NULL)");
		else if (all_digits(v))
			appendStringInfo(out, "t.assignee_user_id = (($1)[%d])::bigint", add_param(st, v));
		else
			appendStringInfo(out, "t.assignee_user_id IN (SELECT u.id FROM " S "users u "
							 "WHERE lower(u.display_name) = lower(($1)[%d]))", add_param(st, v));
	}
	else if (strcmp(field, "team") == 0)
	{
		if (all_digits(v))
			appendStringInfo(out, "t.team_id = (($1)[%d])::bigint", add_param(st, v));
		else
			appendStringInfo(out, "t.team_id IN (SELECT tm.id FROM " S "teams tm "
							 "WHERE lower(tm.name) = lower(($1)[%d]))", add_param(st, v));
	}
	else if (strcmp(field, "tag") == 0)
		appendStringInfo(out, "t.tags @> ARRAY[lower(($1)[%d])]", add_param(st, v));
	else if (strcmp(field, "text") == 0)
		appendStringInfo(out, "t.search_vector OPERATOR(" S "@@) websearch_to_tsquery('english', ($1)[%d])",
						 add_param(st, v));
	else if (strcmp(field, "is") == 0)
	{
		if (strcmp(v, "ready") == 0)
			appendStringInfoString(out, "(t.status IN ('todo', 'in_progress') AND NOT EXISTS ("
								   "SELECT FROM " S "task_relations r JOIN " S "tasks b ON b.id = r.task_id "
								   "WHERE r.other_id = t.id AND r.type = 'blocks' AND b.status NOT IN ('done', 'canceled')))");
		else if (strcmp(v, "overdue") == 0)
			appendStringInfoString(out, "(t.due_date < " S "_user_today(" S "current_user_id()) "
								   "AND t.status IN ('todo', 'in_progress'))");
		else if (strcmp(v, "open") == 0)
			appendStringInfoString(out, "t.status IN ('todo', 'in_progress')");
		else if (strcmp(v, "recurring") == 0)
			appendStringInfoString(out, "t.recurrence IS NOT NULL");
		else
			fl_error(st, vat, "ready, overdue, open or recurring after 'is:'");
	}
	else if (strcmp(field, "has") == 0)
	{
		if (strcmp(v, "subtasks") == 0)
			appendStringInfoString(out, "EXISTS (SELECT FROM " S "tasks c WHERE c.parent_id = t.id)");
		else if (strcmp(v, "parent") == 0)
			appendStringInfoString(out, "t.parent_id IS NOT NULL");
		else if (strcmp(v, "blockers") == 0)
			appendStringInfoString(out, "EXISTS (SELECT FROM " S "task_relations r JOIN " S "tasks b ON b.id = r.task_id "
								   "WHERE r.other_id = t.id AND r.type = 'blocks' AND b.status NOT IN ('done', 'canceled'))");
		else if (strcmp(v, "due") == 0)
			appendStringInfoString(out, "t.due_date IS NOT NULL");
		else
			fl_error(st, vat, "subtasks, parent, blockers or due after 'has:'");
	}
	else if (strcmp(field, "changed") == 0 || strcmp(field, "was") == 0)
	{
		const char *key = history_key(v);

		if (key == NULL || quoted)
			fl_error(st, vat, "a field (status, priority, assignee, team, tag, due, title, description, parent, recurrence)");
		if (field[0] == 'c')
		{
			appendStringInfo(out, "EXISTS (SELECT FROM " S "task_events e WHERE e.task_id = t.id "
							 "AND e.kind = 'updated' AND e.changes ? ($1)[%d]", add_param(st, key));
			if (st->pos < st->len && st->src[st->pos] == ':')
			{
				int			pat;
				char	   *p;

				st->pos++;
				pat = st->pos;
				p = read_value(st, &quoted);
				if (p == NULL)
					fl_error(st, pat, "a period such as 7d after ':'");
				appendStringInfo(out, " AND e.at >= now() - (($1)[%d])::interval",
								 add_param(st, period_value(st, p, pat)));
			}
			appendStringInfoChar(out, ')');
		}
		else
		{
			int			pat;
			char	   *w;

			if (st->pos >= st->len || st->src[st->pos] != ':')
				fl_error(st, st->pos, psprintf("':' and a value after was:%s", v));
			st->pos++;
			pat = st->pos;
			w = read_value(st, &quoted);
			if (w == NULL)
				fl_error(st, pat, "a value after ':'");
			appendStringInfo(out, "EXISTS (SELECT FROM " S "task_events e WHERE e.task_id = t.id "
							 "AND e.changes -> ($1)[%d] ->> 1 = ($1)[%d])", add_param(st, key), add_param(st, w));
		}
	}
	else
		fl_error(st, at, EXPECTED_FIELD);	/* a field of fields[] without a branch */
}

static void parse_or(FlState *st);

/* An upper-case keyword (OR, AND, NOT) standing alone here. */
static bool
at_keyword(FlState *st, const char *kw)
{
	int			n = strlen(kw);
	char		c;

	if (st->pos + n > st->len || strncmp(st->src + st->pos, kw, n) != 0)
		return false;
	if (st->pos + n == st->len)
		return true;
	c = st->src[st->pos + n];
	return isspace((unsigned char) c) || c == '(' || c == '"' || c == '-';
}

static void
parse_unary(FlState *st)
{
	int			at;
	char	   *w;
	bool		quoted;

	check_stack_depth();
	skip_ws(st);
	at = st->pos;
	if (st->pos >= st->len)
		fl_error(st, at, "a condition");
	if (st->src[st->pos] == '-' || at_keyword(st, "NOT"))
	{
		st->pos += st->src[st->pos] == '-' ? 1 : 3;
		appendStringInfoString(&st->sql, "NOT coalesce((");
		st->nots++;
		parse_unary(st);
		st->nots--;
		appendStringInfoString(&st->sql, "), false)");
		return;
	}
	if (st->src[st->pos] == '(')
	{
		if (++st->depth > FL_MAX_DEPTH)
			fl_error(st, at, "at most 32 nested parentheses");
		st->pos++;
		appendStringInfoChar(&st->sql, '(');
		parse_or(st);
		skip_ws(st);
		if (st->pos >= st->len || st->src[st->pos] != ')')
			fl_error(st, st->pos, psprintf("')' (to close the '(' at position %d)",
										   pg_mbstrlen_with_len(st->src, at) + 1));
		st->pos++;
		st->depth--;
		appendStringInfoChar(&st->sql, ')');
		return;
	}
	if (st->src[st->pos] == ')')
		fl_error(st, at, "a condition before ')'");
	if (st->src[st->pos] == ':' || st->src[st->pos] == '<' || st->src[st->pos] == '>' || st->src[st->pos] == '=')
		fl_error(st, at, "a field name before the operator");
	w = read_value(st, &quoted);
	if (!quoted && st->pos < st->len &&
		(st->src[st->pos] == ':' || st->src[st->pos] == '<' || st->src[st->pos] == '>' || st->src[st->pos] == '='))
	{
		field_term(st, w, at);
		return;
	}
	/* a bare word or phrase: full text */
	appendStringInfo(&st->sql, "t.search_vector OPERATOR(" S "@@) websearch_to_tsquery('english', ($1)[%d])",
					 add_param(st, w));
}

static void
parse_and(FlState *st)
{
	appendStringInfoChar(&st->sql, '(');
	parse_unary(st);
	for (;;)
	{
		skip_ws(st);
		if (st->pos >= st->len || st->src[st->pos] == ')' || at_keyword(st, "OR"))
			break;
		if (at_keyword(st, "AND"))
		{
			st->pos += 3;
			skip_ws(st);
		}
		appendStringInfoString(&st->sql, " AND ");
		parse_unary(st);
	}
	appendStringInfoChar(&st->sql, ')');
}

static void
parse_or(FlState *st)
{
	appendStringInfoChar(&st->sql, '(');
	parse_and(st);
	for (;;)
	{
		skip_ws(st);
		if (!at_keyword(st, "OR"))
			break;
		st->pos += 2;
		if (st->depth == 0)
			st->top_or = true;
		appendStringInfoString(&st->sql, " OR ");
		parse_and(st);
	}
	appendStringInfoChar(&st->sql, ')');
}

/*
 * Compiles src; returns the SQL condition and fills *params.  Raises TM400
 * on any error.  Shared by the SQL function and the fuzzer.
 */
char *
tm_filter_compile_text(const char *src, char ***params, int *nparams, bool *narrows)
{
	FlState		st;

	memset(&st, 0, sizeof(st));
	st.src = src;
	st.len = strlen(src);
	initStringInfo(&st.sql);
	if (pg_mbstrlen_with_len(src, st.len) > FL_MAX_LEN)
		fl_error(&st, 0, "a filter of at most 2000 characters");
	skip_ws(&st);
	if (st.pos >= st.len)
		fl_error(&st, st.pos, "a condition");
	parse_or(&st);
	skip_ws(&st);
	if (st.pos < st.len)
		fl_error(&st, st.pos, st.src[st.pos] == ')' ? "a condition or the end of the filter (this ')' has no '(')" : "the end of the filter");
	*params = st.params;
	*nparams = st.nparams;
	*narrows = st.narrows && !st.top_or;
	return st.sql.data;
}

#ifndef FL_STANDALONE

/*
 * _filter_compile(text) → {"sql": condition, "params": [values], "narrows":
 * bool}; narrows: every match has a given assignee or team, so the list
 * need not add the visibility arms as index paths (see _filter_where).
 */
Datum
tm_filter_compile(PG_FUNCTION_ARGS)
{
	char	   *src = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	  **params;
	int			nparams;
	bool		narrows;
	char	   *sql = tm_filter_compile_text(src, &params, &nparams, &narrows);
	StringInfoData j;

	initStringInfo(&j);
	appendStringInfoString(&j, "{\"sql\": ");
	escape_json(&j, sql);
	appendStringInfoString(&j, ", \"params\": [");
	for (int i = 0; i < nparams; i++)
	{
		if (i > 0)
			appendStringInfoString(&j, ", ");
		escape_json(&j, params[i]);
	}
	appendStringInfo(&j, "], \"narrows\": %s}", narrows ? "true" : "false");
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(j.data)));
}
#endif
