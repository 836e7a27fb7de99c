"""The pack's charts, drawn with matplotlib as inline SVG: text is drawn as
paths, so the page needs no font, script or network to show them."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

STATUS_COLORS = {
    "blocked": "#b71c1c",
    "non_compliant": "#e65100",
    "at_risk": "#f9a825",
    "compliant": "#2e7d32",
    "deleted": "#9e9e9e",
}
_RC: dict[Any, Any] = {"svg.fonttype": "path", "svg.hashsalt": "keysentry", "font.size": 9}


def _svg(figure: Figure, title: str) -> str:
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    buffer = io.StringIO()
    FigureCanvasSVG(figure).print_svg(buffer, metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # inline: no XML prolog or doctype


def _dates(axes: Axes) -> None:
    locator = AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def _counts(axes: Axes) -> None:
    """Whole numbers on the y axis: there is no half a key."""
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    low, high = axes.get_ylim()
    axes.set_ylim(min(low, 0), max(high, 1))


def _x(values: Sequence[date | datetime]) -> list[float]:
    """Matplotlib's day numbers (its typing takes floats, not dates)."""
    return [float(date2num(v)) for v in values]


def _span(axes: Axes, start: date | datetime, end: date | datetime) -> None:
    low, high = _x([start, end])
    axes.set_xlim(low, max(high, low + 1))


def keys_by_status(
    points: Sequence[tuple[datetime, Mapping[str, int]]], since: datetime, until: datetime
) -> str:
    """Keys per status at each scan of the window, stacked; each scan's
    counts hold until the next scan (or the end of the window)."""
    if points:
        points = [*points, (max(until, points[-1][0]), points[-1][1])]
    with matplotlib.rc_context(_RC):
        figure = Figure(figsize=(8, 3.2))
        axes = figure.add_subplot()
        when = _x([p[0] for p in points])
        statuses = [s for s in STATUS_COLORS if any(p[1].get(s) for p in points)]
        if points and statuses:
            axes.stackplot(
                when,
                [[p[1].get(s, 0) for p in points] for s in statuses],
                labels=statuses,
                colors=[STATUS_COLORS[s] for s in statuses],
                step="post",
            )
            axes.legend(loc="upper left", fontsize=8, ncols=len(statuses))
        _span(axes, since, until)
        axes.set_ylabel("keys")
        _counts(axes)
        _dates(axes)
        return _svg(figure, "Keys by status at each scan")


def opened_resolved_by_week(
    weeks: Sequence[tuple[date, int, int]], since: datetime, until: datetime
) -> str:
    """Findings opened and resolved per ISO week, each bar over its week."""
    with matplotlib.rc_context(_RC):
        figure = Figure(figsize=(8, 3.2))
        axes = figure.add_subplot()
        starts = _x([w[0] for w in weeks])
        axes.bar(
            starts, [w[1] for w in weeks], width=6.5, align="edge", color="#c62828", label="opened"
        )
        axes.bar(
            starts,
            [-w[2] for w in weeks],
            width=6.5,
            align="edge",
            color="#2e7d32",
            label="resolved",
        )
        axes.axhline(0, color="#424242", linewidth=0.8)
        axes.set_ylabel("findings (resolved below 0)")
        _span(axes, since, until)
        _counts(axes)
        axes.legend(loc="upper left", fontsize=8)
        _dates(axes)
        return _svg(figure, "Findings opened and resolved per week")


def open_against_deadlines(
    points: Sequence[tuple[datetime, Mapping[str, int]]],
    deadlines: Sequence[tuple[date, str, str]],
    since: datetime,
    until: datetime,
) -> str:
    """Open findings of each deadline rule at each scan, with the deadlines
    (id, status) that fall in the window drawn as vertical lines; the page
    names the others."""
    deadlines = [d for d in deadlines if since.date() <= d[0] <= until.date()]
    with matplotlib.rc_context(_RC):
        figure = Figure(figsize=(8, 3.6))
        axes = figure.add_subplot()
        rules = sorted({r for p in points for r in p[1]})
        for rule in rules:
            axes.plot(
                _x([p[0] for p in points]),
                [p[1].get(rule, 0) for p in points],
                marker="o",
                markersize=3,
                label=rule,
            )
        for day, label, status in deadlines:
            style = "-" if status == "enforced" else "--"
            axes.axvline(
                _x([day])[0],
                color="#37474f",
                linestyle=style,
                linewidth=1,
            )
            axes.annotate(
                f"{label} ({status})",
                (_x([day])[0], 1),
                xycoords=("data", "axes fraction"),
                rotation=90,
                fontsize=7,
                va="top",
                ha="right",
            )
        if rules:
            axes.legend(loc="upper left", fontsize=7)
        axes.set_ylabel("open findings")
        _span(axes, since, until)
        _counts(axes)
        _dates(axes)
        return _svg(figure, "Open findings against the Gemini deadlines")
