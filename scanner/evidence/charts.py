"""The pack's charts, written as inline SVG: a frame, date and count axes,
areas, bars and lines as paths, every label escaped (rule ids and deadline
names come from the config). The page needs no script, image or network to
show them, and the install no plotting library."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta

STATUS_COLORS = {
    "blocked": "#b71c1c",
    "non_compliant": "#e65100",
    "at_risk": "#f9a825",
    "compliant": "#2e7d32",
    "deleted": "#9e9e9e",
}
# One color per rule line, in turn (the common ten-color cycle).
LINE_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
               "#7f7f7f", "#bcbd22", "#17becf")  # fmt: skip
WIDTH = 800
LEFT, RIGHT, TOP, BOTTOM = 60, 16, 44, 40
_FONT = 'font-family="Helvetica, Arial, sans-serif"'


def _day(moment: date | datetime) -> float:
    """Days since the epoch, UTC (a date is its midnight)."""
    if isinstance(moment, datetime):
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        return aware.timestamp() / 86400
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC).timestamp() / 86400


def _count_ticks(low: float, high: float) -> list[int]:
    """Whole-number ticks over LOW..HIGH (at most seven), from a tick at or
    below LOW to one at or above HIGH: there is no half a key."""
    low, high = min(low, 0), max(high, 1)
    for step in (s * 10**e for e in range(12) for s in (1, 2, 5)):
        first, last = math.floor(low / step), math.ceil(high / step)
        if last - first <= 6:
            return [int(n * step) for n in range(first, last + 1)]
    raise ValueError(f"no ticks for {low}..{high}")


def _date_ticks(start: datetime, end: datetime) -> list[tuple[date, str]]:
    """(day, label) ticks: days or Mondays over a few weeks, the first of the
    month (every third month beyond a year); the year on the first tick and
    where it changes."""
    span = (end - start).days
    day = start.date()
    ticks: list[tuple[date, str]] = []
    if span <= 60:
        step = 7 if span > 14 else 1
        day += timedelta(days=(7 - day.weekday()) % 7 if step == 7 else 0)
        while day <= end.date():
            ticks.append((day, f"{day:%d %b}"))
            day += timedelta(days=step)
        return ticks
    months = 3 if span > 400 else 1
    year, month = (day.year, day.month) if day.day == 1 else (day.year, day.month + 1)
    while True:
        year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
        tick = date(year, month, 1)
        if tick > end.date():
            return ticks
        label = f"{tick:%b %Y}" if not ticks or ticks[-1][0].year != year else f"{tick:%b}"
        ticks.append((tick, label))
        month += months


class _Plot:
    """One chart: the frame of the plot area, its scales and what is drawn."""

    def __init__(
        self, title: str, height: int, span: tuple[datetime, datetime], counts: tuple[float, float]
    ) -> None:
        self.height = height
        start, end = span
        self.start, self.end = start, max(end, start + timedelta(days=1))
        self.ticks = _count_ticks(*counts)
        self.parts = [
            f'<text x="{WIDTH / 2}" y="24" text-anchor="middle" font-size="15">'
            f"{html.escape(title)}</text>"
        ]

    def x(self, moment: date | datetime) -> float:
        low, high = _day(self.start), _day(self.end)
        return LEFT + (_day(moment) - low) / (high - low) * (WIDTH - LEFT - RIGHT)

    def y(self, value: float) -> float:
        low, high = self.ticks[0], self.ticks[-1]
        bottom = self.height - BOTTOM
        return bottom - (value - low) / (high - low) * (bottom - TOP)

    def path(self, points: Iterable[tuple[float, float]], closed: bool, style: str) -> None:
        d = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(points))
        if d:
            self.parts.append(f'<path d="{d}{" Z" if closed else ""}" {style}/>')

    def grid(self) -> None:
        """A line across at each count tick, under what is drawn next."""
        for value in self.ticks:
            y = self.y(value)
            self.path([(LEFT, y), (WIDTH - RIGHT, y)], False, 'stroke="#e0e0e0" stroke-width="1"')

    def axes(self, label: str) -> None:
        """The ticks and their labels, the frame, and LABEL on the count axis,
        over what was drawn."""
        left, right, bottom = LEFT, WIDTH - RIGHT, self.height - BOTTOM
        for value in self.ticks:
            y = self.y(value)
            self.parts.append(
                f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value}</text>'
            )
        for day, text in _date_ticks(self.start, self.end):
            x = self.x(day)
            self.path([(x, bottom), (x, bottom + 5)], False, 'stroke="#424242"')
            self.parts.append(
                f'<text x="{x:.1f}" y="{bottom + 18}" text-anchor="middle">'
                f"{html.escape(text)}</text>"
            )
        frame = [(left, TOP), (right, TOP), (right, bottom), (left, bottom)]
        self.path(frame, True, 'fill="none" stroke="#424242" stroke-width="1"')
        middle = (TOP + bottom) / 2
        self.parts.append(
            f'<text transform="translate(16,{middle:.1f}) rotate(-90)" text-anchor="middle">'
            f"{html.escape(label)}</text>"
        )

    def legend(self, items: Sequence[tuple[str, str]]) -> None:
        """A swatch and a label for each (label, color), in rows inside the
        plot's top left corner, on a white box."""
        placed: list[tuple[float, float, str, str]] = []
        x, y, widest = LEFT + 10.0, TOP + 8.0, 0.0
        for label, color in items:
            width = 26 + 6.2 * len(label)
            if placed and x + width > WIDTH - RIGHT - 10:
                x, y = LEFT + 10.0, y + 15
            placed.append((x, y, label, color))
            x += width + 8
            widest = max(widest, x)
        if not placed:
            return
        box_height = y - TOP + 8
        self.parts.append(
            f'<rect x="{LEFT + 4}" y="{TOP + 3}" width="{widest - LEFT - 8:.1f}" '
            f'height="{box_height:.1f}" fill="#ffffff" fill-opacity="0.85" stroke="#bdbdbd"/>'
        )
        for x, y, label, color in placed:
            self.parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="14" height="9" fill="{color}"/>'
                f'<text x="{x + 19:.1f}" y="{y + 9:.1f}">{html.escape(label)}</text>'
            )

    def svg(self) -> str:
        body = "".join(self.parts)
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {self.height}" '
            f'width="{WIDTH}" height="{self.height}" {_FONT} font-size="11" fill="#212121" '
            f'role="img">{body}</svg>'
        )


