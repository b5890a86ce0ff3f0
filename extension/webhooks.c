/*
 * webhooks.c
 *	  The C half of webhooks (92_webhooks.sql): random secrets, the
 *	  Standard Webhooks signature, and the superuser setting that lets
 *	  webhooks reach private addresses (for tests and closed networks).
 */
#include "taskmgmt.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "common/base64.h"
#include "lib/stringinfo.h"
#include "utils/guc.h"

static bool allow_private_targets = false;

/* From _PG_init. */
void
tm_webhooks_init(void)
{
	DefineCustomBoolVariable("taskmgmt.webhook_allow_private_targets",
							 "Lets webhooks deliver to private, loopback and link-local addresses.",
							 "Off by default, so that a user cannot make the server reach "
							 "services on its own network.",
							 &allow_private_targets, false, PGC_SUSET, 0,
							 NULL, NULL, NULL);
}

/* _random_bytes(n) -> n bytes from the strong random source (1..1024) */
PG_FUNCTION_INFO_V1(tm_random_bytes_sql);
Datum
tm_random_bytes_sql(PG_FUNCTION_ARGS)
{
	int32		n = PG_GETARG_INT32(0);
	bytea	   *result;

	if (n < 1 || n > 1024)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("number of random bytes must be from 1 to 1024")));
	result = palloc(VARHDRSZ + n);
	tm_random_bytes((unsigned char *) VARDATA(result), n);
	SET_VARSIZE(result, VARHDRSZ + n);
	PG_RETURN_BYTEA_P(result);
}

/*
 * _webhook_signature(secret, msg_id, ts, body) ->
 *	 "v1," || base64(HMAC-SHA256(secret, msg_id || '.' || ts || '.' || body))
 */
PG_FUNCTION_INFO_V1(tm_webhook_signature);
Datum
tm_webhook_signature(PG_FUNCTION_ARGS)
{
	bytea	   *secret = PG_GETARG_BYTEA_PP(0);
	char	   *msg_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	int64		ts = PG_GETARG_INT64(2);
	text	   *body = PG_GETARG_TEXT_PP(3);
	StringInfoData content;
	unsigned char mac[32];
	char		b64[64];
	int			n;

	initStringInfo(&content);
	appendStringInfo(&content, "%s." INT64_FORMAT ".", msg_id, ts);
	appendBinaryStringInfo(&content, VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body));
	tm_hmac_sha256((unsigned char *) VARDATA_ANY(secret), VARSIZE_ANY_EXHDR(secret),
				   content.data, content.len, mac);
	n = pg_b64_encode((const char *) mac, sizeof(mac), b64, sizeof(b64) - 1);
	if (n < 0)
		elog(ERROR, "could not encode a signature");
	b64[n] = '\0';
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("v1,%s", b64)));
}
