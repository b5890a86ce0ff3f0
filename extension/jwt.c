/*
 * jwt.c
 *	  HS256 JSON Web Tokens: signing, strict decoding and verification.
 *
 * The algorithm is fixed: a header that names anything but HS256 is refused,
 * and verification never lets the header choose how to check the signature.
 * Claims sub, sid, iat and exp are all required and must be integers.
 */
#include "taskmgmt.h"

#include <openssl/crypto.h>

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#define JWT_MAX_LENGTH 4096
#define JWT_HEADER "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

char *
tm_jwt_sign(const TmJwtClaims *claims, const unsigned char *key, size_t keylen)
{
	char	   *payload;
	char	   *signing_input;
	unsigned char mac[32];

	payload = psprintf("{\"sub\":" INT64_FORMAT ",\"sid\":" INT64_FORMAT
					   ",\"iat\":" INT64_FORMAT ",\"exp\":" INT64_FORMAT "}",
					   claims->sub, claims->sid, claims->iat, claims->exp);
	signing_input = psprintf("%s.%s",
							 tm_base64url_encode((const unsigned char *) JWT_HEADER,
												 strlen(JWT_HEADER)),
							 tm_base64url_encode((const unsigned char *) payload,
												 strlen(payload)));
	tm_hmac_sha256(key, keylen, signing_input, strlen(signing_input), mac);
	return psprintf("%s.%s", signing_input, tm_base64url_encode(mac, sizeof(mac)));
}

/* ---- a minimal claim collector on top of PostgreSQL's JSON parser ---- */

typedef enum JwtPart
{
	JWT_PART_HEADER,
	JWT_PART_PAYLOAD
} JwtPart;

typedef struct ClaimState
{
	JwtPart		part;
	int			depth;
	const char *field;			/* current top-level field name */
	bool		bad;
	/* header */
	bool		alg_hs256;
	bool		has_crit;
	/* payload: bit per claim seen */
	int			seen;
	TmJwtClaims claims;
} ClaimState;

static void
claim_object_start(void *arg)
{
	ClaimState *st = arg;

	st->depth++;
}

static void
claim_object_end(void *arg)
{
	ClaimState *st = arg;

	st->depth--;
}

/* Arrays nest like objects: a claim inside [..] is not a claim. */
static void
claim_array_start(void *arg)
{
	ClaimState *st = arg;

	if (st->depth == 0)
		st->bad = true;			/* the top level must be an object */
	st->depth++;
}

static void
claim_array_end(void *arg)
{
	ClaimState *st = arg;

	st->depth--;
}

static void
claim_field_start(void *arg, char *fname, bool isnull)
{
	ClaimState *st = arg;

	if (st->depth == 1)
	{
		st->field = fname;
		if (st->part == JWT_PART_HEADER && strcmp(fname, "crit") == 0)
			st->has_crit = true;
	}
}

static bool
parse_int64_strict(const char *s, int64 *out)
{
	const char *p = s;
	int64		v = 0;

	if (*p == '-')
		p++;
	if (*p == '\0')
		return false;
	for (; *p; p++)
	{
		if (*p < '0' || *p > '9')
			return false;		/* fractions and exponents are not claims */
		if (v > (PG_INT64_MAX - (*p - '0')) / 10)
			return false;
		v = v * 10 + (*p - '0');
	}
	*out = (s[0] == '-') ? -v : v;
	return true;
}

