"""The OpenAPI document: served, valid (Redocly CLI from npm), and in step
with the shim's route table (shim/routes.c) so the two cannot drift."""
import json
import os
import re
import subprocess

import requests

from conftest import URL

ROOT = os.environ.get("TM_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
SPEC = os.path.join(ROOT, "shim", "openapi.json")
# served by the shim but not part of the API
NOT_DOCUMENTED = {("GET", "/docs/redoc.standalone.js"), ("GET", "/app.js"), ("GET", "/app.css"), ("GET", "/favicon.svg")}


def route_table():
    """(method, path) of the route table, path parameters ({id}, {name}, {rest}) as {id};
    CalDAV's own methods ("*") are not OpenAPI operations."""
    src = open(os.path.join(ROOT, "shim", "routes.c")).read()
    return {(m, re.sub(r"\{[a-z_]+\}", "{id}", p))
            for m, p in re.findall(r'\{"(GET|POST|PATCH|DELETE|PUT)", "(/[^"]*)"', src)}


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


def test_every_api_operation_documents_errors_and_security():
    doc = json.load(open(SPEC))
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if not path.startswith("/api/v1/") or path.endswith("/ws"):
                continue
            # the calendar feed's URL holds its own credential
            public = (path.startswith("/api/v1/auth/") and not path.endswith("logout")) \
                or path == "/api/v1/calendar/{token}.ics"
            assert op["security"] == ([] if public else [{"bearerAuth": []}]), (method, path)
            assert "503" in op["responses"], (method, path)
            if not public:
                assert "401" in op["responses"], (method, path)
                # a read-scope personal access token is refused on writes
                if method in ("post", "patch", "put", "delete") and not path.startswith("/api/v1/auth/"):
                    assert "403" in op["responses"], (method, path)
            for p in re.findall(r"\{([a-z_]+)\}", path):
                assert any(x.get("name") == p and x["in"] == "path" for x in op.get("parameters", [])), (method, path, p)


def test_document_validates_with_redocly():
    cli = os.path.join(ROOT, ".run", "npm-tools", "node_modules", ".bin", "redocly")
    assert os.path.exists(cli), "the suite installs @redocly/cli from npm into .run/npm-tools"
    p = subprocess.run([cli, "lint", SPEC], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Your API description is valid" in p.stdout + p.stderr
