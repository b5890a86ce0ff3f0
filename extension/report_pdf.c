/*
 * report_pdf.c
 *	  taskmgmt.report_summary_pdf(filter): the summary report as a PDF,
 *	  laid out from one call to taskmgmt.report_summary(), and its setting
 *	  taskmgmt.report_font.
 *
 * Only the layout lives here: what goes where on the page and how the
 * report's JSON reads.  Drawing with libharu from inside a backend (memory,
 * errors, fonts, text) is pdf_canvas.c, the bar chart report_chart.c.
 */
#include "taskmgmt.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "pdf_canvas.h"
#include "report_chart.h"

PG_FUNCTION_INFO_V1(tm_report_summary_pdf);

/* taskmgmt.report_font: a TrueType font to use instead of DejaVu Sans. */
static char *tm_report_font = NULL;

#define PAGE_WIDTH	595.276f	/* A4 in points */
#define PAGE_HEIGHT 841.89f
#define MARGIN		48.0f

/* ---- the report's JSON ---- */

/* The value under key, or NULL when it is missing or JSON null. */
static bool
json_get(JsonbContainer *jc, const char *key, JsonbValue *out)
{
	if (jc == NULL || !getKeyJsonValueFromContainer(jc, key, strlen(key), out))
		return false;
	return out->type != jbvNull;
}

static JsonbContainer *
json_container(JsonbContainer *jc, const char *key)
{
	JsonbValue	v;

	if (!json_get(jc, key, &v) || v.type != jbvBinary)
		return NULL;
	return v.val.binary.data;
}

/* A scalar as UTF-8 text (numbers as written), or NULL. */
static char *
json_scalar_text(const JsonbValue *v)
{
	char	   *s;

	switch (v->type)
	{
		case jbvString:
			s = pnstrdup(v->val.string.val, v->val.string.len);
			return (char *) pg_server_to_any(s, strlen(s), PG_UTF8);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		default:
			return NULL;
	}
}

static char *
json_text(JsonbContainer *jc, const char *key, const char *if_null)
{
	JsonbValue	v;
	char	   *s = NULL;

	if (json_get(jc, key, &v))
		s = json_scalar_text(&v);
	return s != NULL ? s : pstrdup(if_null);
}

static bool
json_number(JsonbContainer *jc, const char *key, double *out)
{
	JsonbValue	v;

	if (!json_get(jc, key, &v) || v.type != jbvNumeric)
		return false;
	*out = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
											  NumericGetDatum(v.val.numeric)));
	return true;
}

/* "12.5 h", or an en dash when there is no figure. */
static char *
format_hours(JsonbContainer *jc, const char *key)
{
	double		h;

	if (!json_number(jc, key, &h))
		return pstrdup("\xE2\x80\x93");
	return psprintf("%.1f h", h);
}

/* "6.5 d / 10 d", or an en dash when nothing is overdue. */
static char *
format_overdue_age(JsonbContainer *overdue)
{
	double		mean;
	double		max;

	if (!json_number(overdue, "mean_age_days", &mean) ||
		!json_number(overdue, "max_age_days", &max))
		return pstrdup("\xE2\x80\x93");
	return psprintf("%.1f d / %.0f d", mean, max);
}

/* ---- the layout (A4, points from the bottom left) ---- */

/* "Page i of n" on every page, once the number of pages is known. */
static void
draw_footers(TmPdfCanvas *c)
{
	int			n = list_length(c->pages);
	ListCell   *lc;

	foreach(lc, c->pages)
	{
		char	   *text = psprintf("Page %d of %d", foreach_current_index(lc) + 1, n);

		c->page = (HPDF_Page) lfirst(lc);
		HPDF_Page_SetRGBFill(c->page, 0.45f, 0.45f, 0.45f);
		tm_pdf_text(c, c->regular, 8, PAGE_WIDTH - MARGIN, MARGIN / 2, text, true);
		tm_pdf_text(c, c->regular, 8, MARGIN, MARGIN / 2, "taskmgmt", false);
	}
}

