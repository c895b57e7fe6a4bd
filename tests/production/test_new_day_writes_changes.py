"""A new day's classification writes only the class rows that changed (issue 14, item 6), as a shop runs it:
`kehu segment` as a subprocess on a file-backed store in WAL mode (or PostgreSQL), then the same day with every row
written, which must store the same classes."""

import datetime as dt
import json
from collections import Counter

from .harness import Store

# What a class row holds apart from its date, its fingerprint and the forecast (the forecast of a row that did not
# change stays that of the fit).
OWN = ("customer_id", "first_order_day", "last_order_day", "frequency", "monetary", "avg_order_value",
       "mean_interval_days", "std_interval_days", "spend_recent", "spend_previous", "trend", "r_score", "f_score",
       "m_score", "r_high", "f_high", "m_high", "rfm_class", "rf_segment", "abc_class", "frequency_tier",
       "value_tier", "lifecycle", "overdue", "category_loyalty")


def rows(store: Store, columns=OWN) -> dict[int, tuple]:
    got = store.query(f"SELECT {', '.join(columns)} FROM segments_customersegment ORDER BY customer_id")
    return {row[0]: tuple(str(v) for v in row[1:]) for row in got}


def written_on(store: Store) -> dict[str, int]:
    got = store.query("SELECT CAST(changed_on AS TEXT), COUNT(*) FROM segments_customersegment GROUP BY 1")
    return dict(got)


def value_model(store: Store, day: dt.date) -> dict:
    (text,), = store.query("SELECT value_model FROM segments_segmentrun WHERE as_of = ?", day.isoformat())
    return text if isinstance(text, dict) else json.loads(text)


def snapshot_lines(store: Store, day: dt.date) -> int:
    (n,), = store.query("SELECT COUNT(*) FROM segments_segmentsnapshot WHERE as_of = ?", day.isoformat())
    return n


def matrix(store: Store, start: dt.date, end: dt.date) -> Counter:
    """kehu's migration matrix of the RFM classes between two days, as counts of (from, to)."""
    out = store.shell("import datetime, json; from kehu.segments import pipeline;"
                      f" print(json.dumps(pipeline.migration_matrix(datetime.date({start.year}, {start.month},"
                      f" {start.day}), datetime.date({end.year}, {end.month}, {end.day}))))")
    got = json.loads(out.splitlines()[-1])
    return Counter({(a, b): n for a, row in got.items() for b, n in row.items()})


def expected_matrix(before: dict, after: dict) -> Counter:
    """The same, computed here from the class rows stored after each run ("" = no class)."""
    return Counter((before.get(c, ("",))[0] or "（无）", after[c][0] or "（无）") for c in after)


def test_a_new_day_writes_only_the_rows_that_changed_and_they_are_what_writing_every_row_gives(demo_copy):
    store = demo_copy
    # The day of `kehu demo`'s run (the template is made once per test process: past midnight it is not today).
    (day,), = store.query("SELECT CAST(MAX(as_of) AS TEXT) FROM segments_segmentrun")
    day = dt.date.fromisoformat(day)
    store.kehu("segment", "--full", "--no-progress", "--as-of", day.isoformat())
    assert value_model(store, day)["fitted_on"] == day.isoformat()
    assert written_on(store) == {day.isoformat(): 150}   # the first run (by `kehu demo`) wrote every row

    classes_then = rows(store, ("customer_id", "rfm_class"))
    later = day + dt.timedelta(days=6)
    store.kehu("segment", "--no-progress", "--as-of", later.isoformat())
    model = value_model(store, later)
    assert (model["refitted"], model["fitted_on"]) == (False, day.isoformat())
    counts = written_on(store)
    assert counts[day.isoformat()] + counts[later.isoformat()] == 150
    assert 0 < counts[later.isoformat()] < 150, counts   # six days on, some classes moved (recency, trend)
    # The snapshot gets a line for each written row only; the classes on either day are still there to compare.
    assert snapshot_lines(store, later) == counts[later.isoformat()]
    classes_now = rows(store, ("customer_id", "rfm_class"))
    assert matrix(store, day, later) == expected_matrix(classes_then, classes_now)
    dated = rows(store, ("customer_id", "CAST(changed_on AS TEXT)"))
    kept = {c for c, (on,) in dated.items() if on == day.isoformat()}
    values_before = rows(store, ("customer_id", "p_alive", "clv"))
    incremental = rows(store)

    # The same day again, with every fingerprint forgotten: every row is computed and written.
    store.shell("from kehu.segments.models import CustomerSegment; CustomerSegment.objects.update(fingerprint=None)")
    store.kehu("segment", "--no-progress", "--as-of", later.isoformat())
    assert written_on(store) == {later.isoformat(): 150}
    assert rows(store) == incremental
    values_after = rows(store, ("customer_id", "p_alive", "clv"))
    buyers = {c for c in kept if values_before[c][0] != "None"}
    # the kept rows had the fit day's values (those of long-lapsed buyers round to the same cents either way)
    assert buyers and sum(values_after[c] != values_before[c] for c in buyers) > len(buyers) / 2
    assert all(values_after[c] == values_before[c] for c in values_before if c not in kept)

    # The customer page derives recency from the stored last purchase day and the run's day.
    customer, last = next((c, r[1]) for c, r in incremental.items() if r[1] != "None")
    recency = (later - dt.date.fromisoformat(last)).days
    out = store.shell(f"from kehu.segments.models import CustomerSegment as S; s = S.objects.get(pk={customer});"
                      " print(s.as_of, s.recency_days); print(s.explanation)")
    assert f"\n{later.isoformat()} {recency}\n" in out
    assert f"最近一次消费 {recency} 天前" in out


def test_a_run_for_an_earlier_day_and_the_run_after_it_snapshot_everyone(demo_copy):
    store = demo_copy
    # The day of `kehu demo`'s run (the template is made once per test process: past midnight it is not today).
    (day,), = store.query("SELECT CAST(MAX(as_of) AS TEXT) FROM segments_segmentrun")
    day = dt.date.fromisoformat(day)
    today_classes = rows(store, ("customer_id", "rfm_class"))   # `kehu demo` classified as of today
    earlier = day - dt.timedelta(days=90)
    store.kehu("segment", "--no-progress", "--as-of", earlier.isoformat())
    assert snapshot_lines(store, earlier) == 150
    earlier_classes = rows(store, ("customer_id", "rfm_class"))
    assert earlier_classes != today_classes
    assert matrix(store, earlier, day) == expected_matrix(earlier_classes, today_classes)

    later = day + dt.timedelta(days=1)   # the class rows hold the earlier day's classes: everyone gets a line
    store.kehu("segment", "--no-progress", "--as-of", later.isoformat())
    assert snapshot_lines(store, later) == 150
    assert matrix(store, earlier, later) == expected_matrix(earlier_classes, rows(store, ("customer_id", "rfm_class")))
