/*
 * base64url.c
 *	  Unpadded base64url (RFC 4648 section 5), as JWTs use it.
 *
 * Decoding is strict: padding, characters outside the alphabet, impossible
 * lengths and non-zero trailing bits are all refused, so one token has
 * exactly one spelling.
 */
#include "taskmgmt.h"

static const char b64url_alphabet[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *
tm_base64url_encode(const unsigned char *src, size_t len)
{
	char	   *out = palloc(((len + 2) / 3) * 4 + 1);
	char	   *p = out;
	size_t		i;

	for (i = 0; i + 2 < len; i += 3)
	{
		uint32		v = (src[i] << 16) | (src[i + 1] << 8) | src[i + 2];

		*p++ = b64url_alphabet[(v >> 18) & 63];
		*p++ = b64url_alphabet[(v >> 12) & 63];
		*p++ = b64url_alphabet[(v >> 6) & 63];
		*p++ = b64url_alphabet[v & 63];
	}
	if (len - i == 1)
	{
		uint32		v = src[i] << 16;

		*p++ = b64url_alphabet[(v >> 18) & 63];
		*p++ = b64url_alphabet[(v >> 12) & 63];
	}
	else if (len - i == 2)
	{
		uint32		v = (src[i] << 16) | (src[i + 1] << 8);

		*p++ = b64url_alphabet[(v >> 18) & 63];
		*p++ = b64url_alphabet[(v >> 12) & 63];
		*p++ = b64url_alphabet[(v >> 6) & 63];
	}
	*p = '\0';
	return out;
}

static int
b64url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/*
 * Returns a palloc'd buffer (NUL-terminated for convenience, the terminator
 * not counted in *outlen), or NULL when the input is not canonical base64url.
 */
unsigned char *
tm_base64url_decode(const char *src, size_t len, size_t *outlen)
{
	unsigned char *out;
	size_t		o = 0;
	uint32		acc = 0;
	int			bits = 0;
	size_t		i;

	if (len % 4 == 1)
		return NULL;

	out = palloc(len * 3 / 4 + 1);
	for (i = 0; i < len; i++)
	{
		int			v = b64url_value(src[i]);

		if (v < 0)
		{
			pfree(out);
			return NULL;
		}
		acc = (acc << 6) | v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			out[o++] = (acc >> bits) & 0xFF;
		}
	}
	/* leftover bits must be zero, or two spellings would decode alike */
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
	{
		pfree(out);
		return NULL;
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}
