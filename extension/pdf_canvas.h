/*
 * pdf_canvas.h
 *	  A libharu document made inside a backend: its memory, its errors, its
 *	  fonts, its pages and UTF-8 text on them.  The PDF report (report_pdf.c)
 *	  and its chart (report_chart.c) draw through this; it knows nothing of
 *	  what they draw.
 */
#ifndef PDF_CANVAS_H
#define PDF_CANVAS_H

#include <hpdf.h>

#include "nodes/pg_list.h"

/* First libharu failure seen by the error callback; tm_pdf_check raises it. */
typedef struct TmPdfErrors
{
	HPDF_STATUS error_no;
	HPDF_STATUS detail_no;
} TmPdfErrors;

/* Fonts and the page a renderer draws on; all text is UTF-8. */
typedef struct TmPdfCanvas
{
	HPDF_Doc	doc;
	HPDF_Page	page;			/* the page being drawn */
	List	   *pages;			/* every page so far, for the footers */
	HPDF_Font	regular;
	HPDF_Font	bold;
} TmPdfCanvas;

/*
 * A new document whose allocations go to cxt and whose failures are recorded
 * in *errors.  Call tm_pdf_free on every path (PG_FINALLY), even when this
 * raised; only then delete cxt.
 */
extern HPDF_Doc tm_pdf_new(MemoryContext cxt, TmPdfErrors *errors);
extern void tm_pdf_free(HPDF_Doc doc);

/* Raises the recorded libharu failure, if any, with a fitting SQLSTATE. */
extern void tm_pdf_check(const TmPdfErrors *errors);

/*
 * Embeds DejaVu Sans (regular, and bold when installed) as UTF-8 fonts of
 * the canvas, or the TrueType file font_path for both when it is set.
 */
extern void tm_pdf_load_fonts(TmPdfCanvas *c, TmPdfErrors *errors, const char *font_path);

/* Starts a page of the given size (points) and makes it the current one. */
extern void tm_pdf_new_page(TmPdfCanvas *c, float width, float height);

/* Draws text with its left end (or right end, when right_align) at x. */
extern void tm_pdf_text(TmPdfCanvas *c, HPDF_Font font, float size,
						float x, float y, const char *utf8, bool right_align);
extern float tm_pdf_text_width(TmPdfCanvas *c, HPDF_Font font, float size,
							   const char *utf8);
/* utf8 when it fits max_width, else its longest prefix that fits with "…". */
extern char *tm_pdf_fit_text(TmPdfCanvas *c, HPDF_Font font, float size,
							 const char *utf8, float max_width);

/* The finished document as bytea, in the current memory context. */
extern bytea *tm_pdf_save(HPDF_Doc doc, TmPdfErrors *errors);

#endif							/* PDF_CANVAS_H */
