#!/usr/bin/python3
"""Export and report checks through real consumers (run by test/suites/70-export.sh).

CSV: Python's csv module parses export_tasks_csv() and re-serialises it to
the identical bytes (RFC 4180: CRLF records, minimal quoting); titles with
commas, quotes, newlines, formulas and non-ASCII come back as written (with
formulas neutralised); the streamed lines and COPY of the tasks_export view
agree; comments ride along when asked for; another user's task never shows.
PDF: pdftotext finds the figures of report_summary() and the (non-ASCII)
names; pdftoppm renders page 1; a long assignee table continues on page 2.

Talks to PostgreSQL with psql (PGHOST/PGPORT/TEST_DB_NAME from the runner),
as a non-superuser login role, so row-level security applies.
Prints one line per check and ends with "export: N passed, M failed".
"""
import base64
import csv
import io
import json
import os
import re
import subprocess
import sys
import time

DB = os.environ.get("TEST_DB_NAME", "taskmgmt_test")
ROLE = "suite_export"
OUT = os.environ.get("EXPORT_OUT", "/tmp/export-suite")
RUN = str(int(time.time() * 1000))[-9:]  # unique emails on a reused database
PASSWORD = "export suite password"

passed = failed = 0


def check(ok, what, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok - {what}")
    else:
        failed += 1
        print(f"not ok - {what}" + (f"\n    {detail}" if detail else ""))


def psql(sql, user=None, as_role=ROLE):
    """Runs sql (signed in as user, if given) and returns stdout, unaligned."""
    script = "\\set ON_ERROR_STOP 1\nSET search_path = taskmgmt;\n"
    if user:
        script += f"SELECT FROM taskmgmt.sign_in('{user}', '{PASSWORD}');\n"
    script += sql
    args = ["psql", "-X", "-q", "-A", "-t", "-d", DB]
    if as_role:
        args += ["-U", as_role]
    # bytes, not text=True: universal newlines would turn CRLF into LF
    r = subprocess.run(args, input=script.encode(), capture_output=True)
    if r.returncode != 0:
        raise RuntimeError(f"psql failed: {r.stderr.decode().strip()}\n--- sql:\n{sql}")
    return r.stdout.decode()


def q(value):
    """SQL literal for a Python value (as JSON text when not a string)."""
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False)
    return "'" + value.replace("'", "''") + "'"


def fetch_b64(expr, user):
    out = psql(f"SELECT encode({expr}, 'base64');", user)
    return base64.b64decode("".join(out.split()))


def export_csv(user, filt=None):
    f = q(filt or {})
    return fetch_b64(f"convert_to(export_tasks_csv({f}::jsonb), 'UTF8')", user).decode("utf-8")


def email(name):
    return f"{name}.{RUN}@export.test"


