"""Report folders as the check scripts (and scripts/bench) compare them:
every file byte for byte, except report.json's "run" object (and the
page's copy of it), the only part that may differ between runs that must
agree; and the rows of their CSV files."""
import csv
import json
import os

from tally import failures, ok


def strip_run(text):
    """text without its "run" object (report.json, or its copy in the
    page)."""
    i = text.find('"run":')
    if i < 0:
        return text
    j = text.index("{", i)
    depth = 0
    for k in range(j, len(text)):
        depth += {"{": 1, "}": -1}.get(text[k], 0)
        if depth == 0:
            return text[:i] + text[k + 1:]
    return text


def outputs(d, page=False):
    """Every file of the report folder d, report.json without its run
    section; report.html likewise with page, else left out."""
    files = {}
    for root, _, names in os.walk(d):
        for n in names:
            p = os.path.join(root, n)
            rel = os.path.relpath(p, d)
            if rel == "report.html" and not page:
                continue
            data = open(p, "rb").read()
            if rel in ("report.json", "report.html"):
                data = strip_run(data.decode()).encode()
            files[rel] = data
    return files


def same(name, ref, out, against, page=False):
    """One check: out holds the files of ref ("differs from <against>")."""
    a, b = outputs(ref, page), outputs(out, page)
    if sorted(a) != sorted(b):
        failures.append("%s: other files: %s vs %s" % (name, sorted(a), sorted(b)))
        return False
    diff = sorted(f for f in a if a[f] != b[f])
    ok(name, not diff, "differs from %s: %s" % (against, diff))
    return not diff


def run_info(out):
    """report.json's run section."""
    return json.load(open(os.path.join(out, "report.json")))["run"]


def rows(path):
    """The rows of a CSV file with a header, as dicts."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
