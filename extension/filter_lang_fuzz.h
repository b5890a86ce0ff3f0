/*
 * filter_lang_fuzz.h
 *	  Stand-ins for the few backend facilities filter_lang.c uses, so the
 *	  parser can be fuzzed by libFuzzer outside PostgreSQL
 *	  (extension/fuzz_filter.c, make filter-fuzz).  ereport(ERROR) becomes a
 *	  longjmp back to the fuzz target; memory comes from malloc and is freed
 *	  by the target after each input.
 */
#ifndef FILTER_LANG_FUZZ_H
#define FILTER_LANG_FUZZ_H

#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define pg_attribute_noreturn() __attribute__((noreturn))

extern jmp_buf fl_fuzz_jmp;
extern void *fl_fuzz_alloc(size_t n);

/* the last error's position and expected text, for the target to check */
extern int	fl_fuzz_error_position;
extern const char *fl_fuzz_error_expected;
#define FL_ERROR_SEEN(position, expected) \
	(fl_fuzz_error_position = (position), fl_fuzz_error_expected = (expected))

#define palloc(n) fl_fuzz_alloc(n)
static inline void *
repalloc(void *p, size_t n)
{
	/* only used to grow the parameter array by 16 slots at a time */
	void	   *q = fl_fuzz_alloc(n);

	memcpy(q, p, n - 16 * sizeof(char *));
	return q;
}
static inline char *
pstrdup(const char *s)
{
	size_t		n = strlen(s) + 1;
	char	   *p = fl_fuzz_alloc(n);

	memcpy(p, s, n);
	return p;
}
static inline char *
psprintf(const char *fmt,...)
{
	va_list		ap;
	char	   *p = fl_fuzz_alloc(1024);

	va_start(ap, fmt);
	vsnprintf(p, 1024, fmt, ap);
	va_end(ap);
	return p;
}

typedef struct StringInfoData
{
	char	   *data;
	int			len;
	int			maxlen;
} StringInfoData;
typedef StringInfoData *StringInfo;

static inline void
initStringInfo(StringInfo s)
{
	s->maxlen = 64;
	s->data = fl_fuzz_alloc(s->maxlen);
	s->data[0] = '\0';
	s->len = 0;
}
static inline void
appendBinary(StringInfo s, const char *p, int n)
{
	if (s->len + n + 1 > s->maxlen)
	{
		char	   *d;

		while (s->len + n + 1 > s->maxlen)
			s->maxlen *= 2;
		d = fl_fuzz_alloc(s->maxlen);
		memcpy(d, s->data, s->len + 1);
		s->data = d;
	}
	memcpy(s->data + s->len, p, n);
	s->len += n;
	s->data[s->len] = '\0';
}
static inline void
appendStringInfoString(StringInfo s, const char *p)
{
	appendBinary(s, p, strlen(p));
}
static inline void
appendStringInfoChar(StringInfo s, char c)
{
	appendBinary(s, &c, 1);
}
static inline void
appendStringInfo(StringInfo s, const char *fmt,...)
{
	va_list		ap;
	char		buf[4096];
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n >= (int) sizeof(buf))
		abort();				/* a fragment longer than any the parser makes */
	appendBinary(s, buf, n);
}

/* characters of UTF-8 text (the database encoding the tests use) */
static inline int
pg_mbstrlen_with_len(const char *s, int n)
{
	int			c = 0;

	for (int i = 0; i < n; i++)
		if (((unsigned char) s[i] & 0xC0) != 0x80)
			c++;
	return c;
}

#define check_stack_depth() ((void) 0)
#define ereport(elevel, ...) longjmp(fl_fuzz_jmp, 1)

#endif
