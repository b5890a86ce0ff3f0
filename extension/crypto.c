/*
 * crypto.c
 *	  The extension's cryptographic primitives: random bytes for tokens,
 *	  SHA-256 for what is stored in their place, and the schema of pgcrypto
 *	  (whose bcrypt hashes the passwords).
 *
 * Apart from spi_util.c, whose concern is running SPI as the extension's
 * owner: nothing here depends on who runs it.  Sign-in and sessions
 * (auth.c) use these; HMAC-SHA256 signs JWTs (jwt.c) and webhook deliveries
 * (webhooks.c).
 */
#include "taskmgmt.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "utils/memutils.h"

/* pgcrypto may live in any schema; find it once per backend.  SPI must be connected. */
const char *
tm_pgcrypto_schema(void)
{
	static char *schema = NULL;

	if (schema == NULL)
	{
		int			rc = SPI_execute("SELECT n.nspname FROM pg_catalog.pg_extension e "
									 "JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace "
									 "WHERE e.extname = 'pgcrypto'", true, 1);

		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("extension \"pgcrypto\" is required by taskmgmt")));
		schema = MemoryContextStrdup(TopMemoryContext,
									 SPI_getvalue(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1));
	}
	return schema;
}

void
tm_random_bytes(unsigned char *buf, size_t len)
{
	if (!pg_strong_random(buf, len))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes")));
}

void
tm_sha256(const unsigned char *data, size_t len, unsigned char out[32])
{
	unsigned int outlen = 0;

	if (!EVP_Digest(data, len, out, &outlen, EVP_sha256(), NULL) || outlen != 32)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute digest")));
}

void
tm_hmac_sha256(const unsigned char *key, size_t keylen,
			   const char *data, size_t len, unsigned char out[32])
{
	unsigned int outlen = 0;

	if (HMAC(EVP_sha256(), key, (int) keylen, (const unsigned char *) data,
			 len, out, &outlen) == NULL || outlen != 32)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute a signature")));
}
