/*
 * fuzz_filter.c: libFuzzer target for the filter language parser
 * (extension/filter_lang.c, compiled with FL_STANDALONE).
 *
 * For every input: the parser either reports an error (TM400 in the
 * database) or returns a condition; then the condition must be balanced in
 * parentheses and quotes, reference only parameters it produced, and contain
 * none of the input's characters outside fixed fragments: every single quote
 * in it belongs to a fixed literal, so a value can never end a string.
 * An error names a character position within the text (1 to one past its
 * last character) and what was expected in a short printable phrase of the
 * parser's own (the DETAIL "Expected <what>." the HTTP shim reports).
 */
#include "filter_lang_fuzz.h"

#include <stdint.h>

jmp_buf		fl_fuzz_jmp;
int			fl_fuzz_error_position;
const char *fl_fuzz_error_expected;
static void **blocks;
static size_t nblocks,
			capblocks;

void *
fl_fuzz_alloc(size_t n)
{
	void	   *p = malloc(n ? n : 1);

	if (nblocks == capblocks)
	{
		capblocks = capblocks ? capblocks * 2 : 256;
		blocks = realloc(blocks, capblocks * sizeof(void *));
	}
	blocks[nblocks++] = p;
	return p;
}

static void
free_all(void)
{
	for (size_t i = 0; i < nblocks; i++)
		free(blocks[i]);
	nblocks = 0;
}

char	   *tm_filter_compile_text(const char *src, char ***params, int *nparams, bool *narrows);

/* the fixed quoted literals the compiler may emit */
static const char *const literals[] = {
	"'english'", "'todo', 'in_progress'", "'blocks'", "'done', 'canceled'", "'updated'", NULL
};

static void
check_sql(const char *sql, int nparams)
{
	int			depth = 0;

	for (const char *p = sql; *p; p++)
	{
		if (*p == '(')
			depth++;
		else if (*p == ')')
		{
			if (--depth < 0)
				abort();
		}
		else if (*p == '\'')
		{
			int			ok = 0;

			for (int i = 0; literals[i]; i++)
				if (strncmp(p, literals[i], strlen(literals[i])) == 0)
				{
					p += strlen(literals[i]) - 1;
					ok = 1;
					break;
				}
			if (!ok)
				abort();		/* a quote the compiler did not write */
		}
		else if (*p == '$')
		{
			int			k;

			if (p[1] != '1' || p[2] != ')' || p[3] != '[')
				abort();
			k = atoi(p + 4);
			if (k < 1 || k > nparams)
				abort();
		}
		else if (*p == ';')
			abort();
	}
	if (depth != 0)
		abort();
}

static void
check_error(const char *src)
{
	const char *e = fl_fuzz_error_expected;
	int			chars = 0;

	for (const char *p = src; *p; p++)
		if (((unsigned char) *p & 0xC0) != 0x80)
			chars++;
	if (fl_fuzz_error_position < 1 || fl_fuzz_error_position > chars + 1)
		abort();
	if (e == NULL || e[0] == '\0' || strlen(e) > 200)
		abort();
	for (; *e; e++)
		if (*e < 0x20 || *e > 0x7e)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *src = malloc(size + 1);
	char	  **params;
	int			nparams;
	bool		narrows;

	memcpy(src, data, size);
	src[size] = '\0';
	fl_fuzz_error_position = 0;
	fl_fuzz_error_expected = NULL;
	if (setjmp(fl_fuzz_jmp) == 0)
	{
		char	   *sql = tm_filter_compile_text(src, &params, &nparams, &narrows);

		check_sql(sql, nparams);
	}
	else
		check_error(src);
	free_all();
	free(src);
	return 0;
}
