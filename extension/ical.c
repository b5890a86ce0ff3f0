/*
 * ical.c
 *	  iCalendar (RFC 5545) with libical: a task as a VTODO for CalDAV, open
 *	  tasks' due dates as all-day VEVENTs for the subscription feed, and a
 *	  client's VTODO parsed into the task fields of the JSON API
 *	  (93_caldav.sql applies them with the JSON API's own validation).
 *
 * Mapping: SUMMARY = title, DESCRIPTION = description, STATUS NEEDS-ACTION /
 * IN-PROCESS / COMPLETED / CANCELLED = todo / in_progress / done / canceled,
 * PRIORITY 1-2 / 3-4 / 5 / 6-9 / 0 = urgent / high / medium / low / none
 * (rendered 1, 3, 5, 7, absent), DUE;VALUE=DATE = due_date, CATEGORIES = tags,
 * RRULE = recurrence, RELATED-TO;RELTYPE=PARENT = the parent task (by UID;
 * 93_caldav.sql resolves it among the tasks the caller sees).
 *
 * A VTODO the model cannot hold is refused as a whole, naming what: a due
 * time of day, a start date, recurrence beyond one RRULE, alarms, children
 * or siblings, attendees, locations and the like.  Bookkeeping (UID, DTSTAMP,
 * CREATED, LAST-MODIFIED, SEQUENCE, COMPLETED, PERCENT-COMPLETE, CLASS
 * PUBLIC) and clients' private X- properties carry no task data and are
 * accepted.  Malformed iCalendar is TM400, unsupported content TM422.
 *
 * libical allocates with malloc: every path frees its objects before an
 * error is raised, so nothing leaks on ereport.  Its errors are made
 * non-fatal at load (the default would abort the backend).
 */
#include "taskmgmt.h"

#include <libical/ical.h>

#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#define PRODID "-//taskmgmt//taskmgmt 0.2//EN"

/* From _PG_init. */
void
tm_ical_init(void)
{
	icalerror_set_errors_are_fatal(0);
}

/* ---------------------------------------------------------------- rendering */

static struct icaltimetype
ical_utc(TimestampTz ts)
{
	return icaltime_from_timet_with_zone(timestamptz_to_time_t(ts), 0,
										 icaltimezone_get_utc_timezone());
}

static struct icaltimetype
ical_date(DateADT d)
{
	struct icaltimetype t = icaltime_null_date();
	int			y,
				m,
				day;

	j2date(d + POSTGRES_EPOCH_JDATE, &y, &m, &day);
	t.year = y;
	t.month = m;
	t.day = day;
	t.is_date = 1;
	return t;
}

static text *
render(icalcomponent *cal)
{
	char	   *s = icalcomponent_as_ical_string_r(cal);
	text	   *result;

	icalcomponent_free(cal);
	if (s == NULL)
		elog(ERROR, "could not render iCalendar");
	result = cstring_to_text(s);
	free(s);
	return result;
}

static icalcomponent *
new_calendar(void)
{
	icalcomponent *cal = icalcomponent_new(ICAL_VCALENDAR_COMPONENT);

	icalcomponent_add_property(cal, icalproperty_new_version("2.0"));
	icalcomponent_add_property(cal, icalproperty_new_prodid(PRODID));
	return cal;
}

static int
priority_number(const char *p)
{
	if (strcmp(p, "urgent") == 0)
		return 1;
	if (strcmp(p, "high") == 0)
		return 3;
	if (strcmp(p, "medium") == 0)
		return 5;
	if (strcmp(p, "low") == 0)
		return 7;
	return 0;
}

static icalproperty_status
status_value(const char *s)
{
	if (strcmp(s, "in_progress") == 0)
		return ICAL_STATUS_INPROCESS;
	if (strcmp(s, "done") == 0)
		return ICAL_STATUS_COMPLETED;
	if (strcmp(s, "canceled") == 0)
		return ICAL_STATUS_CANCELLED;
	return ICAL_STATUS_NEEDSACTION;
}