def neutralised(cell):
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def main():
    os.makedirs(OUT, exist_ok=True)
    psql(f"""DO $$ BEGIN
               IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN CREATE ROLE {ROLE} LOGIN; END IF;
             END $$;
             GRANT taskmgmt_client TO {ROLE};""", as_role=None)

    # People: Zoë leads a team; Дмитрий is in it; Mallory is outside.
    people = {"zoe": "Zoë Łukasiewicz", "dima": "Дмитрий Иванов", "mallory": "Mallory Outsider"}
    ids = {}
    for key, name in people.items():
        ids[key] = int(psql(f"SELECT register({q(email(key))}, {q(PASSWORD)}, {q(name)}) ->> 'id';").strip())
    zoe, dima, mallory = email("zoe"), email("dima"), email("mallory")
    team = int(psql(f"SELECT create_team({q('Équipe ' + RUN)}) ->> 'id';", zoe).strip())
    psql(f"SELECT add_team_member({team}, {ids['dima']});", zoe)

    titles = [
        "plain title",
        "comma, separated, values",
        'says "hello" twice ""',
        "first line\nsecond line",
        "windows\r\nline break",
        "=SUM(A1:A9)",
        "+1 555 0100",
        "-2 degrees",
        "@mention formula",
        "=HYPERLINK(\"http://evil.example\",\"click\")",
        "Überraschung für Zoë — naïve café",
        "Задача: проверить экспорт",
        "日本語のタスク 🚀",
        "mixed, \"all\"\nof =them",
    ]
    created = {}
    for i, title in enumerate(titles):
        body = {"title": title, "team_id": team, "tags": ["csv", f"t{i}"],
                "status": ["todo", "in_progress", "done"][i % 3]}
        if i % 2 == 0:
            body["assignee"] = {"type": "user", "id": ids["dima"]}
        task = json.loads(psql(f"SELECT create_task({q(body)}::jsonb);", zoe))
        created[task["id"]] = task
    secret = json.loads(psql(f"SELECT create_task({q({'title': 'mallory secret, do not export'})}::jsonb);", mallory))
    first = min(created)
    comment = 'A comment, with "quotes"\nand a line — ünïcödé'
    psql(f"SELECT add_comment({first}, {q(comment)});", dima)

    # ---- CSV through Python's csv module ----
    text = export_csv(zoe, {"team": str(team)})
    rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    header = rows[0]
    check(header == ["id", "title", "status", "priority", "due_date", "assignee_type", "assignee_name",
                     "team", "tags", "creator", "created_at", "updated_at", "completed_at"], "header row", header)
    data = {int(r[0]): dict(zip(header, r)) for r in rows[1:]}
    check(set(data) == set(created), "every task of the team, once", f"{sorted(data)} vs {sorted(created)}")
    check(all(len(r) == len(header) for r in rows), "every record has every column")
    bad = [(t["title"], data.get(i, {}).get("title")) for i, t in created.items()
           if data.get(i, {}).get("title") != neutralised(t["title"])]
    check(not bad, "titles round-trip (commas, quotes, newlines, non-ASCII; formulas neutralised)", bad)
    check(data[first]["assignee_name"] == people["dima"] and data[first]["assignee_type"] == "user",
          "assignee name and kind", data[first])
    check(all(r["team"] == "Équipe " + RUN and r["creator"] == people["zoe"] for r in data.values()),
          "team and creator names in UTF-8")
    check(all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["created_at"]) for r in data.values()),
          "timestamps are RFC 3339 (UTC)")
    check(all(r["tags"] == f"csv, t{i}" for i, r in enumerate(sorted(data.values(), key=lambda r: int(r["id"])))),
          "tags in one cell")
    formula_cells = [r["title"] for r in data.values() if r["title"][:1] in "=+-@"]
    check(not formula_cells, "no cell starts with a formula character", formula_cells)

    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    check(buf.getvalue() == text, "re-serialising with csv.writer gives the same bytes (CRLF, minimal quoting)")
    check(text.endswith("\r\n") and text.count("\r\n") >= len(rows), "records end in CRLF")

    # the secret stays secret, whatever the filter
    everything = export_csv(zoe)
    check("mallory secret" not in everything and str(secret["id"]) not in
          [r[0] for r in csv.reader(io.StringIO(everything, newline=""))], "another user's task never appears")
    mallory_csv = export_csv(mallory)
    check(len(list(csv.reader(io.StringIO(mallory_csv, newline="")))) == 2 and "mallory secret" in mallory_csv,
          "its owner exports exactly it")

    # streamed lines = the whole text; COPY of the view = the same cells
    # (rows as the shim reads them, one per line of psql output, in order)
    out = psql("SELECT translate(encode(convert_to(l, 'UTF8'), 'base64'), E'\\n', '') "
               f"FROM export_tasks_csv_lines({q({'team': str(team)})}::jsonb) AS l;", zoe)
    streamed = [base64.b64decode(x).decode() for x in out.split("\n") if x]
    lines = "".join(streamed)
    check(len(streamed) == len(created) + 1 and all(x.endswith("\r\n") for x in streamed),
          "one streamed row per task plus the header, each ending in CRLF")
    check(lines == text, "export_tasks_csv_lines joined = export_tasks_csv")
    copied = psql("COPY (SELECT * FROM taskmgmt.tasks_export) TO STDOUT WITH CSV HEADER;", zoe)
    copy_rows = list(csv.reader(io.StringIO(copied, newline=""), strict=True))
    check(copy_rows[0] == header and {int(r[0]): r for r in copy_rows[1:] if int(r[0]) in created}
          == {int(r[0]): r for r in rows[1:]}, "COPY ... FROM tasks_export gives the same cells",
          [(r, c) for r, c in zip(sorted(rows[1:]), sorted(x for x in copy_rows[1:] if int(x[0]) in created)) if r != c][:2])
    copied_m = psql("COPY (SELECT * FROM taskmgmt.tasks_export) TO STDOUT WITH CSV HEADER;", mallory)
    check(len(list(csv.reader(io.StringIO(copied_m, newline="")))) == 2, "the view obeys row-level security")

    # comments
    with_c = export_csv(zoe, {"team": str(team), "include_comments": "true"})
    crow = list(csv.reader(io.StringIO(with_c, newline="")))
    cdata = {int(r[0]): r[-1] for r in crow[1:]}
    expected_comment = (re.escape(people["dima"]) + r" \(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\): "
                        + re.escape(comment))
    check(crow[0][-1] == "comments" and re.fullmatch(expected_comment, cdata[first]) is not None,
          "comments column round-trips", cdata.get(first))
    check(all(v == "" for k, v in cdata.items() if k != first), "tasks without comments have an empty cell")

    # ---- PDF ----
    report = json.loads(psql(f"SELECT report_summary({q({'team': str(team)})}::jsonb);", zoe))
    pdf = fetch_b64(f"report_summary_pdf({q({'team': str(team)})}::jsonb)", zoe)
    path = os.path.join(OUT, "report.pdf")
    with open(path, "wb") as f:
        f.write(pdf)
    check(pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF"), "a complete PDF file")
    r = subprocess.run(["pdftotext", "-layout", path, "-"], capture_output=True, text=True)
    txt = r.stdout
    check(r.returncode == 0, "pdftotext reads it", r.stderr)
    with open(os.path.join(OUT, "report.txt"), "w") as f:
        f.write(txt)
    check("Task report: Équipe " + RUN in txt, "title with the (non-ASCII) team name")
    check(f"Period {report['from']} to {report['to']} (UTC)" in txt, "the period")
    for label, value in [("Tasks now", report["total"]), ("Created in period", report["created_in_period"]),
                         ("Completed in period", report["completed_in_period"]),
                         ("In progress", report["counts_by_status"]["in_progress"]),
                         ("Done", report["counts_by_status"]["done"]),
                         ("Overdue (open, past due)", report["overdue"]["count"])]:
        m = re.search(re.escape(label) + r"\s+(\d+)", txt)
        check(m is not None and int(m.group(1)) == value, f"figure '{label}' = {value}", m and m.group(0))
    rate = round(report["completion_rate"] * 100)
    check(re.search(rf"Completion rate\s+{rate} %", txt) is not None, f"completion rate {rate} %")
    check(people["dima"] in txt, "assignee names render as text, non-ASCII included")
    dima_row = re.search(re.escape(people["dima"]) + r"\s+user\s+(\d+)\s+(\d+)", txt)
    a = next(x for x in report["assignees"] if x["id"] == ids["dima"])
    check(dima_row is not None and (int(dima_row.group(1)), int(dima_row.group(2))) == (a["completed"], a["open"]),
          "per-assignee row: completed and open", dima_row and dima_row.group(0))
    weeks = [w["week_start"][5:] for w in report["weekly_throughput"]]
    check(all(w in txt for w in weeks), "every week of the chart is labelled", weeks)
    check("Mallory" not in txt, "nobody invisible appears in the PDF")

    png_base = os.path.join(OUT, "report-page1")
    r = subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", path, png_base],
                       capture_output=True, text=True)
    pngs = [p for p in os.listdir(OUT) if p.startswith("report-page1") and p.endswith(".png")]
    check(r.returncode == 0 and pngs and os.path.getsize(os.path.join(OUT, pngs[0])) > 5000,
          "pdftoppm renders page 1", r.stderr)

    # A long table continues on a second page with its header again.
    many = [email(f"m{i}") for i in range(45)]
    for i, e in enumerate(many):
        uid = int(psql(f"SELECT register({q(e)}, {q(PASSWORD)}, {q(f'Member {i:02d} Ñandú')}) ->> 'id';").strip())
        psql(f"SELECT add_team_member({team}, {uid}); "
             f"SELECT create_task({q({'title': f'work {i}', 'team_id': team, 'assignee': {'type': 'user', 'id': uid}})}::jsonb);",
             zoe)
    pdf = fetch_b64(f"report_summary_pdf({q({'team': str(team)})}::jsonb)", zoe)
    path2 = os.path.join(OUT, "report-long.pdf")
    with open(path2, "wb") as f:
        f.write(pdf)
    info = subprocess.run(["pdfinfo", path2], capture_output=True, text=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    txt2 = subprocess.run(["pdftotext", "-layout", path2, "-"], capture_output=True, text=True).stdout
    check(pages >= 2 and txt2.split("\f")[1].count("Assignee") == 1, "long assignee table: page 2 with its header",
          f"pages={pages}")
    check(all(f"Member {i:02d} Ñandú" in txt2 for i in range(45)), "all 45 assignees listed")
    check(all(f"Page {i} of {pages}" in txt2 for i in range(1, pages + 1)), "every page is numbered")

    print(f"export: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # a crash is a failure, reported in the suite's format
        print(f"not ok - suite crashed: {e}")
        print(f"export: {passed} passed, {failed + 1} failed")
        sys.exit(1)