static void
claim_scalar(void *arg, char *token, JsonTokenType tokentype)
{
	ClaimState *st = arg;
	static const char *const names[] = {"sub", "sid", "iat", "exp"};
	int			i;

	if (st->depth == 0)
	{
		st->bad = true;
		return;
	}
	if (st->depth != 1 || st->field == NULL)
		return;

	if (st->part == JWT_PART_HEADER)
	{
		if (strcmp(st->field, "alg") == 0)
		{
			if (st->seen)
				st->bad = true; /* one alg only */
			st->seen = 1;
			st->alg_hs256 = (tokentype == JSON_TOKEN_STRING &&
							 strcmp(token, "HS256") == 0);
		}
		return;
	}

	for (i = 0; i < lengthof(names); i++)
	{
		int64		v;

		if (strcmp(st->field, names[i]) != 0)
			continue;
		if ((st->seen & (1 << i)) ||
			tokentype != JSON_TOKEN_NUMBER ||
			!parse_int64_strict(token, &v))
		{
			st->bad = true;
			return;
		}
		st->seen |= 1 << i;
		switch (i)
		{
			case 0:
				st->claims.sub = v;
				break;
			case 1:
				st->claims.sid = v;
				break;
			case 2:
				st->claims.iat = v;
				break;
			case 3:
				st->claims.exp = v;
				break;
		}
	}
}

static bool
parse_part(const char *segment, size_t seglen, ClaimState *st)
{
	size_t		len;
	unsigned char *json = tm_base64url_decode(segment, seglen, &len);
	JsonLexContext *lex;
	JsonSemAction sem;

	if (json == NULL || len == 0 || memchr(json, '\0', len) != NULL)
		return false;
	/* the JSON parser reports invalid UTF-8 by throwing: check it first */
	if (pg_verify_mbstr_len(PG_UTF8, (const char *) json, (int) len, true) < 0)
		return false;

	memset(&sem, 0, sizeof(sem));
	sem.semstate = st;
	sem.object_start = claim_object_start;
	sem.object_end = claim_object_end;
	sem.array_start = claim_array_start;
	sem.array_end = claim_array_end;
	sem.object_field_start = claim_field_start;
	sem.scalar = claim_scalar;

	lex = makeJsonLexContextCstringLen((char *) json, (int) len, PG_UTF8, true);
	if (pg_parse_json(lex, &sem) != JSON_SUCCESS)
		return false;
	return !st->bad;
}

/*
 * Decodes a token's header and claims without checking the signature.
 * Returns false for anything malformed: wrong segment count, bad base64url,
 * bad JSON, an algorithm other than HS256, missing or non-integer claims.
 */
bool
tm_jwt_decode(const char *token, TmJwtClaims *claims)
{
	size_t		len = strlen(token);
	const char *dot1;
	const char *dot2;
	ClaimState	hdr;
	ClaimState	pay;

	if (len == 0 || len > JWT_MAX_LENGTH)
		return false;
	dot1 = strchr(token, '.');
	if (dot1 == NULL)
		return false;
	dot2 = strchr(dot1 + 1, '.');
	if (dot2 == NULL || strchr(dot2 + 1, '.') != NULL)
		return false;			/* exactly three segments */

	memset(&hdr, 0, sizeof(hdr));
	hdr.part = JWT_PART_HEADER;
	if (!parse_part(token, dot1 - token, &hdr) || !hdr.alg_hs256 || hdr.has_crit)
		return false;

	memset(&pay, 0, sizeof(pay));
	pay.part = JWT_PART_PAYLOAD;
	if (!parse_part(dot1 + 1, dot2 - dot1 - 1, &pay) || pay.seen != 0xF)
		return false;

	*claims = pay.claims;
	return true;
}

/* Constant-time check of the HS256 signature over "header.payload". */
bool
tm_jwt_signature_ok(const char *token, const unsigned char *key, size_t keylen)
{
	const char *dot2 = strrchr(token, '.');
	unsigned char expected[32];
	unsigned char *given;
	size_t		givenlen;
	bool		ok;

	if (dot2 == NULL)
		return false;
	given = tm_base64url_decode(dot2 + 1, strlen(dot2 + 1), &givenlen);
	if (given == NULL || givenlen != sizeof(expected))
		return false;
	tm_hmac_sha256(key, keylen, token, dot2 - token, expected);
	ok = CRYPTO_memcmp(expected, given, sizeof(expected)) == 0;
	pfree(given);
	return ok;
}
