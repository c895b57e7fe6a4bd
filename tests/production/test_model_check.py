"""模型检验 on the production path: `kehu demo`, `kehu segment`, then the page of a live `kehu serve` shows the
demo shop's own holdout — the same figures as an independent count of the orders."""

import datetime
import json
import re
from html.parser import HTMLParser

from kehu.segments.engine import model_check

from .harness import LiveServer

# Every counted order as (customer id, day in the shop's zone), read through the ORM in `kehu shell`.
ORDER_DAYS = """
import json
from django.utils import timezone
from kehu.sales.models import Order
print(json.dumps([[c, timezone.localtime(t).date().isoformat()]
                  for c, t in Order.objects.completed().values_list("customer_id", "ordered_at")]))
"""


class Tables(HTMLParser):
    """The text of every cell of every <table id=…> on a page: {id: [[cell, …], …]} (header row first)."""

    def __init__(self, html: str):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.table = self.row = self.cell = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.table = self.tables.setdefault(dict(attrs).get("id", ""), [])
        elif tag == "tr" and self.table is not None:
            self.row = []
            self.table.append(self.row)
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row.append("".join(self.cell).strip())
            self.cell = None
        elif tag == "table":
            self.table = self.row = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def number(text: str) -> float:
    return float(text.replace(",", "").replace("%", ""))


def expected_holdout(order_days: list[list], as_of: datetime.date) -> dict:
    """Fader–Hardie's split by hand: the last quarter of the span (at least 56 days) is the holdout; per
    calibration-frequency group (0…6, 7+) the customers who had bought by then and their holdout purchase days."""
    days = {(customer, datetime.date.fromisoformat(day)) for customer, day in order_days
            if datetime.date.fromisoformat(day) <= as_of}
    first: dict[int, datetime.date] = {}
    for customer, day in sorted(days):
        first.setdefault(customer, day)
    start = min(first.values())
    calibration_end = as_of - datetime.timedelta(days=max(-(-(as_of - start).days // 4), 56))
    customers, actual = [0] * 8, [0] * 8
    calibration_days = {c: sum(1 for cc, d in days if cc == c and d <= calibration_end) for c in first}
    for customer, first_day in first.items():
        if first_day > calibration_end:
            continue
        group = min(calibration_days[customer] - 1, 7)
        customers[group] += 1
        actual[group] += sum(1 for c, d in days if c == customer and d > calibration_end)
    return {"start": start, "calibration_end": calibration_end, "customers": customers, "actual": actual}


def test_it_shows_the_demo_shops_own_holdout_as_counted_from_its_orders(ready_store):
    ready_store.kehu("demo", "--customers", "200", "--seed", "5")
    # `kehu demo` classified as of today; a classification of another day is the one the page shows.
    # (A second run of the same day currently fails on SQLite in reading the stored classes — not this feature.)
    as_of = datetime.date.today() - datetime.timedelta(days=1)
    printed = ready_store.kehu("segment", "--no-progress", "--as-of", as_of.isoformat()).stdout
    assert "【模型检验 Model check】" in printed
    expected = expected_holdout(json.loads(ready_store.shell(ORDER_DAYS).strip().splitlines()[-1]), as_of)

    with LiveServer(ready_store) as server:
        web = server.session()
        assert 'href="/segments/analysis/models/"' in web.get("/segments/").text  # linked from the navigation
        page = web.get("/segments/analysis/models/")
        assert page.status_code == 200
        html = page.text
        csv = web.get("/segments/export/models/groups/?format=csv").content.decode("utf-8-sig")
    tables = Tables(html).tables
    groups, totals = tables["table-groups"], tables["table-totals"]

    assert f"在 {expected['calibration_end']:%Y-%m-%d} 分开" in html and f"把 {expected['start']:%Y-%m-%d} 至" in html
    assert groups[0][:3] == ["校准期重复消费天数", "客户数", "实际"]
    assert [row[0] for row in groups[1:]] == ["0", "1", "2", "3", "4", "5", "6", "7+", "合计"]
    assert [int(number(row[1])) for row in groups[1:9]] == expected["customers"]
    assert [int(number(row[2])) for row in groups[1:9]] == expected["actual"]
    assert int(number(groups[9][2])) == sum(expected["actual"]) > 0
    assert [row[0] for row in totals[1:]] == ["MBG/NBD", "Pareto/NBD", "BG/NBD"]
    for model, predicted, actual, error, _note in totals[1:]:
        assert int(number(actual)) == sum(expected["actual"])
        if predicted != "—":  # the error is the prediction against the actual, within the rounding shown
            total = sum(expected["actual"])  # (0.05 of the shown percent, 0.05 of the shown prediction)
            assert abs(number(error) - (number(predicted) - total) / total * 100) <= 0.05 + 5 / total + 1e-9, model
    chosen = [row for row in totals[1:] if row[4].startswith("选用")]
    assert len(chosen) == 1 and chosen[0][0] in ("MBG/NBD", "Pareto/NBD")
    assert f"<strong>{chosen[0][0]}</strong>" in html
    rule = f"检验期误差小 {model_check.CHOICE_MARGIN} 个百分点以上时"   # the page and the note say the rule
    assert rule in re.search(r"<p data-chosen>(.*?)</p>", html, re.S).group(1) and rule in chosen[0][4]
    assert '"kind": "lines"' in html and 'data-chart="chart-cumulative"' in html
    assert csv.splitlines()[1].split(",")[:3] == ["0", str(expected["customers"][0]), str(expected["actual"][0])]
