/*
 * taskmgmt.c
 *	  Module entry point and configuration.
 */
#include "taskmgmt.h"

#include "fmgr.h"
#include "utils/guc.h"
#include "utils/rls.h"

PG_MODULE_MAGIC;

int			tm_bcrypt_cost = 12;
int			tm_access_token_ttl = 15 * 60;
int			tm_refresh_token_ttl = 30 * 24 * 3600;
int			tm_login_max_failures = 5;
int			tm_login_failure_window = 15 * 60;
int			tm_login_lockout = 60;
int			tm_login_account_max_failures = 50;
int			tm_login_account_delay = 1;

void		_PG_init(void);

void
_PG_init(void)
{
	/* Only superusers may change these: they are security policy. */
	DefineCustomIntVariable("taskmgmt.bcrypt_cost",
							"bcrypt cost factor for new password hashes.",
							"Each step doubles the work; 12 takes about 250 ms of a core.",
							&tm_bcrypt_cost, 12, 10, 20,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("taskmgmt.access_token_ttl",
							"Lifetime of access tokens.",
							NULL, &tm_access_token_ttl, 15 * 60, 30, 24 * 3600,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("taskmgmt.refresh_token_ttl",
							"Lifetime of a sign-in session and its refresh tokens.",
							NULL, &tm_refresh_token_ttl, 30 * 24 * 3600, 60, 365 * 24 * 3600,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("taskmgmt.login_max_failures",
							"Failed sign-ins for one email from one client address, within the window, "
							"before that address is slowed down.",
							NULL, &tm_login_max_failures, 5, 1, 1000,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("taskmgmt.login_failure_window",
							"Window in which failed sign-ins are counted.",
							NULL, &tm_login_failure_window, 15 * 60, 1, 24 * 3600,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("taskmgmt.login_lockout",
							"Wait imposed on a client address after too many failures for one email.",
							"It doubles with each further failure, up to the failure window.",
							&tm_login_lockout, 60, 1, 24 * 3600,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("taskmgmt.login_account_max_failures",
							"Failed sign-ins for one email from all addresses, within the window, "
							"before attempts on it are spaced out.",
							NULL, &tm_login_account_max_failures, 50, 1, 100000,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("taskmgmt.login_account_delay",
							"Spacing between sign-in attempts on an email that has too many failures.",
							NULL, &tm_login_account_delay, 1, 1, 3600,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	tm_report_pdf_init();
	tm_webhooks_init();
	tm_ical_init();
	MarkGUCPrefixReserved("taskmgmt");

	tm_identity_xact_callback_register();
	tm_tokens_init();
	tm_membership_register();
}

/*
 * _restoring() -> true while row_security is off, which only a pg_dump
 * script (a restore) does to these tables; see 30_helpers.sql.  In C rather
 * than SQL because it is the WHEN clause of every trigger on tasks: the
 * executor prepares those clauses for each statement, and a SQL function
 * there is inlined, so its text was parsed and analysed again for every
 * trigger of every insert and update.
 */
PG_FUNCTION_INFO_V1(tm_restoring);
Datum
tm_restoring(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(!row_security);
}
