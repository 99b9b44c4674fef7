"""flows.journal.charts: weekly stacked bars as PNG bytes, and PNG as a data: URL."""

from __future__ import annotations

import base64
import struct
from datetime import date, timedelta
from io import BytesIO

import pytest
from PIL import Image

from flows.journal.charts import (
    CHART_SIZE_PX,
    MAX_CATEGORIES,
    OTHER,
    png_data_url,
    weekly_stacked_bars_png,
)

MONDAY = date(2025, 5, 5)
SERIES = {
    MONDAY: {"service:create": 12, "kafka:topics:create": 3, "manual: dns": 2},
    MONDAY + timedelta(weeks=1): {"service:create": 5},
    MONDAY + timedelta(weeks=3): {"kafka:topics:create": 7, "manual: database": 1},
}


def chart(series: dict[date, dict[str, float]], title: str = "Requests per week") -> bytes:
    return weekly_stacked_bars_png(series, title=title, ylabel="runs")


def chunk_types(png: bytes) -> list[bytes]:
    """The PNG's chunk types, in order (length, type, data, CRC each)."""
    types, offset = [], 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        types.append(png[offset + 4 : offset + 8])
        offset += 12 + length
    return types


def test_a_chart_is_a_png_of_the_chart_size() -> None:
    png = chart(SERIES)
    with Image.open(BytesIO(png)) as image:
        assert (image.format, image.size) == ("PNG", CHART_SIZE_PX)
        image.verify()


def test_the_same_series_gives_the_same_bytes_and_no_timestamp() -> None:
    png = chart(SERIES)
    assert chart({week: dict(values) for week, values in SERIES.items()}) == png
    assert chart(SERIES, title="Cost per team per week") != png
    types = chunk_types(png)
    assert types[0] == b"IHDR" and types[-1] == b"IEND"
    # No time, no text (the matplotlib version would change the bytes between releases).
    assert not {b"tIME", b"tEXt", b"iTXt", b"zTXt"} & set(types)


def test_missing_weeks_are_drawn_empty() -> None:
    with_gaps_filled = {
        **SERIES,
        MONDAY + timedelta(weeks=2): {},
    }
    assert chart(with_gaps_filled) == chart(SERIES)


def test_small_categories_are_summed_into_other() -> None:
    # Twelve categories: the nine largest drawn, the three smallest as one band.
    many = {
        MONDAY + timedelta(weeks=n): {f"team-{c:02d}": float(100 - c + n) for c in range(9)}
        | {"team-x": 1.0, "team-y": 2.0, "team-z": 0.5}
        for n in range(3)
    }
    assert len(next(iter(many.values()))) > MAX_CATEGORIES
    summed = {
        week: {k: v for k, v in values.items() if k.startswith("team-0")}
        | {OTHER: values["team-x"] + values["team-y"] + values["team-z"]}
        for week, values in many.items()
    }
    assert chart(many) == chart(summed)


def test_floats_are_charted_too() -> None:
    png = weekly_stacked_bars_png(
        {MONDAY: {"payments": 1234.56, "platform": 99.9}}, title="Cost", ylabel="USD"
    )
    with Image.open(BytesIO(png)) as image:
        assert image.size == CHART_SIZE_PX


def test_an_empty_series_still_gives_a_chart() -> None:
    with Image.open(BytesIO(chart({}))) as image:
        assert image.size == CHART_SIZE_PX


def test_weeks_must_be_whole_weeks_apart() -> None:
    with pytest.raises(ValueError, match="7 days apart"):
        chart({MONDAY: {"a": 1}, MONDAY + timedelta(days=3): {"a": 1}})


def test_png_data_url_round_trips() -> None:
    png = chart(SERIES)
    url = png_data_url(png)
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    assert base64.b64decode(url.removeprefix(prefix), validate=True) == png
    with pytest.raises(ValueError, match="PNG"):
        png_data_url(b"GIF89a")
