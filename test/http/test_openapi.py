"""The OpenAPI document: served, valid (Redocly CLI from npm), and in step
with what the API accepts, so the two cannot drift: the routes and their
flags (shim/routes.c), the query parameters (the SQL's filter_keys() for
routes that pass the query string to the database as a filter, the shim's
own for the others), headers, and the body fields a route's SQL picks."""
import json
import os
import re
import subprocess

import requests

from conftest import API, URL, psql

ROOT = os.environ.get("TM_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
SPEC = os.path.join(ROOT, "shim", "openapi.json")
# served by the shim but not part of the API
NOT_DOCUMENTED = {("GET", "/docs/redoc.standalone.js"), ("GET", "/app.js"), ("GET", "/app.css"),
                  ("GET", "/favicon.svg"), ("GET", "/favicon.ico")}


def route_table():
    """(method, path) of the route table, path parameters ({id}, {name}, {rest}) as {id};
    CalDAV's own methods ("*") are not OpenAPI operations."""
    src = open(os.path.join(ROOT, "shim", "routes.c")).read()
    return {(m, re.sub(r"\{[a-z_]+\}", "{id}", p))
            for m, p in re.findall(r'\{"(GET|POST|PATCH|DELETE|PUT)", "(/[^"]*)"', src)}


def route_entries():
    """Every SQL route of shim/routes.c: {(method, path): (flags, query kind, sql)}."""
    src = open(os.path.join(ROOT, "shim", "routes.c")).read()
    src = src.replace('AUTH "', '"')
    out = {}
    for m, path, flags, kind, ops, body in re.findall(
            r'\{"(GET|POST|PATCH|DELETE|PUT)", "(/[^"]*)", ([^,]*), (Q_\w+), (OPS_\w+),\s*(.*?),\s*(?:NULL|"[^"]*")\},',
            src, re.S):
        if ops == "OPS_NONE":
            sql = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', body))
            out[(m, re.sub(r"\{[a-z_]+\}", "{id}", path))] = (set(f.strip() for f in flags.split("|")), kind, sql)
    return out


def shim_query_params(kind):
    """The parameter names the shim itself takes for a query kind, as routes.h lists them."""
    src = open(os.path.join(ROOT, "shim", "routes.h")).read()
    comment = re.search(kind + r",?\s*/\*(.*?)\*/", src, re.S).group(1)
    return re.findall(r"(\w+) \(", comment)


def accepted_query(flags, kind, sql):
    """What the API accepts in the query string of a route, from the single sources."""
    if kind == "Q_NONE":
        return set()
    if kind == "Q_USERS":
        return set(shim_query_params(kind))
    fn = re.search(r"taskmgmt\.(?!authenticate)(\w+)\(", sql).group(1)
    keys = psql(f"SELECT array_to_string(taskmgmt.filter_keys('{fn}'), ',')")
    assert keys, f"taskmgmt.filter_keys('{fn}') must list what {fn}'s filter accepts"
    # Q_SEARCH: the shim takes q (the first argument), the rest is the filter
    return set(keys.split(",")) | (set(shim_query_params(kind)) if kind == "Q_SEARCH" else set())


def resolve(doc, x):
    while "$ref" in x:
        node = doc
        for part in x["$ref"].split("/")[1:]:
            node = node[part]
        x = node
    return x


def doc_params(doc, op, where):
    return {p["name"] for p in (resolve(doc, x) for x in op.get("parameters", [])) if p["in"] == where}


def doc_operation(doc, method, path):
    for p, ops in doc["paths"].items():
        if re.sub(r"\{[a-z_]+\}", "{id}", p) == path and method.lower() in ops:
            return p, ops[method.lower()]
    raise AssertionError(f"{method} {path} is not documented")


def body_fields(doc, op):
    """Property names of the request body over all its media types and oneOf arms."""
    names = set()
    for media in op["requestBody"]["content"].values():
        schema = resolve(doc, media["schema"])
        for arm in schema.get("oneOf", [schema]):
            names |= set(resolve(doc, arm).get("properties", {}))
    return names


def spec_routes(doc):
    out = set()
    for path, ops in doc["paths"].items():
        for method in ops:
            out.add((method.upper(), re.sub(r"\{[a-z_]+\}", "{id}", path)))
    return out


def test_served_document_is_the_repository_file():
    r = requests.get(URL + "/openapi.json")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    assert r.json() == json.load(open(SPEC))
    assert r.json()["openapi"].startswith("3.1")


def test_document_matches_the_route_table():
    doc = json.load(open(SPEC))
    table = route_table() - NOT_DOCUMENTED
    assert len(table) >= 35
    assert spec_routes(doc) == table


def test_every_parameter_the_api_accepts_is_documented_and_nothing_else():
    """Query parameters, headers, bodies and body fields, both directions."""
    doc = json.load(open(SPEC))
    entries = route_entries()
    assert len(entries) >= 30
    problems = []
    for (method, path), (flags, kind, sql) in sorted(entries.items()):
        # CalDAV takes its own headers and any body, read by taskmgmt.dav()
        if path == "" or "RF_DAV" in flags:
            continue
        _, op = doc_operation(doc, method, path)
        want, have = accepted_query(flags, kind, sql), doc_params(doc, op, "query")
        if want != have:
            problems.append(f"{method} {path}: query accepted but undocumented {sorted(want - have)}, "
                            f"documented but refused {sorted(have - want)}")
        want_headers = ({"If-Match"} if "RF_IF_MATCH" in flags else set()) | \
            ({"Idempotency-Key"} if "RF_IDEMPOTENT" in flags else set())
        if want_headers != doc_params(doc, op, "header"):
            problems.append(f"{method} {path}: header parameters")
        media = set(op.get("requestBody", {}).get("content", {}))
        want_media = ({"application/json", "application/x-www-form-urlencoded"} if "RF_BODY_FORM" in flags
                      else {"application/json"} if "RF_BODY" in flags else set())
        if media != want_media or (media and not op["requestBody"].get("required")):
            problems.append(f"{method} {path}: request body {sorted(media)}, the route takes {sorted(want_media)}")
        # the body fields: those the route's own SQL picks, or, for a body
        # handed whole to an API function, the keys that function allows
        if media:
            if re.search(r"\$\d::jsonb[),]", sql):
                fn = re.search(r"taskmgmt\.(?!authenticate)(\w+)\(", sql).group(1)
                src = psql(f"SELECT prosrc FROM pg_proc WHERE oid = 'taskmgmt.{fn}'::regproc")
                picked = set(re.search(r"_check_keys\(\w+,\s*'\{([^}]*)\}'", src).group(1).split(","))
            else:
                picked = set(re.findall(r"->>?'(\w+)'", sql)) - {"id", "version", "exp"}
            if picked != body_fields(doc, op):
                problems.append(f"{method} {path}: body fields taken {sorted(picked)}, "
                                f"documented {sorted(body_fields(doc, op))}")
    assert problems == []


def test_documented_query_parameters_are_accepted_and_others_refused(alice):
    """The same comparison against the running API: a documented parameter is
    never refused as unknown, an undocumented one always is."""
    doc = json.load(open(SPEC))
    task = requests.post(API + "/tasks", json={"title": "openapi probe"}, headers=alice.h).json()
    for (method, path), (flags, kind, sql) in sorted(route_entries().items()):
        if method != "GET" or kind == "Q_NONE" or path == "":
            continue
        _, op = doc_operation(doc, method, path)
        url = URL + path.replace("{id}", str(task["id"]))
        base = {"q": "probe"} if kind in ("Q_SEARCH", "Q_USERS") else {}
        for name in doc_params(doc, op, "query") | {"not_a_parameter"}:
            r = requests.get(url, params={**base, name: "1" if name == "limit" else ""}, headers=alice.h)
            unknown = r.status_code == 400 and "is not a known parameter" in r.text
            assert unknown == (name == "not_a_parameter"), (path, name, r.status_code, r.text[:300])


def test_document_version_is_the_extensions():
    control = open(os.path.join(ROOT, "taskmgmt.control")).read()
    assert json.load(open(SPEC))["info"]["version"] == re.search(r"default_version = '([^']+)'", control).group(1)


def test_every_api_operation_documents_errors_and_security():
    doc = json.load(open(SPEC))
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    entries = route_entries()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            key = (method.upper(), re.sub(r"\{[a-z_]+\}", "{id}", path))
            if key not in entries:      # served by the shim itself (web UI, websocket, operations)
                continue
            flags = entries[key][0]
            public = "RF_AUTH" not in flags and "RF_DAV" not in flags
            # CalDAV: HTTP Basic with an email and a personal access token
            assert op["security"] == ([] if public else [{"basicAuth": []}] if "RF_DAV" in flags
                                      else [{"bearerAuth": []}]), (method, path)
            assert "503" in op["responses"], (method, path)
            if not public:
                assert "401" in op["responses"], (method, path)
            # a read-scope personal access token is refused on every write
            if "RF_AUTH" in flags and method in ("post", "patch", "put", "delete") \
                    and not path.startswith("/api/v1/auth/"):
                assert "403" in op["responses"], (method, path)
            for p in re.findall(r"\{([a-z_]+)\}", path):
                assert any(x.get("name") == p and x["in"] == "path" for x in op.get("parameters", [])), (method, path, p)


def test_document_validates_with_redocly():
    cli = os.path.join(ROOT, ".run", "npm-tools", "node_modules", ".bin", "redocly")
    assert os.path.exists(cli), "the suite installs @redocly/cli from npm into .run/npm-tools"
    p = subprocess.run([cli, "lint", SPEC], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Your API description is valid" in p.stdout + p.stderr
