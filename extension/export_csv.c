/*
 * export_csv.c
 *	  CSV cells for the task export: RFC 4180 quoting and neutralisation of
 *	  cells a spreadsheet would run as a formula.
 *
 * These run once per exported cell (a million-row export means millions of
 * calls), which is why they are in C rather than SQL regular expressions.
 */
#include "taskmgmt.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"

PG_FUNCTION_INFO_V1(tm_csv_safe);
PG_FUNCTION_INFO_V1(tm_csv_line);
PG_FUNCTION_INFO_V1(tm_export_team_name);

/*
 * OWASP's CSV-injection guidance: a cell starting with =, +, -, @, tab or
 * carriage return may be evaluated by a spreadsheet, so it gets a leading
 * single quote, which spreadsheets show as text.
 */
static inline bool
csv_needs_neutralising(const char *s, int len)
{
	if (len == 0)
		return false;
	switch (s[0])
	{
		case '=':
		case '+':
		case '-':
		case '@':
		case '\t':
		case '\r':
			return true;
		default:
			return false;
	}
}

/* taskmgmt.csv_safe(text) RETURNS text */
Datum
tm_csv_safe(PG_FUNCTION_ARGS)
{
	text	   *in = PG_GETARG_TEXT_PP(0);
	const char *s = VARDATA_ANY(in);
	int			len = VARSIZE_ANY_EXHDR(in);
	text	   *out;

	if (!csv_needs_neutralising(s, len))
		PG_RETURN_TEXT_P(in);

	out = (text *) palloc(VARHDRSZ + len + 1);
	SET_VARSIZE(out, VARHDRSZ + len + 1);
	VARDATA(out)[0] = '\'';
	memcpy(VARDATA(out) + 1, s, len);
	PG_RETURN_TEXT_P(out);
}

/* Appends one cell, quoted when RFC 4180 requires it. */
void
tm_csv_append_cell(StringInfo buf, const char *s, int len)
{
	bool		quote = false;
	int			i;

	for (i = 0; i < len; i++)
	{
		char		c = s[i];

		if (c == ',' || c == '"' || c == '\r' || c == '\n')
		{
			quote = true;
			break;
		}
	}
	if (!quote)
	{
		appendBinaryStringInfo(buf, s, len);
		return;
	}

	appendStringInfoChar(buf, '"');
	for (i = 0; i < len; i++)
	{
		if (s[i] == '"')
			appendStringInfoChar(buf, '"');
		appendStringInfoChar(buf, s[i]);
	}
	appendStringInfoChar(buf, '"');
}

/*
 * taskmgmt.csv_line(cells text[]) RETURNS text
 *
 * One CSV record ending in CRLF; NULL cells are empty.  The cells are used
 * as given (neutralising is csv_safe's job, done where the cells are made,
 * so the COPY-able view and this function agree).
 */
Datum
tm_csv_line(PG_FUNCTION_ARGS)
{
	ArrayType  *cells = PG_GETARG_ARRAYTYPE_P(0);
	ArrayIterator it;
	Datum		value;
	bool		isnull;
	bool		first = true;
	StringInfoData buf;

	if (ARR_NDIM(cells) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("CSV cells must be a one-dimensional array")));
	if (ARR_ELEMTYPE(cells) != TEXTOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("CSV cells must be an array of text")));

	initStringInfo(&buf);
	it = array_create_iterator(cells, 0, NULL);
	while (array_iterate(it, &value, &isnull))
	{
		if (!first)
			appendStringInfoChar(&buf, ',');
		first = false;
		if (!isnull)
		{
			text	   *t = DatumGetTextPP(value);

			tm_csv_append_cell(&buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
		}
	}
	array_free_iterator(it);
	appendBinaryStringInfo(&buf, "\r\n", 2);

	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}

/*
 * taskmgmt._export_team_name(team_id bigint) RETURNS text
 *
 * taskmgmt._team_name(), which decides whose team names a caller may read,
 * remembered per distinct team for the rest of the statement.  An export
 * names the same few teams on a million rows, and each _team_name call
 * (security definer, with its own visibility query) costs tens of
 * microseconds.  The cache lives in the expression's memory context, so it
 * never outlives the statement's snapshot.
 */
typedef struct TeamNameEntry
{
	int64		team_id;		/* hash key */
	text	   *name;			/* NULL when the caller may not read it */
} TeamNameEntry;

typedef struct TeamNameCache
{
	FmgrInfo	team_name_fn;
	HTAB	   *names;
} TeamNameCache;

static TeamNameCache *
team_name_cache(FunctionCallInfo fcinfo)
{
	TeamNameCache *cache = (TeamNameCache *) fcinfo->flinfo->fn_extra;
	MemoryContext mcxt = fcinfo->flinfo->fn_mcxt;

	if (cache == NULL)
	{
		Oid			argtypes[1] = {INT8OID};
		Oid			fn;
		HASHCTL		ctl;

		fn = LookupFuncName(list_make2(makeString("taskmgmt"), makeString("_team_name")),
							1, argtypes, false);
		cache = MemoryContextAllocZero(mcxt, sizeof(TeamNameCache));
		fmgr_info_cxt(fn, &cache->team_name_fn, mcxt);
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(TeamNameEntry);
		ctl.hcxt = mcxt;
		cache->names = hash_create("export team names", 64, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		fcinfo->flinfo->fn_extra = cache;
	}
	return cache;
}

Datum
tm_export_team_name(PG_FUNCTION_ARGS)
{
	int64		team_id = PG_GETARG_INT64(0);
	TeamNameCache *cache = team_name_cache(fcinfo);
	TeamNameEntry *entry;
	bool		found;

	entry = hash_search(cache->names, &team_id, HASH_ENTER, &found);
	if (!found)
	{
		LOCAL_FCINFO(call, 1);
		Datum		name;

		entry->name = NULL;
		InitFunctionCallInfoData(*call, &cache->team_name_fn, 1, InvalidOid, NULL, NULL);
		call->args[0].value = Int64GetDatum(team_id);
		call->args[0].isnull = false;
		name = FunctionCallInvoke(call);
		if (!call->isnull)
			entry->name = (text *) MemoryContextAlloc(fcinfo->flinfo->fn_mcxt,
													  VARSIZE_ANY(DatumGetPointer(name)));
		if (entry->name != NULL)
			memcpy(entry->name, DatumGetPointer(name), VARSIZE_ANY(DatumGetPointer(name)));
	}
	if (entry->name == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(entry->name);
}
