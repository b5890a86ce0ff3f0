/*
 * buf.h: a growable byte buffer and JSON string escaping.  No h2o or libpq
 * here, so the fuzz harness can link it alone.
 */
#ifndef SHIM_BUF_H
#define SHIM_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct strbuf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} strbuf;

void		sb_init(strbuf *sb);
void		sb_free(strbuf *sb);
void		sb_reset(strbuf *sb);
void		sb_append(strbuf *sb, const char *s, size_t n);
void		sb_puts(strbuf *sb, const char *s);
void		sb_printf(strbuf *sb, const char *fmt,...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included. */
void		sb_json_string(strbuf *sb, const char *s, size_t n);

/* True when s[0..n) is well-formed UTF-8 without NUL bytes. */
int			utf8_valid(const char *s, size_t n);

#endif
