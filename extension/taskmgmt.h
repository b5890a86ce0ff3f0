/*
 * taskmgmt.h
 *	  Declarations shared by the C parts of the taskmgmt extension.
 */
#ifndef TASKMGMT_H
#define TASKMGMT_H

#include "postgres.h"
#include "executor/spi.h"

/* Application SQLSTATEs (class TM); README.md maps each to an HTTP status. */
#define ERRCODE_TM_BAD_REQUEST		MAKE_SQLSTATE('T','M','4','0','0')
#define ERRCODE_TM_VERSION_MISMATCH	MAKE_SQLSTATE('T','M','4','1','2')
#define ERRCODE_TM_VALIDATION		MAKE_SQLSTATE('T','M','4','2','2')
#define ERRCODE_TM_TOO_MANY_ATTEMPTS MAKE_SQLSTATE('T','M','4','2','9')

/* GUCs (taskmgmt.c) */
extern int	tm_bcrypt_cost;
extern int	tm_access_token_ttl;
extern int	tm_refresh_token_ttl;
extern int	tm_login_max_failures;
extern int	tm_login_failure_window;
extern int	tm_login_lockout;

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
extern const char *tm_pgcrypto_schema(void);
extern void tm_random_bytes(unsigned char *buf, size_t len);
extern void tm_sha256(const unsigned char *data, size_t len, unsigned char out[32]);

/* export_csv.c: one RFC 4180 cell (quoted when needed) */
struct StringInfoData;
extern void tm_csv_append_cell(struct StringInfoData *buf, const char *s, int len);

/* autonomous.c: short writes that must survive the caller's error */
extern bool tm_autonomous_revoke_session(int64 session_id);
extern bool tm_autonomous_record_login_failure(const unsigned char email_key[32]);

/* export_pdf.c: defines taskmgmt.report_font */
extern void tm_export_pdf_init(void);

#endif							/* TASKMGMT_H */
