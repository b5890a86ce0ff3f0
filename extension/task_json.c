/*
 * task_json.c
 *	  The JSON object of a task, built directly.
 *
 * jsonb_build_object() looks up how to convert each argument's type on every
 * call, converts integers through their text form and sorts the keys of
 * every object it builds; for the sixteen fields of a task that was most of
 * the cost of a list page.  Here the keys are written already in jsonb's
 * order and each value is converted the way jsonb_build_object() converts
 * it (numbers as numerics, enums by label, dates and times as
 * JsonEncodeDateTime writes them), so the result is the same jsonb value.
 */
#include "taskmgmt.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

/* the arguments of taskmgmt._task_jsonb, in order */
enum
{
	A_ID, A_TITLE, A_DESCRIPTION, A_STATUS, A_PRIORITY, A_DUE_DATE, A_TEAM_ID,
	A_ASSIGNEE_USER_ID, A_ASSIGNEE_TEAM_ID, A_ASSIGNEE_NAME, A_TAGS, A_CREATOR_ID,
	A_CREATED_AT, A_UPDATED_AT, A_STARTED_AT, A_COMPLETED_AT, A_VERSION,
	A_PARENT_ID, A_RECURRENCE, A_SUBTASKS_TOTAL, A_SUBTASKS_DONE, A_BLOCKED_BY_OPEN,
	N_ARGS
};

/* the keys of a task object */
#define TASK_KEYS 19

static void
set_key(JsonbPair *p, const char *key)
{
	p->key.type = jbvString;
	p->key.val.string.val = (char *) key;
	p->key.val.string.len = strlen(key);
}

static void
set_null(JsonbValue *v)
{
	v->type = jbvNull;
}

static void
set_string(JsonbValue *v, char *s, int len)
{
	v->type = jbvString;
	v->val.string.val = s;
	v->val.string.len = len;
}

