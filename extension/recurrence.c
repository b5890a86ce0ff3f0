/*
 * recurrence.c
 *	  Recurring tasks (#14): RFC 5545 RRULEs, parsed and expanded by libical.
 *
 * Due dates are dates, so a rule is expanded over DATE values: DTSTART is
 * the date the series (or its current rule) started, and the next
 * occurrence is the first one after the current due date.  Expanding from
 * DTSTART, rather than from the current occurrence, is what makes COUNT and
 * UNTIL end the series where RFC 5545 says.  "Today" for a task without a
 * due date is taken in the user's time zone by the SQL caller, which also
 * passes that zone for UNTIL: an UNTIL with a time in UTC (…T235959Z, as
 * calendar apps write it) ends the series on the user's date of that
 * instant, a floating one on its own date.
 *
 * libical reports errors through icalerrno and, by default, abort()s on
 * them ("errors are fatal"), which would take the backend down: every entry
 * point turns that off first.
 */
#include "taskmgmt.h"

#include <libical/ical.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"
#include "datatype/timestamp.h"

PG_FUNCTION_INFO_V1(tm_rrule_check);
PG_FUNCTION_INFO_V1(tm_rrule_next);

/* Longest rule accepted: rules are typed by people, and libical copies them. */
#define RRULE_MAX_LEN	500
/* Occurrences walked before giving up on finding the next one (a rule like
 * FREQ=DAILY;INTERVAL=1 from 1900 reaches 2100 well within this). */
#define RRULE_MAX_STEPS	100000

/*
 * Parses rule; on error returns false with *reason set to a message for the
 * user ("is not a valid RRULE: ...").
 */
static bool
rrule_parse(const char *rule, struct icalrecurrencetype *out, const char **reason)
{
	size_t		len = strlen(rule);

	icalerror_set_errors_are_fatal(0);
	if (len == 0)
	{
		*reason = "must not be empty";
		return false;
	}
	if (len > RRULE_MAX_LEN)
	{
		*reason = "must be at most 500 characters";
		return false;
	}
	if (strncmp(rule, "RRULE:", 6) == 0)
	{
		*reason = "must be the rule without the RRULE: prefix, e.g. FREQ=WEEKLY;BYDAY=MO";
		return false;
	}
	icalerror_clear_errno();
	*out = icalrecurrencetype_from_string(rule);
	if (icalerrno != ICAL_NO_ERROR || out->freq == ICAL_NO_RECURRENCE)
	{
		icalerror_clear_errno();
		*reason = "is not a valid RRULE (RFC 5545), e.g. FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,FR";
		return false;
	}
	switch (out->freq)
	{
		case ICAL_DAILY_RECURRENCE:
		case ICAL_WEEKLY_RECURRENCE:
		case ICAL_MONTHLY_RECURRENCE:
		case ICAL_YEARLY_RECURRENCE:
			break;
		default:
			*reason = "must have FREQ DAILY, WEEKLY, MONTHLY or YEARLY (due dates are days)";
			return false;
	}
	if (out->count > 0 && !icaltime_is_null_time(out->until))
	{
		*reason = "must not have both COUNT and UNTIL (RFC 5545)";
		return false;
	}
	/* libical takes any two digits: T256199Z would roll into the next day */
	if (!icaltime_is_null_time(out->until) && !out->until.is_date &&
		(out->until.hour > 23 || out->until.minute > 59 || out->until.second > 60))
	{
		*reason = "must have an UNTIL with a valid time of day";
		return false;
	}
	if (out->interval < 1 || out->interval > 1000)
	{
		*reason = "must have an INTERVAL from 1 to 1000";
		return false;
	}
	if (out->by_hour[0] != ICAL_RECURRENCE_ARRAY_MAX || out->by_minute[0] != ICAL_RECURRENCE_ARRAY_MAX ||
		out->by_second[0] != ICAL_RECURRENCE_ARRAY_MAX)
	{
		*reason = "must not have BYHOUR, BYMINUTE or BYSECOND (due dates are days)";
		return false;
	}
	/* libical refuses to expand a rule that can never occur (BYMONTHDAY=30 in February) */
	{
		struct icaltimetype probe = icaltime_null_time();
		icalrecur_iterator *it;

		probe.year = 2001;
		probe.month = 1;
		probe.day = 1;
		probe.is_date = 1;
		it = icalrecur_iterator_new(*out, probe);
		icalerror_clear_errno();
		if (it == NULL)
		{
			*reason = "never occurs";
			return false;
		}
		icalrecur_iterator_free(it);
	}
	return true;
}

static DateADT
ical_to_date(struct icaltimetype t)
{
	return date2j(t.year, t.month, t.day) - POSTGRES_EPOCH_JDATE;
}