static void
draw_rule(TmPdfCanvas *c, float y)
{
	HPDF_Page_SetLineWidth(c->page, 0.6f);
	HPDF_Page_SetRGBStroke(c->page, 0.75f, 0.75f, 0.75f);
	HPDF_Page_MoveTo(c->page, MARGIN, y);
	HPDF_Page_LineTo(c->page, PAGE_WIDTH - MARGIN, y);
	HPDF_Page_Stroke(c->page);
}

static float
draw_heading(TmPdfCanvas *c, float y, const char *text)
{
	HPDF_Page_SetRGBFill(c->page, 0.1f, 0.1f, 0.1f);
	tm_pdf_text(c, c->bold, 13, MARGIN, y, text, false);
	return y - 20;
}

/* Title, period and the time the report was made. */
static float
draw_title(TmPdfCanvas *c, JsonbContainer *report, float y)
{
	JsonbContainer *team = json_container(report, "team");
	char	   *title;
	char	   *line;

	if (team != NULL)
		title = psprintf("Task report: %s", json_text(team, "name", "?"));
	else
		title = pstrdup("Task report: all visible tasks");
	HPDF_Page_SetRGBFill(c->page, 0.05f, 0.05f, 0.05f);
	tm_pdf_text(c, c->bold, 20, MARGIN,  y,
				tm_pdf_fit_text(c, c->bold, 20, title, PAGE_WIDTH - 2 * MARGIN), false);
	y -= 20;

	line = psprintf("Period %s to %s (%s), as of %s",
					json_text(report, "from", "?"), json_text(report, "to", "?"),
					json_text(report, "timezone", "UTC"), json_text(report, "as_of", "?"));
	HPDF_Page_SetRGBFill(c->page, 0.35f, 0.35f, 0.35f);
	tm_pdf_text(c, c->regular, 10, MARGIN, y, line, false);
	y -= 10;
	draw_rule(c, y);
	return y - 24;
}

/* Label/value rows in two columns. */
static float
draw_figures(TmPdfCanvas *c, JsonbContainer *report, float y)
{
	JsonbContainer *status = json_container(report, "counts_by_status");
	JsonbContainer *overdue = json_container(report, "overdue");
	JsonbContainer *lead = json_container(report, "lead_time_hours");
	JsonbContainer *cycle = json_container(report, "cycle_time_hours");
	double		rate;
	const char *left[][2] = {
		{"Tasks now", json_text(report, "total", "0")},
		{"To do", json_text(status, "todo", "0")},
		{"In progress", json_text(status, "in_progress", "0")},
		{"Done", json_text(status, "done", "0")},
		{"Canceled", json_text(status, "canceled", "0")},
		{"Overdue (open, past due)", json_text(overdue, "count", "0")},
	};
	const char *right[][2] = {
		{"Created in period", json_text(report, "created_in_period", "0")},
		{"Completed in period", json_text(report, "completed_in_period", "0")},
		{"Completion rate", json_number(report, "completion_rate", &rate) ?
			psprintf("%.0f %%", rate * 100) : "\xE2\x80\x93"},
		{"Overdue age mean / max", format_overdue_age(overdue)},
		{"Lead time p50 / p85",
			psprintf("%s / %s", format_hours(lead, "p50"), format_hours(lead, "p85"))},
		{"Cycle time p50 / p85",
			psprintf("%s / %s", format_hours(cycle, "p50"), format_hours(cycle, "p85"))},
	};
	float		col = (PAGE_WIDTH - 2 * MARGIN) / 2;

	y = draw_heading(c, y, "Summary");
	for (int i = 0; i < lengthof(left); i++)
	{
		float		ry = y - i * 16;

		HPDF_Page_SetRGBFill(c->page, 0.3f, 0.3f, 0.3f);
		tm_pdf_text(c, c->regular, 10, MARGIN, ry, left[i][0], false);
		tm_pdf_text(c, c->regular, 10, MARGIN + col + 8, ry, right[i][0], false);
		HPDF_Page_SetRGBFill(c->page, 0.05f, 0.05f, 0.05f);
		tm_pdf_text(c, c->bold, 10, MARGIN + col - 24, ry, left[i][1], true);
		tm_pdf_text(c, c->bold, 10, PAGE_WIDTH - MARGIN, ry, right[i][1], true);
	}
	return y - lengthof(left) * 16 - 18;
}