def keys_by_status(
    points: Sequence[tuple[datetime, Mapping[str, int]]], since: datetime, until: datetime
) -> str:
    """Keys per status at each scan of the window, stacked; each scan's
    counts hold until the next scan (or the end of the window)."""
    if points:
        points = [*points, (max(until, points[-1][0]), points[-1][1])]
    statuses = [s for s in STATUS_COLORS if any(p[1].get(s) for p in points)]
    total = max((sum(p[1].get(s, 0) for s in statuses) for p in points), default=0)
    plot = _Plot("Keys by status at each scan", 320, (since, until), (0, total))
    plot.grid()
    xs = [plot.x(p[0]) for p in points]
    below = [0] * len(points)
    for status in statuses:
        above = [b + p[1].get(status, 0) for b, p in zip(below, points, strict=True)]
        outline = _steps(xs, [plot.y(v) for v in above])
        outline += list(reversed(_steps(xs, [plot.y(v) for v in below])))
        plot.path(outline, True, f'fill="{STATUS_COLORS[status]}" stroke="none"')
        below = above
    plot.axes("keys")
    plot.legend([(s, STATUS_COLORS[s]) for s in statuses])
    return plot.svg()


def _steps(xs: Sequence[float], ys: Sequence[float]) -> list[tuple[float, float]]:
    """Each value held until the next x."""
    out: list[tuple[float, float]] = []
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        out.append((x, y))
        if i + 1 < len(xs):
            out.append((xs[i + 1], y))
    return out


def opened_resolved_by_week(
    weeks: Sequence[tuple[date, int, int]], since: datetime, until: datetime
) -> str:
    """Findings opened (above 0) and resolved (below 0) per ISO week, each
    bar over its week."""
    opened = max((w[1] for w in weeks), default=0)
    resolved = max((w[2] for w in weeks), default=0)
    plot = _Plot("Findings opened and resolved per week", 320, (since, until), (-resolved, opened))
    plot.grid()
    zero = plot.y(0)
    for start, up, down in weeks:
        left, right = plot.x(start), plot.x(start + timedelta(days=6.5))
        for value, color in ((up, "#c62828"), (-down, "#2e7d32")):
            if value:
                top = plot.y(value)
                bar = [(left, zero), (left, top), (right, top), (right, zero)]
                plot.path(bar, True, f'fill="{color}" stroke="none"')
    plot.axes("findings (resolved below 0)")
    plot.path([(LEFT, zero), (WIDTH - RIGHT, zero)], False, 'stroke="#424242"')
    plot.legend([("opened", "#c62828"), ("resolved", "#2e7d32")])
    return plot.svg()


def open_against_deadlines(
    points: Sequence[tuple[datetime, Mapping[str, int]]],
    deadlines: Sequence[tuple[date, str, str]],
    since: datetime,
    until: datetime,
) -> str:
    """Open findings of each deadline rule at each scan, with the deadlines
    (id, status) that fall in the window drawn as vertical lines, solid
    once enforced; the page names the others."""
    deadlines = [d for d in deadlines if since.date() <= d[0] <= until.date()]
    rules = sorted({r for p in points for r in p[1]})
    most = max((v for p in points for v in p[1].values()), default=0)
    title = "Open findings against the Gemini deadlines"
    plot = _Plot(title, 360, (since, until), (0, most))
    plot.grid()
    for n, rule in enumerate(rules):
        color = LINE_COLORS[n % len(LINE_COLORS)]
        line = [(plot.x(p[0]), plot.y(p[1].get(rule, 0))) for p in points]
        plot.path(line, False, f'fill="none" stroke="{color}" stroke-width="1.5"')
        plot.parts.extend(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"/>' for x, y in line
        )
    bottom = plot.height - BOTTOM
    for day, label, status in deadlines:
        x = plot.x(day)
        dash = "" if status == "enforced" else ' stroke-dasharray="5,3"'
        plot.path([(x, TOP), (x, bottom)], False, f'stroke="#37474f"{dash}')
        # Read upwards from the foot of the line, on its right (its left near the
        # right edge): clear of the count labels and of the legend.
        side = x + 11 if x < WIDTH - RIGHT - 16 else x - 4
        plot.parts.append(
            f'<text transform="translate({side:.1f},{bottom - 4}) rotate(-90)" '
            f'font-size="9">{html.escape(f"{label} ({status})")}</text>'
        )
    plot.axes("open findings")
    plot.legend([(rule, LINE_COLORS[n % len(LINE_COLORS)]) for n, rule in enumerate(rules)])
    return plot.svg()
