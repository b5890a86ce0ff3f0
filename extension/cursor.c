/*
 * cursor.c
 *	  The MAC of a pagination cursor (see extension/sql/70_cursor.sql).
 *
 * NMAC over the signed-in user id and the message, with two keys derived
 * from the token signing key:
 *   sha256(sha256('taskmgmt cursor outer key:' || key)
 *          || sha256(sha256('taskmgmt cursor inner key:' || key) || uid || ':' || message))
 * truncated to 128 bits; uid is '-' when nobody is signed in.  In C because
 * every list page with a next page signs one cursor, and as a SQL function
 * (security definer, never inlined) it was parsed and planned every time.
 * The key is read as the extension owner, like authenticate() reads it.
 */
#include "taskmgmt.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

static SPIPlanPtr key_plan;

static void
sha256_of(const char *prefix, const char *a, size_t alen, const char *b, size_t blen,
		  unsigned char out[32])
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (prefix)
		appendStringInfoString(&buf, prefix);
	appendBinaryStringInfo(&buf, a, alen);
	if (b)
		appendBinaryStringInfo(&buf, b, blen);
	tm_sha256((unsigned char *) buf.data, buf.len, out);
	pfree(buf.data);
}

/* taskmgmt._cursor_mac(message text) RETURNS bytea (NULL without a key) */
PG_FUNCTION_INFO_V1(tm_cursor_mac);
Datum
tm_cursor_mac(PG_FUNCTION_ARGS)
{
	text	   *msg = PG_GETARG_TEXT_PP(0);
	TmOwnerContext ctx;
	bytea	   *secret = NULL;
	int64		uid;
	StringInfoData m;
	char	   *utf8;
	unsigned char k_outer[32],
				k_inner[32],
				inner[32],
				mac[32];
	bytea	   *result;
	MemoryContext caller = CurrentMemoryContext;

	tm_spi_begin_as_owner(&ctx);
	if (key_plan == NULL)
		key_plan = tm_spi_keep_plan("SELECT k.secret FROM taskmgmt.signing_keys k WHERE k.id = 1", 0, NULL);
	if (SPI_execute_plan(key_plan, NULL, NULL, true, 1) == SPI_OK_SELECT && SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
		{
			/* copied where it survives SPI_finish */
			MemoryContext spi = MemoryContextSwitchTo(caller);

			secret = DatumGetByteaPCopy(d);
			MemoryContextSwitchTo(spi);
		}
	}
	tm_spi_end_as_owner(&ctx);
	if (secret == NULL)
		PG_RETURN_NULL();

	sha256_of("taskmgmt cursor outer key:", VARDATA_ANY(secret), VARSIZE_ANY_EXHDR(secret), NULL, 0, k_outer);
	sha256_of("taskmgmt cursor inner key:", VARDATA_ANY(secret), VARSIZE_ANY_EXHDR(secret), NULL, 0, k_inner);

	initStringInfo(&m);
	if (tm_identity_current(&uid, NULL))
		appendStringInfo(&m, INT64_FORMAT, uid);
	else
		appendStringInfoChar(&m, '-');
	appendStringInfoChar(&m, ':');
	appendBinaryStringInfo(&m, VARDATA_ANY(msg), VARSIZE_ANY_EXHDR(msg));
	/* the message is hashed as UTF-8, whatever the database encoding */
	utf8 = pg_server_to_any(m.data, m.len, PG_UTF8);
	sha256_of(NULL, (char *) k_inner, 32, utf8, strlen(utf8), inner);
	sha256_of(NULL, (char *) k_outer, 32, (char *) inner, 32, mac);

	result = (bytea *) palloc(VARHDRSZ + 16);
	SET_VARSIZE(result, VARHDRSZ + 16);
	memcpy(VARDATA(result), mac, 16);
	PG_RETURN_BYTEA_P(result);
}