/* The weekly throughput as a bar chart, labelled by the week's Monday. */
static float
draw_throughput(TmPdfCanvas *c, JsonbContainer *report, float y)
{
	JsonbContainer *weeks = json_container(report, "weekly_throughput");
	int			n = weeks != NULL ? JsonContainerSize(weeks) : 0;
	TmChartBar *bars = palloc0(sizeof(TmChartBar) * Max(n, 1));
	float		height = 170;

	y = draw_heading(c, y, "Weekly throughput (tasks completed, weeks starting Monday)");
	for (int i = 0; i < n; i++)
	{
		JsonbValue *w = getIthJsonbValueFromContainer(weeks, i);
		char	   *start;

		if (w == NULL || w->type != jbvBinary)
			continue;
		start = json_text(w->val.binary.data, "week_start", "");
		/* "YYYY-MM-DD" -> "MM-DD" keeps the labels short */
		bars[i].label = strlen(start) == 10 ? start + 5 : start;
		if (!json_number(w->val.binary.data, "completed", &bars[i].value))
			bars[i].value = 0;
	}
	tm_chart_bars(c, MARGIN, y - height, PAGE_WIDTH - 2 * MARGIN, height, bars, n);
	return y - height - 28;
}

static void
draw_table_header(TmPdfCanvas *c, float y, const float *cols)
{
	HPDF_Page_SetRGBFill(c->page, 0.90f, 0.92f, 0.95f);
	HPDF_Page_Rectangle(c->page, MARGIN, y - 5, PAGE_WIDTH - 2 * MARGIN, 18);
	HPDF_Page_Fill(c->page);
	HPDF_Page_SetRGBFill(c->page, 0.1f, 0.1f, 0.1f);
	tm_pdf_text(c, c->bold, 10, cols[0], y, "Assignee", false);
	tm_pdf_text(c, c->bold, 10, cols[1], y, "Kind", false);
	tm_pdf_text(c, c->bold, 10, cols[2], y, "Completed in period", true);
	tm_pdf_text(c, c->bold, 10, cols[3], y, "Open now", true);
}

/* Per-assignee throughput and open load; continues on new pages. */
static void
draw_assignees(TmPdfCanvas *c, JsonbContainer *report, float y, TmPdfErrors *err)
{
	JsonbContainer *rows = json_container(report, "assignees");
	int			n = rows != NULL ? JsonContainerSize(rows) : 0;
	const float cols[] = {MARGIN + 6, MARGIN + 250, MARGIN + 410, PAGE_WIDTH - MARGIN - 6};
	const float row_h = 17;

	if (y < MARGIN + 80)
	{
		tm_pdf_new_page(c, PAGE_WIDTH, PAGE_HEIGHT);
		y = PAGE_HEIGHT - MARGIN;
	}
	y = draw_heading(c, y, "By assignee");
	draw_table_header(c, y, cols);
	y -= row_h + 2;
	if (n == 0)
	{
		HPDF_Page_SetRGBFill(c->page, 0.4f, 0.4f, 0.4f);
		tm_pdf_text(c, c->regular, 10, cols[0], y, "No tasks.", false);
		return;
	}
	for (int i = 0; i < n; i++)
	{
		JsonbValue *r = getIthJsonbValueFromContainer(rows, i);
		JsonbContainer *row;
		char	   *kind;
		char	   *name;

		if (r == NULL || r->type != jbvBinary)
			continue;
		row = r->val.binary.data;
		if (y < MARGIN + 10)
		{
			tm_pdf_check(err);
			tm_pdf_new_page(c, PAGE_WIDTH, PAGE_HEIGHT);
			y = PAGE_HEIGHT - MARGIN;
			draw_table_header(c, y, cols);
			y -= row_h + 2;
		}
		kind = json_text(row, "type", "");
		name = kind[0] == '\0' ? pstrdup("Unassigned") : json_text(row, "name", "?");
		if (i % 2 == 1)
		{
			HPDF_Page_SetRGBFill(c->page, 0.97f, 0.97f, 0.97f);
			HPDF_Page_Rectangle(c->page, MARGIN, y - 5, PAGE_WIDTH - 2 * MARGIN, row_h);
			HPDF_Page_Fill(c->page);
		}
		HPDF_Page_SetRGBFill(c->page, 0.05f, 0.05f, 0.05f);
		tm_pdf_text(c, c->regular, 10, cols[0], y,
					tm_pdf_fit_text(c, c->regular, 10, name, cols[1] - cols[0] - 10), false);
		tm_pdf_text(c, c->regular, 10, cols[1], y, kind[0] ? kind : "\xE2\x80\x93", false);
		tm_pdf_text(c, c->regular, 10, cols[2], y, json_text(row, "completed", "0"), true);
		tm_pdf_text(c, c->regular, 10, cols[3], y, json_text(row, "open", "0"), true);
		y -= row_h;
	}
}

