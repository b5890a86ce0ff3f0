/*
 * report_chart.c
 *	  Bar chart drawing for the PDF report (libharu).
 *
 * A file of its own because the chart is the one part of the page with
 * arithmetic (scale, ticks, label spacing) rather than placement.  Nothing
 * here raises errors: libharu records failures in the document's error
 * state, which report_pdf.c checks after each part of the page.
 */
#include "postgres.h"

#include <math.h>

#include "report_chart.h"

#define AXIS_LABEL_SIZE	7.5f
#define BAR_LABEL_SIZE	7.0f
#define VALUE_SIZE		7.0f

/* Smallest "round" step (1, 2 or 5 times a power of ten) giving <= 5 ticks. */
static double
nice_step(double max_value)
{
	double		magnitude;
	double		step;

	if (max_value <= 5)
		return 1;
	magnitude = pow(10, floor(log10(max_value / 5)));
	for (;;)
	{
		if (max_value / (1 * magnitude) <= 5)
			step = 1 * magnitude;
		else if (max_value / (2 * magnitude) <= 5)
			step = 2 * magnitude;
		else if (max_value / (5 * magnitude) <= 5)
			step = 5 * magnitude;
		else
		{
			magnitude *= 10;
			continue;
		}
		return step;
	}
}

void
tm_chart_bars(TmPdfCanvas *c, float x, float y, float width, float height,
			  const TmChartBar *bars, int nbars)
{
	HPDF_Page	page = c->page;
	float		left = x + 34;	/* room for the tick labels */
	float		bottom = y + 16;	/* room for the bar labels */
	float		plot_w = x + width - left;
	float		plot_h = height - 16 - 10;	/* 10: room for value labels */
	double		max_value = 0;
	double		step;
	double		top;
	float		slot;
	float		bar_w;
	float		label_w;
	int			label_every;
	int			i;
	char		buf[32];

	for (i = 0; i < nbars; i++)
		max_value = Max(max_value, bars[i].value);
	step = nice_step(max_value);
	top = Max(step, ceil(max_value / step) * step);

	/* horizontal grid lines with their values */
	HPDF_Page_SetLineWidth(page, 0.4f);
	HPDF_Page_SetRGBStroke(page, 0.82f, 0.82f, 0.82f);
	HPDF_Page_SetRGBFill(page, 0.3f, 0.3f, 0.3f);
	for (double v = 0; v <= top + step / 2; v += step)
	{
		float		gy = bottom + (float) (v / top) * plot_h;

		HPDF_Page_MoveTo(page, left, gy);
		HPDF_Page_LineTo(page, left + plot_w, gy);
		HPDF_Page_Stroke(page);
		snprintf(buf, sizeof(buf), "%.0f", v);
		tm_pdf_text(c, c->regular, AXIS_LABEL_SIZE, left - 4, gy - 2.5f, buf, true);
	}

	/* the axes */
	HPDF_Page_SetLineWidth(page, 0.8f);
	HPDF_Page_SetRGBStroke(page, 0.2f, 0.2f, 0.2f);
	HPDF_Page_MoveTo(page, left, bottom + plot_h);
	HPDF_Page_LineTo(page, left, bottom);
	HPDF_Page_LineTo(page, left + plot_w, bottom);
	HPDF_Page_Stroke(page);

	if (nbars <= 0)
		return;

	slot = plot_w / nbars;
	bar_w = slot * 0.7f;
	/* thin out the bar labels so they never overlap */
	label_w = tm_pdf_text_width(c, c->regular, BAR_LABEL_SIZE, "00-00") + 4;
	label_every = (int) ceil(label_w / slot);
	if (label_every < 1)
		label_every = 1;

	for (i = 0; i < nbars; i++)
	{
		float		bx = left + slot * i + (slot - bar_w) / 2;
		float		bh = (float) (bars[i].value / top) * plot_h;
		float		cx = bx + bar_w / 2;

		if (bh > 0)
		{
			HPDF_Page_SetRGBFill(page, 0.22f, 0.45f, 0.70f);
			HPDF_Page_Rectangle(page, bx, bottom, bar_w, bh);
			HPDF_Page_Fill(page);
		}

		HPDF_Page_SetRGBFill(page, 0.1f, 0.1f, 0.1f);
		/* values above the bars, when there is room for them */
		if (slot >= tm_pdf_text_width(c, c->regular, VALUE_SIZE, "000"))
		{
			snprintf(buf, sizeof(buf), "%.0f", bars[i].value);
			tm_pdf_text(c, c->regular, VALUE_SIZE,
						cx - tm_pdf_text_width(c, c->regular, VALUE_SIZE, buf) / 2,
						bottom + bh + 2.5f, buf, false);
		}
		if (i % label_every == 0 && bars[i].label != NULL)
			tm_pdf_text(c, c->regular, BAR_LABEL_SIZE,
						cx - tm_pdf_text_width(c, c->regular, BAR_LABEL_SIZE, bars[i].label) / 2,
						y + 5, bars[i].label, false);
	}
}