/*
 * _ical_vtodo(uid, summary, description, status, priority, due, tags,
 *			   created, modified, completed, sequence, parent_uid, recurrence)
 *	 -> one VCALENDAR
 */
PG_FUNCTION_INFO_V1(tm_ical_vtodo);
Datum
tm_ical_vtodo(PG_FUNCTION_ARGS)
{
	char	   *uid = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *summary = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *description = PG_ARGISNULL(2) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *status = text_to_cstring(PG_GETARG_TEXT_PP(3));
	char	   *priority = text_to_cstring(PG_GETARG_TEXT_PP(4));
	Datum	   *tags = NULL;
	bool	   *tag_nulls = NULL;
	int			n_tags = 0;
	icalcomponent *cal;
	icalcomponent *todo;
	int			prio = priority_number(priority);

	if (!PG_ARGISNULL(6))
		deconstruct_array(PG_GETARG_ARRAYTYPE_P(6), TEXTOID, -1, false, TYPALIGN_INT,
						  &tags, &tag_nulls, &n_tags);

	cal = new_calendar();
	todo = icalcomponent_new(ICAL_VTODO_COMPONENT);
	icalcomponent_add_property(todo, icalproperty_new_uid(uid));
	icalcomponent_add_property(todo, icalproperty_new_dtstamp(ical_utc(PG_GETARG_TIMESTAMPTZ(8))));
	icalcomponent_add_property(todo, icalproperty_new_created(ical_utc(PG_GETARG_TIMESTAMPTZ(7))));
	icalcomponent_add_property(todo, icalproperty_new_lastmodified(ical_utc(PG_GETARG_TIMESTAMPTZ(8))));
	icalcomponent_add_property(todo, icalproperty_new_sequence(PG_GETARG_INT32(10) - 1));
	icalcomponent_add_property(todo, icalproperty_new_summary(summary));
	if (description[0] != '\0')
		icalcomponent_add_property(todo, icalproperty_new_description(description));
	icalcomponent_add_property(todo, icalproperty_new_status(status_value(status)));
	if (prio != 0)
		icalcomponent_add_property(todo, icalproperty_new_priority(prio));
	if (!PG_ARGISNULL(5))
	{
		icalproperty *due = icalproperty_new_due(ical_date(PG_GETARG_DATEADT(5)));

		icalproperty_add_parameter(due, icalparameter_new_value(ICAL_VALUE_DATE));
		icalcomponent_add_property(todo, due);
	}
	/* one CATEGORIES each: a comma inside one value would be escaped */
	for (int i = 0; i < n_tags; i++)
		if (!tag_nulls[i])
			icalcomponent_add_property(todo,
									   icalproperty_new_categories(TextDatumGetCString(tags[i])));
	if (!PG_ARGISNULL(12))
		icalcomponent_add_property(todo,
								   icalproperty_new_rrule(icalrecurrencetype_from_string(text_to_cstring(PG_GETARG_TEXT_PP(12)))));
	if (!PG_ARGISNULL(11))
	{
		icalproperty *rel = icalproperty_new_relatedto(text_to_cstring(PG_GETARG_TEXT_PP(11)));

		icalproperty_add_parameter(rel, icalparameter_new_reltype(ICAL_RELTYPE_PARENT));
		icalcomponent_add_property(todo, rel);
	}
	if (strcmp(status, "done") == 0)
	{
		if (!PG_ARGISNULL(9))
			icalcomponent_add_property(todo, icalproperty_new_completed(ical_utc(PG_GETARG_TIMESTAMPTZ(9))));
		icalcomponent_add_property(todo, icalproperty_new_percentcomplete(100));
	}
	icalcomponent_add_component(cal, todo);
	PG_RETURN_TEXT_P(render(cal));
}

