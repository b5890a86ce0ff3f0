/*
 * taskmgmt.h
 *	  Declarations shared by the C parts of the taskmgmt extension.
 */
#ifndef TASKMGMT_H
#define TASKMGMT_H

#include "postgres.h"
#include "access/genam.h"
#include "access/htup.h"
#include "executor/spi.h"
#include "utils/relcache.h"

/* Application SQLSTATEs (class TM); README.md maps each to an HTTP status. */
#define ERRCODE_TM_BAD_REQUEST		MAKE_SQLSTATE('T','M','4','0','0')
#define ERRCODE_TM_VERSION_MISMATCH	MAKE_SQLSTATE('T','M','4','1','2')
#define ERRCODE_TM_VALIDATION		MAKE_SQLSTATE('T','M','4','2','2')
#define ERRCODE_TM_TOO_MANY_ATTEMPTS MAKE_SQLSTATE('T','M','4','2','9')
#define ERRCODE_TM_INSUFFICIENT_SCOPE MAKE_SQLSTATE('T','M','4','0','3')

/*
 * Marks an error whose message is written for clients: the HTTP shim shows
 * it, and replaces any other message (PostgreSQL's own may name tables).
 * The mark is SCHEMA NAME taskmgmt without a table or type, as RAISE ...
 * USING SCHEMA sets it in the SQL files; PostgreSQL gives a schema only
 * with the table or type an error is about.
 */
#define tm_errclient() err_generic_string(PG_DIAG_SCHEMA_NAME, "taskmgmt")

/* GUCs (taskmgmt.c) */
extern int	tm_bcrypt_cost;
extern int	tm_access_token_ttl;
extern int	tm_refresh_token_ttl;
extern int	tm_login_max_failures;
extern int	tm_login_failure_window;
extern int	tm_login_lockout;
extern int	tm_login_account_max_failures;
extern int	tm_login_account_delay;

/* identity.c */
extern void tm_identity_set_session(int64 user_id, int64 session_id, bool is_admin);
extern void tm_identity_clear_all(void);
extern void tm_identity_sign_out(void);
extern int64 tm_identity_session_id(void);
extern bool tm_identity_current(int64 *user_id, bool *is_admin);

/* membership.c: the signed-in user's team ids, once per snapshot */
extern void tm_membership_register(void);
extern void tm_membership_invalidate(void);
extern void tm_identity_xact_callback_register(void);
extern void tm_identity_set_token(int64 user_id, int64 token_id, bool is_admin, bool read_only);
extern int64 tm_identity_token_id(void);
extern bool tm_identity_read_only(void);

/* tokens.c: personal access tokens */
extern bool tm_token_is_personal(const char *token);
extern char *tm_new_secret(const char *prefix);
extern int64 tm_token_authenticate(const char *token);
extern void tm_tokens_revoke_user(int64 user_id);
extern void tm_tokens_init(void);

/* webhooks.c: signatures, taskmgmt.webhook_allow_private_targets */
extern void tm_webhooks_init(void);

/* ical.c: iCalendar with libical */
extern void tm_ical_init(void);

/* jwt.c */
typedef struct TmJwtClaims
{
	int64		sub;
	int64		sid;
	int64		iat;
	int64		exp;
} TmJwtClaims;

extern char *tm_jwt_sign(const TmJwtClaims *claims, const unsigned char *key, size_t keylen);
extern bool tm_jwt_decode(const char *token, TmJwtClaims *claims);
extern bool tm_jwt_signature_ok(const char *token, const unsigned char *key, size_t keylen);

/* base64url.c */
extern char *tm_base64url_encode(const unsigned char *src, size_t len);
extern unsigned char *tm_base64url_decode(const char *src, size_t len, size_t *outlen);

/* direct_read.c: internal tables by index, without SPI */
extern Oid	tm_internal_relation(const char *name);
extern Relation tm_open_internal(const char *name);
extern void tm_close_internal(Relation rel);
extern AttrNumber tm_column_number(Relation rel, const char *name);
extern SysScanDesc tm_scan_by_int8(Relation heap, Oid index_oid, const char *column, int64 value);
extern HeapTuple tm_fetch_by_id(Relation heap, int64 id);
extern void tm_push_fresh_snapshot(void);

/* session_lookup.c: the signing key and a session's state, by primary key */
extern bytea *tm_signing_key(void);
extern bool tm_session_live(int64 session_id, int64 user_id, bool *is_admin);

/* spi_util.c: run SPI as the extension owner (RLS-exempt internal tables) */
typedef struct TmOwnerContext
{
	Oid			saved_userid;
	int			saved_sec_context;
	int			guc_nest_level;
} TmOwnerContext;

extern Oid	tm_extension_owner(void);
extern void tm_spi_begin_as_owner(TmOwnerContext *ctx);
extern void tm_spi_end_as_owner(TmOwnerContext *ctx);
extern SPIPlanPtr tm_spi_keep_plan(const char *sql, int nargs, Oid *argtypes);

/* crypto.c: random bytes, SHA-256, where pgcrypto is (SPI connected) */
extern const char *tm_pgcrypto_schema(void);
extern void tm_random_bytes(unsigned char *buf, size_t len);
extern void tm_sha256(const unsigned char *data, size_t len, unsigned char out[32]);
extern void tm_hmac_sha256(const unsigned char *key, size_t keylen,
						   const char *data, size_t len, unsigned char out[32]);

/* export_csv.c: one RFC 4180 cell (quoted when needed) */
struct StringInfoData;
extern void tm_csv_append_cell(struct StringInfoData *buf, const char *s, int len);

/* autonomous.c: short writes that must survive the caller's error */
#define TM_LOGIN_CLIENT_LEN 48	/* "local", an IPv4 address, an IPv6 /64 */
extern bool tm_autonomous_revoke_session(int64 session_id);
extern int	tm_autonomous_login_attempt(const unsigned char email_key[32], const char *client);
extern bool tm_autonomous_login_success(const unsigned char email_key[32], const char *client);
extern bool tm_autonomous_legacy_login_failure(const unsigned char email_key[32]);

/* report_pdf.c: defines taskmgmt.report_font */
extern void tm_report_pdf_init(void);

#endif							/* TASKMGMT_H */
