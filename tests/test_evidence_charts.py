"""The evidence pack's charts as written (scanner.evidence.charts): well-formed
SVG whatever the labels hold, whole-number count ticks, date ticks that fit
the window, areas stacked to each scan's total."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime

from scanner.evidence import charts

SINCE = datetime(2026, 9, 1, tzinfo=UTC)
UNTIL = datetime(2026, 12, 7, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


def test_labels_from_the_config_are_escaped_and_the_svg_stays_well_formed() -> None:
    hostile = '</svg><script>alert("x")</script>&'
    points = [(datetime(2026, 11, 20, tzinfo=UTC), {hostile: 3})]
    drawn = charts.open_against_deadlines(points, [(date(2026, 10, 1), hostile, "enforced")],
                                          SINCE, UNTIL)  # fmt: skip
    assert "<script" not in drawn
    tree = ET.fromstring(drawn)
    texts = [t.text for t in tree.iter(f"{SVG}text")]
    assert hostile in texts and f"{hostile} (enforced)" in texts


def test_count_ticks_are_whole_numbers_around_the_values() -> None:
    assert charts._count_ticks(0, 29) == [0, 5, 10, 15, 20, 25, 30]
    assert charts._count_ticks(-5, 7) == [-5, 0, 5, 10]
    assert charts._count_ticks(0, 0) == [0, 1]
    assert charts._count_ticks(0, 100_000) == [0, 20_000, 40_000, 60_000, 80_000, 100_000]


def test_date_ticks_fit_the_window() -> None:
    week = (datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC))
    days = charts._date_ticks(*week)
    assert [label for _, label in days][:2] == ["20 Nov", "21 Nov"] and len(days) == 8
    weeks = charts._date_ticks(datetime(2026, 11, 1, tzinfo=UTC), UNTIL)
    assert all(day.weekday() == 0 for day, _ in weeks)  # Mondays
    months = charts._date_ticks(SINCE, UNTIL)
    assert months == [(date(2026, 9, 1), "Sep 2026"), (date(2026, 10, 1), "Oct"),
                      (date(2026, 11, 1), "Nov"), (date(2026, 12, 1), "Dec")]  # fmt: skip
    years = charts._date_ticks(datetime(2025, 1, 15, tzinfo=UTC), UNTIL)
    assert years[0] == (date(2025, 2, 1), "Feb 2025")
    assert (date(2026, 2, 1), "Feb 2026") in years and (date(2025, 5, 1), "May") in years
    assert all(day.month in (2, 5, 8, 11) for day, _ in years)


def test_the_status_areas_stack_to_each_scans_total() -> None:
    points = [
        (datetime(2026, 11, 20, tzinfo=UTC), {"blocked": 6, "compliant": 4}),
        (datetime(2026, 11, 21, tzinfo=UTC), {"blocked": 2, "compliant": 8, "deleted": 1}),
    ]
    tree = ET.fromstring(charts.keys_by_status(points, SINCE, UNTIL))
    fills = {p.get("fill"): p.get("d") for p in tree.iter(f"{SVG}path") if p.get("fill")}
    top_of = {}
    for status in ("blocked", "compliant", "deleted"):
        d = fills[charts.STATUS_COLORS[status]]
        top_of[status] = min(float(y) for y in re.findall(r",([\d.]+)", d or ""))
    # Each layer reaches higher (a smaller y) than the one below it.
    assert top_of["blocked"] > top_of["compliant"] > top_of["deleted"]
    labels = [t.text for t in tree.iter(f"{SVG}text")]
    assert {"blocked", "compliant", "deleted"} <= set(labels) and "at_risk" not in labels
