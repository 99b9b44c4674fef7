"""PNG charts for the reports: drawn headless, the same bytes for the same data.

The journal report draws requests per week by action with it, the cost report cost per
team per week: both are "one stacked bar per week, one colour per category".

matplotlib's ``Figure`` is used directly on an Agg canvas, never ``pyplot``: pyplot keeps
every figure in a process-wide registry (a worker running reports for weeks would hold
them all) and picks a GUI backend from the environment. PNG metadata is set explicitly,
so a PNG carries no version stamp or time and the same input gives the same bytes.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from datetime import date, timedelta
from io import BytesIO

from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = [
    "CHART_SIZE_PX",
    "MAX_CATEGORIES",
    "OTHER",
    "png_data_url",
    "weekly_stacked_bars_png",
]

_DPI = 100
CHART_SIZE_PX = (1200, 600)
"""Width and height of every chart, in pixels."""
MAX_CATEGORIES = 10
"""Bands in a chart at most: with more categories, the smallest are summed into `OTHER`."""
OTHER = "other"
# tab10 with its grey moved last: the grey is for `OTHER`, or a tenth category when no
# category is summed into `OTHER`, so a grey band never means two things in one chart.
_PALETTE = [colormaps["tab10"](index) for index in (0, 1, 2, 3, 4, 5, 6, 8, 9, 7)]
# Beyond this many weeks, only every n-th week is labelled so labels never overlap.
_MAX_LABELS = 26
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# No "Software" text (it names the matplotlib version) and no time in the file.
_PNG_METADATA: dict[str, str | None] = {"Software": None}


def _weeks(series: Mapping[date, Mapping[str, float]]) -> list[date]:
    """Every week from the first to the last in `series`, the empty ones included."""
    if not series:
        return []
    first, last = min(series), max(series)
    misaligned = sorted(week for week in series if (week - first).days % 7)
    if misaligned:
        raise ValueError(
            f"weeks must be 7 days apart (week starts, e.g. Mondays): {misaligned[0]} is "
            f"not a whole number of weeks after {first}"
        )
    count = (last - first).days // 7 + 1
    return [first + timedelta(weeks=n) for n in range(count)]


def _bands(series: Mapping[date, Mapping[str, float]]) -> list[tuple[str, set[str]]]:
    """What is stacked, bottom first: (label, categories summed in it), largest first."""
    totals: dict[str, float] = {}
    for values in series.values():
        for category, value in values.items():
            totals[category] = totals.get(category, 0.0) + value
    ranked = sorted(totals, key=lambda category: (-totals[category], category))
    if len(ranked) <= MAX_CATEGORIES:
        return [(category, {category}) for category in ranked]
    kept = [category for category in ranked if category != OTHER][: MAX_CATEGORIES - 1]
    return [(category, {category}) for category in kept] + [(OTHER, set(ranked) - set(kept))]


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _draw(
    figure: Figure, series: Mapping[date, Mapping[str, float]], title: str, ylabel: str
) -> None:
    axes = figure.add_subplot()
    axes.set_title(title, loc="left")
    axes.set_ylabel(ylabel)
    weeks = _weeks(series)
    if not weeks:
        axes.text(0.5, 0.5, "nothing in this period", ha="center", va="center")
        axes.set_xticks([])
        axes.set_yticks([])
        return
    positions = list(range(len(weeks)))
    bottoms = [0.0] * len(weeks)
    for index, (label, names) in enumerate(_bands(series)):
        heights = [
            sum(float(series.get(week, {}).get(name, 0.0)) for name in names) for week in weeks
        ]
        axes.bar(positions, heights, bottom=bottoms, color=_PALETTE[index], label=label, width=0.8)
        bottoms = [bottom + height for bottom, height in zip(bottoms, heights, strict=True)]
    for position, total in zip(positions, bottoms, strict=True):
        if total:
            axes.annotate(
                _number(total),
                (position, total),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=8,
            )
    step = math.ceil(len(weeks) / _MAX_LABELS)
    axes.set_xticks(positions[::step])
    # ISO week and its Monday: "2025-W19" alone makes readers count on their fingers.
    axes.set_xticklabels([f"{week:%d %b}\n{week:%G-W%V}" for week in weeks[::step]], fontsize=8)
    axes.set_xlabel("week starting")
    axes.set_xlim(-0.6, len(weeks) - 0.4)
    axes.set_ylim(0, max(bottoms) * 1.1 or 1)
    if all(float(value).is_integer() for values in series.values() for value in values.values()):
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)
    # Legend in the order of the stack as seen: the top band first.
    handles, labels = axes.get_legend_handles_labels()
    figure.legend(handles[::-1], labels[::-1], loc="outside right upper", fontsize=8)


def weekly_stacked_bars_png(
    series: Mapping[date, Mapping[str, float]], *, title: str, ylabel: str
) -> bytes:
    """A stacked bar per week, one colour per category, as PNG bytes (`CHART_SIZE_PX`).

    `series` maps each week's first day (7 days apart, e.g. ISO weeks' Mondays) to the
    value of each category that week. Weeks missing between the first and the last are
    drawn empty. The `MAX_CATEGORIES - 1` largest categories over the whole period get
    their own colour and the rest are summed into `OTHER`. An empty series gives a chart
    saying there is nothing to show. The same arguments always give the same bytes.
    """
    width, height = CHART_SIZE_PX
    figure = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    _draw(figure, series, title, ylabel)
    buffer = BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, metadata=_PNG_METADATA)
    return buffer.getvalue()


def png_data_url(png: bytes) -> str:
    """`png` as a `data:image/png;base64,...` URL: an image that travels with its text,
    e.g. in a Prefect image artifact, with no file server to host it."""
    if not png.startswith(_PNG_SIGNATURE):
        raise ValueError("not PNG data: it does not start with the PNG signature")
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