/*
 * An UNTIL with a time becomes the date it falls on in time zone tz (UTC
 * times) or its own date (floating times): occurrences are dates, and
 * libical would compare them with the UTC instant as midnight UTC.
 */
static void
until_to_local_date(struct icaltimetype *until, text *tz)
{
	DateADT		local;
	int			y,
				m,
				d;

	if (icaltime_is_null_time(*until) || until->is_date)
		return;
	local = ical_to_date(*until);
	if (icaltime_is_utc(*until))
	{
		struct pg_tm tm = {0};
		Timestamp	utc;
		Timestamp	wall;

		tm.tm_year = until->year;
		tm.tm_mon = until->month;
		tm.tm_mday = until->day;
		tm.tm_hour = until->hour;
		tm.tm_min = until->minute;
		tm.tm_sec = until->second;
		if (tm2timestamp(&tm, 0, NULL, &utc) != 0)
			ereport(ERROR, (errcode(ERRCODE_TM_VALIDATION),
							errmsg("recurrence has an UNTIL out of range"),
							err_generic_string(PG_DIAG_COLUMN_NAME, "recurrence")));
		wall = DatumGetTimestamp(DirectFunctionCall2(timestamptz_zone, PointerGetDatum(tz),
													 TimestampTzGetDatum((TimestampTz) utc)));
		local = DatumGetDateADT(DirectFunctionCall1(timestamp_date, TimestampGetDatum(wall)));
	}
	j2date(local + POSTGRES_EPOCH_JDATE, &y, &m, &d);
	*until = icaltime_null_time();
	until->year = y;
	until->month = m;
	until->day = d;
	until->is_date = 1;
}

/* _rrule_check(rule text) → text: NULL when valid, else the reason. */
Datum
tm_rrule_check(PG_FUNCTION_ARGS)
{
	char	   *rule = text_to_cstring(PG_GETARG_TEXT_PP(0));
	struct icalrecurrencetype r;
	const char *reason;

	if (rrule_parse(rule, &r, &reason))
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(reason));
}

/*
 * _rrule_next(rule text, dtstart date, after date, tz text) → date: the
 * first occurrence of the series started at dtstart that falls after
 * `after`; NULL when the series has ended (COUNT, UNTIL) or none is found.
 * dtstart itself is the first occurrence (RFC 5545); tz is the user's time
 * zone, for an UNTIL with a time.
 */
Datum
tm_rrule_next(PG_FUNCTION_ARGS)
{
	char	   *rule = text_to_cstring(PG_GETARG_TEXT_PP(0));
	DateADT		start = PG_GETARG_DATEADT(1);
	DateADT		after = PG_GETARG_DATEADT(2);
	struct icalrecurrencetype r;
	const char *reason;
	icalrecur_iterator *it;
	struct icaltimetype dtstart = icaltime_null_time();
	int			y,
				m,
				d;
	bool		found = false;
	DateADT		result = 0;

	if (DATE_NOT_FINITE(start) || DATE_NOT_FINITE(after))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("recurrence dates must be finite"), tm_errclient()));
	if (!rrule_parse(rule, &r, &reason))
		ereport(ERROR, (errcode(ERRCODE_TM_VALIDATION),
						errmsg("recurrence %s", reason),
						err_generic_string(PG_DIAG_COLUMN_NAME, "recurrence")));
	/* a catalog of the three-argument version (before tz) calls it too */
	until_to_local_date(&r.until, PG_NARGS() > 3 ? PG_GETARG_TEXT_PP(3) : cstring_to_text("UTC"));
	j2date(start + POSTGRES_EPOCH_JDATE, &y, &m, &d);
	if (y < 1900 || y > 9000)
		ereport(ERROR, (errcode(ERRCODE_TM_VALIDATION),
						errmsg("recurrence dates must be between the years 1900 and 9000")));
	dtstart.year = y;
	dtstart.month = m;
	dtstart.day = d;
	dtstart.is_date = 1;

	it = icalrecur_iterator_new(r, dtstart);
	if (it == NULL)
	{
		/* no occurrence from this start: the series has ended */
		icalerror_clear_errno();
		PG_RETURN_NULL();
	}
	for (int i = 0; i < RRULE_MAX_STEPS; i++)
	{
		struct icaltimetype t = icalrecur_iterator_next(it);

		if (icaltime_is_null_time(t))
			break;
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();	/* leaks the iterator only on cancel */
		if (ical_to_date(t) > after)
		{
			result = ical_to_date(t);
			found = true;
			break;
		}
	}
	icalrecur_iterator_free(it);
	icalerror_clear_errno();
	if (!found)
		PG_RETURN_NULL();
	PG_RETURN_DATEADT(result);
}
