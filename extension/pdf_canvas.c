/*
 * pdf_canvas.c
 *	  libharu inside a backend: memory, errors, fonts, pages and UTF-8 text.
 *
 * Kept apart from the report's layout (report_pdf.c) so that the rules for
 * calling libharu from PostgreSQL live in one place:
 *
 * libharu reports failures through an error callback.  Ours only records the
 * first failure; the renderer checks after each part of the document
 * (tm_pdf_check) and raises a proper ereport from our own code, so we never
 * longjmp out of the middle of a libharu function.  libharu allocates through
 * palloc in a context of its own (without raising on out-of-memory, which
 * libharu handles), and HPDF_Free runs on every path, error or not.
 *
 * The messages speak of "the PDF report" and name taskmgmt.report_font
 * (report_pdf.c passes its value in): the report is the only document made
 * here, and its callers see these texts.
 */
#include "postgres.h"

#include <unistd.h>

#include "utils/memutils.h"

#include "pdf_canvas.h"

/* Where distributions put DejaVu Sans (Debian's fonts-dejavu-core first). */
static const char *const font_dirs[] = {
	"/usr/share/fonts/truetype/dejavu",
	"/usr/share/fonts/dejavu",
	"/usr/share/fonts/TTF",
	"/usr/local/share/fonts",
	NULL
};

/* libharu allocates here while a document is being made. */
static MemoryContext pdf_memory = NULL;

static void HPDF_STDCALL
pdf_on_error(HPDF_STATUS error_no, HPDF_STATUS detail_no, void *user_data)
{
	TmPdfErrors *state = (TmPdfErrors *) user_data;

	if (state->error_no == 0)
	{
		state->error_no = error_no;
		state->detail_no = detail_no;
	}
}

static void *HPDF_STDCALL
pdf_alloc(HPDF_UINT size)
{
	Assert(pdf_memory != NULL);
	return MemoryContextAllocExtended(pdf_memory, size, MCXT_ALLOC_NO_OOM | MCXT_ALLOC_HUGE);
}

static void HPDF_STDCALL
pdf_free(void *ptr)
{
	if (ptr != NULL)
		pfree(ptr);
}

HPDF_Doc
tm_pdf_new(MemoryContext cxt, TmPdfErrors *errors)
{
	HPDF_Doc	doc;

	pdf_memory = cxt;
	doc = HPDF_NewEx(pdf_on_error, pdf_alloc, pdf_free, 0, errors);
	if (doc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory while rendering the PDF report")));
	return doc;
}

void
tm_pdf_free(HPDF_Doc doc)
{
	if (doc != NULL)
		HPDF_Free(doc);
	pdf_memory = NULL;
}

void
tm_pdf_check(const TmPdfErrors *errors)
{
	int			sqlstate;
	const char *message;

	if (errors->error_no == 0)
		return;

	switch (errors->error_no)
	{
		case HPDF_FAILD_TO_ALLOC_MEM:
			sqlstate = ERRCODE_OUT_OF_MEMORY;
			message = "out of memory while rendering the PDF report";
			break;
		case HPDF_FILE_OPEN_ERROR:
		case HPDF_FILE_IO_ERROR:
		case HPDF_TTF_CANNOT_EMBEDDING_FONT:
		case HPDF_TTF_INVALID_CMAP:
		case HPDF_TTF_INVALID_FOMAT:
		case HPDF_TTF_MISSING_TABLE:
		case HPDF_INVALID_TTC_FILE:
		case HPDF_INVALID_TTC_INDEX:
		case HPDF_UNSUPPORTED_FONT_TYPE:
			sqlstate = ERRCODE_CONFIG_FILE_ERROR;
			message = "the font for PDF reports could not be loaded";
			break;
		default:
			sqlstate = ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;
			message = "could not render the PDF report";
			break;
	}
	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg("%s", message),
			 errdetail("libharu error 0x%04X (detail %u).",
					   (unsigned int) errors->error_no, (unsigned int) errors->detail_no),
			 sqlstate == ERRCODE_CONFIG_FILE_ERROR ?
			 errhint("Set taskmgmt.report_font to a TrueType font, or install the Debian package fonts-dejavu-core.") : 0));
}

/*
 * The TrueType file for the given DejaVu face, or NULL.  font_path, when set,
 * is used for every face.
 */
