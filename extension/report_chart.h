/*
 * report_chart.h
 *	  The bar chart of the PDF report (report_chart.c), drawn on a canvas
 *	  (pdf_canvas.h) by the report's layout (report_pdf.c).
 */
#ifndef REPORT_CHART_H
#define REPORT_CHART_H

#include "pdf_canvas.h"

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

#endif							/* REPORT_CHART_H */
