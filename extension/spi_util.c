/*
 * spi_util.c
 *	  SPI helpers: running internal queries as the extension's owner, and
 *	  kept plans.
 *
 * Credentials, sessions and the signing key live in tables that no client
 * role may read (RLS forced, no policies, no grants).  The identity functions
 * reach them by switching to the extension's owner for the duration of their
 * SPI work, exactly as PostgreSQL does for referential-integrity checks, with
 * a search_path that an attacker cannot influence.  The reads made in every
 * request (a token's session, the caller's teams) skip SPI: direct_read.c.
 */
#include "taskmgmt.h"

#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/syscache.h"

Oid
tm_extension_owner(void)
{
	Oid			nspid = get_namespace_oid("taskmgmt", false);
	HeapTuple	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nspid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for namespace %u", nspid);
	owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Switch to the extension owner with a fixed search_path and connect SPI.
 * Transaction or subtransaction abort restores both on error.
 */
void
tm_spi_begin_as_owner(TmOwnerContext *ctx)
{
	Oid			owner = tm_extension_owner();

	GetUserIdAndSecContext(&ctx->saved_userid, &ctx->saved_sec_context);
	SetUserIdAndSecContext(owner, ctx->saved_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	ctx->guc_nest_level = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

void
tm_spi_end_as_owner(TmOwnerContext *ctx)
{
	SPI_finish();
	AtEOXact_GUC(true, ctx->guc_nest_level);
	SetUserIdAndSecContext(ctx->saved_userid, ctx->saved_sec_context);
}

SPIPlanPtr
tm_spi_keep_plan(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}