static const char *
find_font(const char *font_path, const char *face, bool required)
{
	if (font_path != NULL && font_path[0] != '\0')
	{
		if (access(font_path, R_OK) == 0)
			return font_path;
	}
	else
	{
		for (int i = 0; font_dirs[i] != NULL; i++)
		{
			char	   *path = psprintf("%s/%s", font_dirs[i], face);

			if (access(path, R_OK) == 0)
				return path;
			pfree(path);
		}
	}
	if (required)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("the font for PDF reports is not installed"),
				 errhint("Install the Debian package fonts-dejavu-core, or set taskmgmt.report_font to a TrueType font.")));
	return NULL;
}

void
tm_pdf_load_fonts(TmPdfCanvas *c, TmPdfErrors *errors, const char *font_path)
{
	/* both looked up first: a missing font fails before libharu runs */
	const char *regular_path = find_font(font_path, "DejaVuSans.ttf", true);
	const char *bold_path = find_font(font_path, "DejaVuSans-Bold.ttf", false);
	const char *name;

	/* UTF-8 text needs an embedded TrueType font (Type 0, Identity-H) */
	HPDF_UseUTFEncodings(c->doc);
	name = HPDF_LoadTTFontFromFile(c->doc, regular_path, HPDF_TRUE);
	tm_pdf_check(errors);
	c->regular = HPDF_GetFont(c->doc, name, "UTF-8");
	c->bold = c->regular;
	if (bold_path != NULL && bold_path != regular_path)
	{
		name = HPDF_LoadTTFontFromFile(c->doc, bold_path, HPDF_TRUE);
		tm_pdf_check(errors);
		c->bold = HPDF_GetFont(c->doc, name, "UTF-8");
	}
	tm_pdf_check(errors);
}

void
tm_pdf_new_page(TmPdfCanvas *c, float width, float height)
{
	c->page = HPDF_AddPage(c->doc);
	HPDF_Page_SetWidth(c->page, width);
	HPDF_Page_SetHeight(c->page, height);
	c->pages = lappend(c->pages, c->page);
}

void
tm_pdf_text(TmPdfCanvas *c, HPDF_Font font, float size, float x, float y,
			const char *utf8, bool right_align)
{
	HPDF_Page_BeginText(c->page);
	HPDF_Page_SetFontAndSize(c->page, font, size);
	if (right_align)
		x -= HPDF_Page_TextWidth(c->page, utf8);
	HPDF_Page_TextOut(c->page, x, y, utf8);
	HPDF_Page_EndText(c->page);
}

float
tm_pdf_text_width(TmPdfCanvas *c, HPDF_Font font, float size, const char *utf8)
{
	HPDF_Page_SetFontAndSize(c->page, font, size);
	return HPDF_Page_TextWidth(c->page, utf8);
}

char *
tm_pdf_fit_text(TmPdfCanvas *c, HPDF_Font font, float size, const char *utf8,
				float max_width)
{
	int			len = strlen(utf8);
	char	   *buf;

	if (tm_pdf_text_width(c, font, size, utf8) <= max_width)
		return pstrdup(utf8);

	buf = palloc(len + 4);
	while (len > 0)
	{
		/* drop the last character: back over UTF-8 continuation bytes */
		do
			len--;
		while (len > 0 && (utf8[len] & 0xC0) == 0x80);
		memcpy(buf, utf8, len);
		memcpy(buf + len, "\xE2\x80\xA6", 4);	/* "…" and the terminator */
		if (tm_pdf_text_width(c, font, size, buf) <= max_width)
			break;
	}
	return buf;
}

bytea *
tm_pdf_save(HPDF_Doc doc, TmPdfErrors *errors)
{
	HPDF_UINT32 size;
	bytea	   *result;

	HPDF_SaveToStream(doc);
	tm_pdf_check(errors);
	size = HPDF_GetStreamSize(doc);
	result = (bytea *) palloc(VARHDRSZ + size);
	HPDF_ResetStream(doc);
	HPDF_ReadFromStream(doc, (HPDF_BYTE *) VARDATA(result), &size);
	/* reading the whole stream ends at its end, which libharu reports as EOF */
	if (errors->error_no == HPDF_STREAM_EOF)
		errors->error_no = 0;
	tm_pdf_check(errors);
	SET_VARSIZE(result, VARHDRSZ + size);
	return result;
}