static void
set_text(JsonbValue *v, FunctionCallInfo fcinfo, int arg)
{
	text	   *t;

	if (PG_ARGISNULL(arg))
	{
		set_null(v);
		return;
	}
	t = PG_GETARG_TEXT_PP(arg);
	set_string(v, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

static void
set_int8(JsonbValue *v, FunctionCallInfo fcinfo, int arg)
{
	if (PG_ARGISNULL(arg))
	{
		set_null(v);
		return;
	}
	v->type = jbvNumeric;
	v->val.numeric = int64_to_numeric(PG_GETARG_INT64(arg));
}

static void
set_enum(JsonbValue *v, FunctionCallInfo fcinfo, int arg)
{
	char	   *label;

	if (PG_ARGISNULL(arg))
	{
		set_null(v);
		return;
	}
	label = DatumGetCString(DirectFunctionCall1(enum_out, PG_GETARG_DATUM(arg)));
	set_string(v, label, strlen(label));
}

static void
set_datetime(JsonbValue *v, FunctionCallInfo fcinfo, int arg, Oid typid)
{
	char	   *s;

	if (PG_ARGISNULL(arg))
	{
		set_null(v);
		return;
	}
	s = JsonEncodeDateTime(NULL, PG_GETARG_DATUM(arg), typid, NULL);
	set_string(v, s, strlen(s));
}

static void
set_text_array(JsonbValue *v, FunctionCallInfo fcinfo, int arg)
{
	ArrayType  *a;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	if (PG_ARGISNULL(arg))
	{
		set_null(v);
		return;
	}
	a = PG_GETARG_ARRAYTYPE_P(arg);
	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tags must be a one-dimensional array")));
	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	v->type = jbvArray;
	v->val.array.rawScalar = false;
	v->val.array.nElems = n;
	v->val.array.elems = palloc(sizeof(JsonbValue) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		if (nulls[i])
			set_null(&v->val.array.elems[i]);
		else
		{
			text	   *t = DatumGetTextPP(elems[i]);

			set_string(&v->val.array.elems[i], VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
		}
	}
}

/* jsonb's order of object keys: shorter first, then bytewise */
static int
pair_cmp(const void *a, const void *b)
{
	const JsonbValue *ka = &((const JsonbPair *) a)->key;
	const JsonbValue *kb = &((const JsonbPair *) b)->key;

	if (ka->val.string.len != kb->val.string.len)
		return ka->val.string.len > kb->val.string.len ? 1 : -1;
	return memcmp(ka->val.string.val, kb->val.string.val, ka->val.string.len);
}

/*
 * Where the i-th pair, in the order tm_task_jsonb writes them, goes in
 * jsonb's order.  The keys never change, so the order is learnt at the first
 * call instead of sorting every object.
 */
static int	task_key_pos[TASK_KEYS];
static bool task_key_pos_known = false;

static void
learn_task_key_order(const JsonbPair *p)
{
	for (int i = 0; i < TASK_KEYS; i++)
	{
		int			pos = 0;

		for (int j = 0; j < TASK_KEYS; j++)
			if (pair_cmp(&p[j], &p[i]) < 0)
				pos++;
		task_key_pos[i] = pos;
	}
	task_key_pos_known = true;
}

/* a bigint count that is never NULL (0 when the caller passes none) */
static void
set_count(JsonbValue *v, FunctionCallInfo fcinfo, int arg)
{
	v->type = jbvNumeric;
	v->val.numeric = int64_to_numeric(PG_ARGISNULL(arg) ? 0 : PG_GETARG_INT64(arg));
}

/*
 * taskmgmt._task_jsonb(id, title, description, status, priority, due_date,
 *   team_id, assignee_user_id, assignee_team_id, assignee_name, tags,
 *   creator_id, created_at, updated_at, started_at, completed_at, version,
 *   parent_id, recurrence, subtasks_total, subtasks_done, blocked_by_open)
 *   RETURNS jsonb
 *
 * The task object of the API (task_json); assignee_name is the name to show
 * for the assignee user or team and the three counts are the planning
 * counts (#14), all looked up by the caller under its rules.  A formatter:
 * it reads nothing.  The pairs are put in the order jsonb_build_object()
 * would sort them into, so the result is byte for byte the same jsonb.
 */
PG_FUNCTION_INFO_V1(tm_task_jsonb);
Datum
tm_task_jsonb(PG_FUNCTION_ARGS)
{
	JsonbValue	obj;
	JsonbPair  *p = palloc0(sizeof(JsonbPair) * TASK_KEYS);
	JsonbPair  *sub = palloc0(sizeof(JsonbPair) * 2);
	JsonbPair  *sorted;
	int			n = 0;

	if (PG_NARGS() != N_ARGS)
		elog(ERROR, "_task_jsonb takes %d arguments", N_ARGS);

	set_key(&p[n], "id");
	set_int8(&p[n++].value, fcinfo, A_ID);
	set_key(&p[n], "title");
	set_text(&p[n++].value, fcinfo, A_TITLE);
	set_key(&p[n], "description");
	set_text(&p[n++].value, fcinfo, A_DESCRIPTION);
	set_key(&p[n], "status");
	set_enum(&p[n++].value, fcinfo, A_STATUS);
	set_key(&p[n], "priority");
	set_enum(&p[n++].value, fcinfo, A_PRIORITY);
	set_key(&p[n], "due_date");
	set_datetime(&p[n++].value, fcinfo, A_DUE_DATE, DATEOID);
	set_key(&p[n], "team_id");
	set_int8(&p[n++].value, fcinfo, A_TEAM_ID);
	set_key(&p[n], "assignee");
	if (!PG_ARGISNULL(A_ASSIGNEE_USER_ID) || !PG_ARGISNULL(A_ASSIGNEE_TEAM_ID))
	{
		bool		user = !PG_ARGISNULL(A_ASSIGNEE_USER_ID);
		JsonbPair  *a = palloc0(sizeof(JsonbPair) * 3);

		/* id, name, type: already in jsonb's order */
		set_key(&a[0], "id");
		set_int8(&a[0].value, fcinfo, user ? A_ASSIGNEE_USER_ID : A_ASSIGNEE_TEAM_ID);
		set_key(&a[1], "name");
		set_text(&a[1].value, fcinfo, A_ASSIGNEE_NAME);
		set_key(&a[2], "type");
		set_string(&a[2].value, user ? "user" : "team", 4);
		p[n].value.type = jbvObject;
		p[n].value.val.object.nPairs = 3;
		p[n].value.val.object.pairs = a;
	}
	else
		set_null(&p[n].value);
	n++;
	set_key(&p[n], "tags");
	set_text_array(&p[n++].value, fcinfo, A_TAGS);
	set_key(&p[n], "creator_id");
	set_int8(&p[n++].value, fcinfo, A_CREATOR_ID);
	set_key(&p[n], "created_at");
	set_datetime(&p[n++].value, fcinfo, A_CREATED_AT, TIMESTAMPTZOID);
	set_key(&p[n], "updated_at");
	set_datetime(&p[n++].value, fcinfo, A_UPDATED_AT, TIMESTAMPTZOID);
	set_key(&p[n], "started_at");
	set_datetime(&p[n++].value, fcinfo, A_STARTED_AT, TIMESTAMPTZOID);
	set_key(&p[n], "completed_at");
	set_datetime(&p[n++].value, fcinfo, A_COMPLETED_AT, TIMESTAMPTZOID);
	set_key(&p[n], "version");
	if (PG_ARGISNULL(A_VERSION))
		set_null(&p[n++].value);
	else
	{
		p[n].value.type = jbvNumeric;
		p[n++].value.val.numeric = int64_to_numeric(PG_GETARG_INT32(A_VERSION));
	}
	/* planning (#14) */
	set_key(&p[n], "parent_id");
	set_int8(&p[n++].value, fcinfo, A_PARENT_ID);
	set_key(&p[n], "recurrence");
	set_text(&p[n++].value, fcinfo, A_RECURRENCE);
	set_key(&sub[0], "done");
	set_count(&sub[0].value, fcinfo, A_SUBTASKS_DONE);
	set_key(&sub[1], "total");
	set_count(&sub[1].value, fcinfo, A_SUBTASKS_TOTAL);
	set_key(&p[n], "subtasks");
	p[n].value.type = jbvObject;
	p[n].value.val.object.nPairs = 2;
	p[n++].value.val.object.pairs = sub;
	set_key(&p[n], "blocked_by_open");
	set_count(&p[n++].value, fcinfo, A_BLOCKED_BY_OPEN);
	Assert(n == TASK_KEYS);

	if (!task_key_pos_known)
		learn_task_key_order(p);
	sorted = palloc(sizeof(JsonbPair) * TASK_KEYS);
	for (int i = 0; i < TASK_KEYS; i++)
		sorted[task_key_pos[i]] = p[i];
	obj.type = jbvObject;
	obj.val.object.nPairs = n;
	obj.val.object.pairs = sorted;
	PG_RETURN_JSONB_P(JsonbValueToJsonb(&obj));
}

/* appends zero bytes up to a 4-byte boundary, as jsonb's writer does */
static void
pad_to_int(StringInfo buf)
{
	int			pad = INTALIGN(buf->len) - buf->len;

	while (pad-- > 0)
		appendStringInfoCharMacro(buf, '\0');
}

/* reserves room for n JEntries and returns where they start */
static int
reserve_jentries(StringInfo buf, int n)
{
	int			off = buf->len;

	enlargeStringInfo(buf, sizeof(JEntry) * n);
	memset(buf->data + off, 0, sizeof(JEntry) * n);
	buf->len += sizeof(JEntry) * n;
	buf->data[buf->len] = '\0';
	return off;
}

/* totallen so far as a child's JEntry: an offset every JB_OFFSET_STRIDE children */
static JEntry
child_entry(JEntry meta, int i, uint32 totallen)
{
	if (totallen > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("total size of jsonb array elements exceeds the maximum of %u bytes",
						JENTRY_OFFLENMASK)));
	if ((i % JB_OFFSET_STRIDE) == 0)
		meta = (meta & JENTRY_TYPEMASK) | totallen | JENTRY_HAS_OFF;
	return meta;
}

/*
 * An array of the given jsonb objects or arrays (NULLs become null), their
 * binary containers copied as they are: no element is taken apart.
 */
static JEntry
append_container_array(StringInfo buf, Datum *elems, bool *nulls, int n)
{
	int			base = buf->len;
	uint32		header = n | JB_FARRAY;
	int			jentries;
	uint32		totallen = 0;
	int			i;

	pad_to_int(buf);
	appendBinaryStringInfo(buf, (char *) &header, sizeof(uint32));
	jentries = reserve_jentries(buf, n);
	for (i = 0; i < n; i++)
	{
		JEntry		meta;
		int			start = buf->len;

		if (nulls[i])
			meta = JENTRY_ISNULL;
		else
		{
			Jsonb	   *doc = DatumGetJsonbP(elems[i]);

			if (JB_ROOT_IS_SCALAR(doc))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("items must be JSON objects or arrays")));
			pad_to_int(buf);
			appendBinaryStringInfo(buf, (char *) &doc->root, VARSIZE(doc) - VARHDRSZ);
			meta = JENTRY_ISCONTAINER | (buf->len - start);
		}
		totallen += buf->len - start;
		meta = child_entry(meta, i, totallen);
		memcpy(buf->data + jentries + i * sizeof(JEntry), &meta, sizeof(JEntry));
	}
	totallen = buf->len - base;
	if (totallen > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("total size of jsonb array elements exceeds the maximum of %u bytes",
						JENTRY_OFFLENMASK)));
	return JENTRY_ISCONTAINER | totallen;
}