/*
 * _ical_feed(name, uids, summaries, dues, descriptions, stamps) -> a
 * VCALENDAR of all-day VEVENTs, one per due date (calendar apps show
 * events, not to-dos, from a subscription).
 */
PG_FUNCTION_INFO_V1(tm_ical_feed);
Datum
tm_ical_feed(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Datum	   *uids,
			   *summaries,
			   *dues,
			   *descriptions,
			   *stamps;
	bool	   *n1,
			   *n2,
			   *n3,
			   *n4,
			   *n5;
	int			n,
				n_summaries,
				n_dues,
				n_descriptions,
				n_stamps;
	icalcomponent *cal;

	deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), TEXTOID, -1, false, TYPALIGN_INT, &uids, &n1, &n);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(2), TEXTOID, -1, false, TYPALIGN_INT, &summaries, &n2, &n_summaries);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(3), DATEOID, sizeof(DateADT), true, TYPALIGN_INT, &dues, &n3, &n_dues);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(4), TEXTOID, -1, false, TYPALIGN_INT, &descriptions, &n4, &n_descriptions);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(5), TIMESTAMPTZOID, sizeof(TimestampTz), FLOAT8PASSBYVAL,
					  TYPALIGN_DOUBLE, &stamps, &n5, &n_stamps);
	if (n_summaries != n || n_dues != n || n_descriptions != n || n_stamps != n)
		elog(ERROR, "feed arrays differ in length");

	cal = new_calendar();
	{
		icalproperty *calname = icalproperty_new_x(name);

		icalproperty_set_x_name(calname, "X-WR-CALNAME");
		icalcomponent_add_property(cal, calname);
	}
	for (int i = 0; i < n; i++)
	{
		icalcomponent *ev;
		struct icaltimetype start;

		if (n1[i] || n2[i] || n3[i] || n5[i])
			continue;
		start = ical_date(DatumGetDateADT(dues[i]));
		ev = icalcomponent_new(ICAL_VEVENT_COMPONENT);
		icalcomponent_add_property(ev, icalproperty_new_uid(TextDatumGetCString(uids[i])));
		icalcomponent_add_property(ev, icalproperty_new_dtstamp(ical_utc(DatumGetTimestampTz(stamps[i]))));
		icalcomponent_add_property(ev, icalproperty_vanew_dtstart(start, icalparameter_new_value(ICAL_VALUE_DATE), NULL));
		icalcomponent_add_property(ev, icalproperty_vanew_dtend(icaltime_add(start, icaldurationtype_from_int(24 * 3600)),
																icalparameter_new_value(ICAL_VALUE_DATE), NULL));
		icalcomponent_add_property(ev, icalproperty_new_summary(TextDatumGetCString(summaries[i])));
		if (!n4[i])
			icalcomponent_add_property(ev, icalproperty_new_description(TextDatumGetCString(descriptions[i])));
		icalcomponent_add_property(ev, icalproperty_new_transp(ICAL_TRANSP_TRANSPARENT));
		icalcomponent_add_component(cal, ev);
	}
	PG_RETURN_TEXT_P(render(cal));
}

/* ---------------------------------------------------------------- parsing */

typedef struct ParseError
{
	int			sqlstate;
	char		message[300];
} ParseError;

static bool
fail(ParseError *err, int sqlstate, const char *fmt,...) pg_attribute_printf(3, 4);

static bool
fail(ParseError *err, int sqlstate, const char *fmt,...)
{
	va_list		ap;

	err->sqlstate = sqlstate;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return false;
}

