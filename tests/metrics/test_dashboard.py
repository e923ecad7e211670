"""The Grafana dashboard in docs/grafana/ queries only metrics the gateway exports."""

import json
import re
from pathlib import Path

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "ollamaweb-dashboard.json"
SUFFIXES = ("_bucket", "_sum", "_count")


def expressions():
    dashboard = json.loads(DASHBOARD.read_text())
    found = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    found += [v["query"]["query"] for v in dashboard["templating"]["list"] if isinstance(v.get("query"), dict)]
    return found


def test_every_metric_of_the_dashboard_is_exported(metrics):
    text = metrics().text
    exported = set(re.findall(r"^# TYPE (\w+) ", text, re.MULTILINE))
    exported |= {name + "_total" for name in exported}
    used = {name for expr in expressions() for name in re.findall(r"\b(ollamaweb_\w+)", expr)}
    assert len(used) >= 20
    missing = {name for name in used if name not in exported and not name.endswith(SUFFIXES)}
    missing |= {
        name for name in used if name.endswith(SUFFIXES) and re.sub(r"_(bucket|sum|count)$", "", name) not in exported
    }
    assert not missing


def test_expressions_are_balanced():
    for expr in expressions():
        for opening, closing in ("()", "{}", "[]"):
            assert expr.count(opening) == expr.count(closing), expr