/*
 * taskmgmt._jsonb_page(items jsonb[], next_cursor text) RETURNS jsonb
 *
 * {"items": [...], "next_cursor": ...}, the answer of a list function.
 * jsonb_agg() and jsonb_build_object() take every item apart into tokens
 * and build it again (twice, for a page); here the items' binary form is
 * copied into the page as it is.  A NULL array gives an empty list.
 */
PG_FUNCTION_INFO_V1(tm_jsonb_page);
Datum
tm_jsonb_page(PG_FUNCTION_ARGS)
{
	StringInfoData buf;
	uint32		header = 2 | JB_FOBJECT;
	int			jentries;
	uint32		totallen = 0;
	Datum	   *elems = NULL;
	bool	   *nulls = NULL;
	int			n = 0;
	JEntry		meta;
	int			start;
	static const char *const keys[2] = {"items", "next_cursor"};	/* jsonb order */
	int			i;

	if (!PG_ARGISNULL(0))
	{
		ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);

		if (ARR_NDIM(a) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("items must be a one-dimensional array")));
		deconstruct_array(a, JSONBOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	}

	initStringInfo(&buf);
	appendStringInfoSpaces(&buf, VARHDRSZ);
	appendBinaryStringInfo(&buf, (char *) &header, sizeof(uint32));
	jentries = reserve_jentries(&buf, 4);
	for (i = 0; i < 2; i++)
	{
		int			len = strlen(keys[i]);

		appendBinaryStringInfo(&buf, keys[i], len);
		totallen += len;
		meta = child_entry(JENTRY_ISSTRING | len, i, totallen);
		memcpy(buf.data + jentries + i * sizeof(JEntry), &meta, sizeof(JEntry));
	}

	/* "items" */
	start = buf.len;
	meta = append_container_array(&buf, elems, nulls, n);
	totallen += buf.len - start;
	meta = child_entry(meta, 2, totallen);
	memcpy(buf.data + jentries + 2 * sizeof(JEntry), &meta, sizeof(JEntry));

	/* "next_cursor" */
	start = buf.len;
	if (PG_ARGISNULL(1))
		meta = JENTRY_ISNULL;
	else
	{
		text	   *c = PG_GETARG_TEXT_PP(1);

		appendBinaryStringInfo(&buf, VARDATA_ANY(c), VARSIZE_ANY_EXHDR(c));
		meta = JENTRY_ISSTRING | (buf.len - start);
	}
	totallen += buf.len - start;
	meta = child_entry(meta, 3, totallen);
	memcpy(buf.data + jentries + 3 * sizeof(JEntry), &meta, sizeof(JEntry));

	SET_VARSIZE(buf.data, buf.len);
	PG_RETURN_JSONB_P((Jsonb *) buf.data);
}