/* A property carrying data the model has no place for, unless empty. */
static const char *
unsupported_reason(icalproperty_kind kind)
{
	switch (kind)
	{
		case ICAL_DTSTART_PROPERTY:
			return "tasks have no start date";
		case ICAL_RDATE_PROPERTY:
		case ICAL_EXDATE_PROPERTY:
		case ICAL_EXRULE_PROPERTY:
		case ICAL_RECURRENCEID_PROPERTY:
			return "a task recurs by one RRULE only";
		case ICAL_DURATION_PROPERTY:
			return "tasks have a due date only";
		case ICAL_ATTENDEE_PROPERTY:
		case ICAL_ORGANIZER_PROPERTY:
			return "assign tasks through the JSON API";
		default:
			return "the task has no place for it";
	}
}

static bool
accepted_bookkeeping(icalproperty_kind kind)
{
	switch (kind)
	{
		case ICAL_UID_PROPERTY:
		case ICAL_DTSTAMP_PROPERTY:
		case ICAL_CREATED_PROPERTY:
		case ICAL_LASTMODIFIED_PROPERTY:
		case ICAL_SEQUENCE_PROPERTY:
		case ICAL_COMPLETED_PROPERTY:
		case ICAL_PERCENTCOMPLETE_PROPERTY:
		case ICAL_X_PROPERTY:
			return true;
		default:
			return false;
	}
}

static void
json_key(StringInfo buf, const char *key, const char *value)
{
	if (buf->len > 1)
		appendStringInfoString(buf, ", ");
	escape_json(buf, key);
	appendStringInfoString(buf, ": ");
	if (value == NULL)
		appendStringInfoString(buf, "null");
	else
		escape_json(buf, value);
}

/* The first X-LIC-ERROR libical left anywhere in the tree, or NULL. */
static const char *
first_error(icalcomponent *c)
{
	icalproperty *p = icalcomponent_get_first_property(c, ICAL_XLICERROR_PROPERTY);
	icalcomponent *sub;

	if (p != NULL)
		return icalproperty_get_xlicerror(p);
	for (sub = icalcomponent_get_first_component(c, ICAL_ANY_COMPONENT); sub != NULL;
		 sub = icalcomponent_get_next_component(c, ICAL_ANY_COMPONENT))
	{
		const char *e = first_error(sub);

		if (e != NULL)
			return e;
	}
	return NULL;
}

