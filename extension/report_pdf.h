/*
 * report_pdf.h
 *	  Shared by the PDF report renderer (export_pdf.c) and its chart
 *	  drawing (report_chart.c).
 */
#ifndef REPORT_PDF_H
#define REPORT_PDF_H

#include <hpdf.h>

#include "nodes/pg_list.h"

/* Fonts and the page a renderer draws on; all text is UTF-8. */
typedef struct TmPdfCanvas
{
	HPDF_Doc	doc;
	HPDF_Page	page;			/* the page being drawn */
	List	   *pages;			/* every page so far, for the footers */
	HPDF_Font	regular;
	HPDF_Font	bold;
} TmPdfCanvas;

/* Draws text with its left end (or right end, when right_align) at x. */
extern void tm_pdf_text(TmPdfCanvas *c, HPDF_Font font, float size,
						float x, float y, const char *utf8, bool right_align);
extern float tm_pdf_text_width(TmPdfCanvas *c, HPDF_Font font, float size,
							   const char *utf8);

/* One bar of a chart: a short label under it and its value. */
typedef struct TmChartBar
{
	const char *label;
	double		value;
} TmChartBar;

/*
 * A vertical bar chart in the box (x, y) .. (x + width, y + height), y being
 * the bottom edge, with axis, ticks, value labels and bar labels.
 */
extern void tm_chart_bars(TmPdfCanvas *c, float x, float y, float width, float height,
						  const TmChartBar *bars, int nbars);

#endif							/* REPORT_PDF_H */