/* ---- the SQL function ---- */

/* The report for the filter, from one SPI call, copied out of SPI memory. */
static Jsonb *
fetch_report(Datum filter, bool filter_isnull)
{
	Oid			argtypes[1] = {JSONBOID};
	Datum		values[1] = {filter};
	char		nulls[1] = {filter_isnull ? 'n' : ' '};
	bool		isnull;
	Datum		d;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT taskmgmt.report_summary($1)", 1, argtypes,
							  values, nulls, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "report_summary() did not return one row");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		elog(ERROR, "report_summary() returned NULL");
	/* into the caller's context: SPI_finish frees SPI's */
	d = SPI_datumTransfer(d, false, -1);
	SPI_finish();
	return DatumGetJsonbP(d);
}

static bytea *
render(HPDF_Doc doc, TmPdfErrors *err, Jsonb *report)
{
	TmPdfCanvas canvas = {.doc = doc};
	float		y;

	HPDF_SetCompressionMode(doc, HPDF_COMP_ALL);
	HPDF_SetInfoAttr(doc, HPDF_INFO_CREATOR, "taskmgmt");
	HPDF_SetInfoAttr(doc, HPDF_INFO_TITLE, "Task report");
	tm_pdf_load_fonts(&canvas, err, tm_report_font);

	tm_pdf_new_page(&canvas, PAGE_WIDTH, PAGE_HEIGHT);
	y = draw_title(&canvas, &report->root, PAGE_HEIGHT - MARGIN);
	y = draw_figures(&canvas, &report->root, y);
	tm_pdf_check(err);
	y = draw_throughput(&canvas, &report->root, y);
	tm_pdf_check(err);
	draw_assignees(&canvas, &report->root, y, err);
	draw_footers(&canvas);
	tm_pdf_check(err);

	return tm_pdf_save(doc, err);
}

/* taskmgmt.report_summary_pdf(filter jsonb) RETURNS bytea */
Datum
tm_report_summary_pdf(PG_FUNCTION_ARGS)
{
	Jsonb	   *report;
	MemoryContext pdf_cxt;
	TmPdfErrors err = {0};
	HPDF_Doc volatile doc = NULL;
	bytea	   *volatile result = NULL;

	/* the data first: report_summary() checks sign-in and the filter */
	report = fetch_report(PG_GETARG_DATUM(0), PG_ARGISNULL(0));

	pdf_cxt = AllocSetContextCreate(CurrentMemoryContext, "PDF report",
									ALLOCSET_DEFAULT_SIZES);
	PG_TRY();
	{
		doc = tm_pdf_new(pdf_cxt, &err);
		result = render(doc, &err, report);
	}
	PG_FINALLY();
	{
		tm_pdf_free(doc);
		MemoryContextDelete(pdf_cxt);
	}
	PG_END_TRY();

	PG_RETURN_BYTEA_P(result);
}

/* Called from _PG_init: the GUC must exist before anyone may SET it. */
void
tm_report_pdf_init(void)
{
	DefineCustomStringVariable("taskmgmt.report_font",
							   "TrueType font file for PDF reports.",
							   "Empty: DejaVu Sans from the usual font directories.",
							   &tm_report_font, "",
							   PGC_SUSET, 0, NULL, NULL, NULL);
}