/* The VTODO's fields as JSON API fields into buf; false with err on refusal. */
static bool
read_vtodo(icalcomponent *todo, StringInfo buf, ParseError *err)
{
	icalproperty *p;
	icalcomponent *sub;
	StringInfoData tags;
	const char *status = NULL;
	bool		completed = false;
	bool		have_summary = false;
	bool		have_parent = false;
	bool		have_rrule = false;
	bool		first_tag = true;

	sub = icalcomponent_get_first_component(todo, ICAL_ANY_COMPONENT);
	if (sub != NULL)
		return fail(err, ERRCODE_TM_VALIDATION, "%s inside VTODO cannot be kept: %s",
					icalcomponent_kind_to_string(icalcomponent_isa(sub)),
					icalcomponent_isa(sub) == ICAL_VALARM_COMPONENT ? "tasks have no reminders"
					: "the task has no place for it");

	initStringInfo(&tags);
	appendStringInfoChar(&tags, '[');
	for (p = icalcomponent_get_first_property(todo, ICAL_ANY_PROPERTY); p != NULL;
		 p = icalcomponent_get_next_property(todo, ICAL_ANY_PROPERTY))
	{
		icalproperty_kind kind = icalproperty_isa(p);

		switch (kind)
		{
			case ICAL_UID_PROPERTY:
				json_key(buf, "uid", icalproperty_get_uid(p));
				break;
			case ICAL_SUMMARY_PROPERTY:
				if (!have_summary)
					json_key(buf, "title", icalproperty_get_summary(p));
				have_summary = true;
				break;
			case ICAL_DESCRIPTION_PROPERTY:
				json_key(buf, "description", icalproperty_get_description(p));
				break;
			case ICAL_STATUS_PROPERTY:
				switch (icalproperty_get_status(p))
				{
					case ICAL_STATUS_NEEDSACTION:
						status = "todo";
						break;
					case ICAL_STATUS_INPROCESS:
						status = "in_progress";
						break;
					case ICAL_STATUS_COMPLETED:
						status = "done";
						break;
					case ICAL_STATUS_CANCELLED:
						status = "canceled";
						break;
					default:
						return fail(err, ERRCODE_TM_VALIDATION,
									"STATUS %s is not a task status (NEEDS-ACTION, IN-PROCESS, COMPLETED, CANCELLED)",
									icalproperty_get_value_as_string(p));
				}
				break;
			case ICAL_PRIORITY_PROPERTY:
				{
					int			n = icalproperty_get_priority(p);

					if (n < 0 || n > 9)
						return fail(err, ERRCODE_TM_VALIDATION, "PRIORITY must be from 0 to 9");
					json_key(buf, "priority", n == 0 ? "none" : n <= 2 ? "urgent" : n <= 4 ? "high"
							 : n == 5 ? "medium" : "low");
				}
				break;
			case ICAL_DUE_PROPERTY:
				{
					struct icaltimetype t = icalproperty_get_due(p);
					char		date[16];

					if (icaltime_is_null_time(t) || !icaltime_is_valid_time(t))
						return fail(err, ERRCODE_TM_BAD_REQUEST, "DUE is not a valid date");
					if (!t.is_date && (t.hour != 0 || t.minute != 0 || t.second != 0))
						return fail(err, ERRCODE_TM_VALIDATION,
									"DUE has a time of day (%02d:%02d): tasks have a due date only; send DUE;VALUE=DATE:%04d%02d%02d",
									t.hour, t.minute, t.year, t.month, t.day);
					snprintf(date, sizeof(date), "%04d-%02d-%02d", t.year, t.month, t.day);
					json_key(buf, "due_date", date);
				}
				break;
			case ICAL_CATEGORIES_PROPERTY:
				{
					/* one value or several separated by commas */
					char	   *all = pstrdup(icalproperty_get_categories(p));
					char	   *save = NULL;

					for (char *tag = strtok_r(all, ",", &save); tag != NULL; tag = strtok_r(NULL, ",", &save))
					{
						if (!first_tag)
							appendStringInfoString(&tags, ", ");
						escape_json(&tags, tag);
						first_tag = false;
					}
				}
				break;
			case ICAL_COMPLETED_PROPERTY:
				completed = true;
				break;
			case ICAL_RRULE_PROPERTY:
				if (have_rrule)
					return fail(err, ERRCODE_TM_VALIDATION, "RRULE cannot be kept twice: a task recurs by one rule");
				have_rrule = true;
				json_key(buf, "recurrence", icalproperty_get_value_as_string(p));
				break;
			case ICAL_RELATEDTO_PROPERTY:
				{
					icalparameter *rt = icalproperty_get_first_parameter(p, ICAL_RELTYPE_PARAMETER);

					/* a subtask names its parent; children and siblings follow from that */
					if (rt != NULL && icalparameter_get_reltype(rt) != ICAL_RELTYPE_PARENT)
						return fail(err, ERRCODE_TM_VALIDATION,
									"RELATED-TO;RELTYPE=%s cannot be kept: a subtask names its parent (RELTYPE=PARENT)",
									icalparameter_get_xvalue(rt) ? icalparameter_get_xvalue(rt)
									: icalparameter_enum_to_string(icalparameter_get_reltype(rt)));
					if (have_parent)
						return fail(err, ERRCODE_TM_VALIDATION, "RELATED-TO cannot be kept twice: a task has one parent");
					have_parent = true;
					json_key(buf, "parent_uid", icalproperty_get_relatedto(p));
				}
				break;
			case ICAL_CLASS_PROPERTY:
				if (icalproperty_get_class(p) != ICAL_CLASS_PUBLIC)
					return fail(err, ERRCODE_TM_VALIDATION,
								"CLASS %s cannot be kept: visibility is decided by teams and assignees",
								icalproperty_get_value_as_string(p));
				break;
			default:
				if (accepted_bookkeeping(kind))
					break;
				{
					const char *v = icalproperty_get_value_as_string(p);

					if (v == NULL || v[0] == '\0')
						break;	/* an empty LOCATION and the like hold nothing */
				}
				return fail(err, ERRCODE_TM_VALIDATION, "%s cannot be kept: %s",
							icalproperty_get_property_name(p), unsupported_reason(kind));
		}
	}
	if (!have_summary)
		return fail(err, ERRCODE_TM_VALIDATION, "SUMMARY is required: it is the task's title");
	appendStringInfoChar(&tags, ']');
	if (buf->len > 1)
		appendStringInfoString(buf, ", ");
	appendStringInfo(buf, "\"tags\": %s", tags.data);
	json_key(buf, "status", status ? status : completed ? "done" : "todo");
	return true;
}

