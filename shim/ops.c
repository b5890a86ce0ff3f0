/*
 * ops.c: routes the shim answers itself: /healthz, /metrics,
 * /openapi.json and the /docs page (Redoc, installed from npm into
 * docs-dist/ at build time and served from here, no CDN), and the four
 * files of the web UI (web/dist, built by Vite with these fixed names).
 */
#include "shim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct file_cache
{
	char	   *data;
	size_t		len;
	int			loaded;
} file_cache;

static file_cache openapi,
			redoc,
			web_index,
			web_js,
			web_css,
			web_icon;

static int
load(file_cache *f, const char *path)
{
	FILE	   *fp;
	long		n;

	if (f->loaded)
		return f->data != NULL;
	f->loaded = 1;
	fp = fopen(path, "rb");
	if (fp == NULL)
		return 0;
	if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) > 0 && fseek(fp, 0, SEEK_SET) == 0)
	{
		f->data = malloc((size_t) n);
		if (f->data && fread(f->data, 1, (size_t) n, fp) == (size_t) n)
			f->len = (size_t) n;
		else
		{
			free(f->data);
			f->data = NULL;
		}
	}
	fclose(fp);
	return f->data != NULL;
}

static const char docs_page[] =
	"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>taskmgmt API</title>\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	"<link rel=\"icon\" href=\"/favicon.svg\" type=\"image/svg+xml\"></head>\n"
	"<body><redoc spec-url=\"/openapi.json\"></redoc>\n"
	"<script src=\"/docs/redoc.standalone.js\"></script></body></html>\n";

static void
send_typed(h2o_req_t *req, const char *type, const char *body, size_t len)
{
	h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, type, strlen(type), 1);
	send_json(req, 200, body, len);
}

/*
 * The UI talks only to this origin: the policy keeps injected markup from
 * loading or sending anything elsewhere.
 */
static int
send_web_file(h2o_req_t *req, file_cache *f, const char *name, const char *type)
{
	static const char csp[] = "default-src 'self'; connect-src 'self'; "
		"frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
	char		path[4200];

	snprintf(path, sizeof(path), "%s/%s", cfg.web_dir, name);
	if (!load(f, path))
	{
		send_problem(req, 404, "not_found", "the web UI is not installed", NULL, 0);
		return 0;
	}
	h2o_set_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("content-security-policy"), 0,
						  csp, sizeof(csp) - 1, 1);
	send_typed(req, type, f->data, f->len);
	return 0;
}

int
ops_handle(h2o_req_t *req, const route *r)
{
	char		path[4200];
	strbuf		b;

	switch (r->ops)
	{
		case OPS_HEALTHZ:
			send_json(req, 200, H2O_STRLIT("{\"status\":\"ok\"}"));
			return 0;
		case OPS_METRICS:
			sb_init(&b);
			metrics_render(&b);
			send_typed(req, "text/plain; version=0.0.4", b.data, b.len);
			sb_free(&b);
			return 0;
		case OPS_OPENAPI:
			if (!load(&openapi, cfg.openapi_path))
				break;
			send_typed(req, "application/json", openapi.data, openapi.len);
			return 0;
		case OPS_DOCS:
			send_typed(req, "text/html; charset=utf-8", docs_page, sizeof(docs_page) - 1);
			return 0;
		case OPS_DOCS_ASSET:
			snprintf(path, sizeof(path), "%s/redoc.standalone.js", cfg.docs_dir);
			if (!load(&redoc, path))
				break;
			send_typed(req, "text/javascript; charset=utf-8", redoc.data, redoc.len);
			return 0;
		case OPS_WEB_INDEX:
			return send_web_file(req, &web_index, "index.html", "text/html; charset=utf-8");
		case OPS_WEB_JS:
			return send_web_file(req, &web_js, "app.js", "text/javascript; charset=utf-8");
		case OPS_WEB_CSS:
			return send_web_file(req, &web_css, "app.css", "text/css; charset=utf-8");
		case OPS_WEB_ICON:
			return send_web_file(req, &web_icon, "favicon.svg", "image/svg+xml");
		default:
			break;
	}
	send_problem(req, 404, "not_found", "not installed", NULL, 0);
	return 0;
}