static bool
read_calendar(icalcomponent *root, StringInfo buf, ParseError *err)
{
	icalcomponent *c;
	icalcomponent *todo = NULL;
	const char *e;

	if (icalcomponent_isa(root) != ICAL_VCALENDAR_COMPONENT)
		return fail(err, ERRCODE_TM_BAD_REQUEST, "calendar data must be one VCALENDAR");
	if ((e = first_error(root)) != NULL)
		return fail(err, ERRCODE_TM_BAD_REQUEST, "calendar data is not valid iCalendar: %s", e);
	for (c = icalcomponent_get_first_component(root, ICAL_ANY_COMPONENT); c != NULL;
		 c = icalcomponent_get_next_component(root, ICAL_ANY_COMPONENT))
	{
		switch (icalcomponent_isa(c))
		{
			case ICAL_VTIMEZONE_COMPONENT:
				break;
			case ICAL_VTODO_COMPONENT:
				if (todo != NULL)
					return fail(err, ERRCODE_TM_VALIDATION,
								"one VTODO per resource: several (a recurring task's overrides?) cannot be kept");
				todo = c;
				break;
			default:
				return fail(err, ERRCODE_TM_VALIDATION,
							"%s cannot be kept: this calendar holds tasks (VTODO) only",
							icalcomponent_kind_to_string(icalcomponent_isa(c)));
		}
	}
	if (todo == NULL)
		return fail(err, ERRCODE_TM_VALIDATION, "calendar data holds no VTODO");
	return read_vtodo(todo, buf, err);
}

/*
 * _ical_parse_vtodo(ics) -> {uid, title, description, status, priority,
 * due_date, tags} (only what the VTODO has, tags and status always)
 */
PG_FUNCTION_INFO_V1(tm_ical_parse_vtodo);
Datum
tm_ical_parse_vtodo(PG_FUNCTION_ARGS)
{
	char	   *ics = text_to_cstring(PG_GETARG_TEXT_PP(0));
	icalcomponent *root;
	StringInfoData buf;
	ParseError	err = {0, ""};
	volatile bool ok = false;

	if (strlen(ics) != VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(0)))
		ereport(ERROR,
				(errcode(ERRCODE_TM_BAD_REQUEST),
				 tm_errclient(),
				 errmsg("calendar data is not valid iCalendar: it contains a NUL byte")));
	root = icalparser_parse_string(ics);
	if (root == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_TM_BAD_REQUEST),
				 tm_errclient(),
				 errmsg("calendar data is not valid iCalendar")));
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	/* palloc may fail inside: free libical's tree on any error */
	PG_TRY();
	{
		ok = read_calendar(root, &buf, &err);
	}
	PG_FINALLY();
	{
		icalcomponent_free(root);
	}
	PG_END_TRY();
	if (!ok)
		ereport(ERROR,
				(errcode(err.sqlstate),
				 tm_errclient(),
				 errmsg("%s", err.message)));
	appendStringInfoChar(&buf, '}');
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}
