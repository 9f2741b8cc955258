"""The report's radar chart as SVG, drawn on the server.

Written by hand rather than with a plotting library: a radar is a few polygons, the
output must obey the tool's CSP (no inline styles or scripts, so presentation attributes
only) and it is embedded both in HTML and in the PDF. Every text is escaped. The chart is
``role="img"`` with a title and description; the page puts the same numbers in a table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

SIZE = 420
CENTER = SIZE / 2
RADIUS = 150


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float | None]  # one per axis; None is drawn at 0
    stroke: str
    fill: str
    dashed: bool = False


def _point(i: int, n: int, value: float, max_value: float) -> tuple[float, float]:
    angle = -math.pi / 2 + 2 * math.pi * i / n
    r = RADIUS * (value / max_value if max_value else 0)
    return CENTER + r * math.cos(angle), CENTER + r * math.sin(angle)


def _fmt(x: float) -> str:
    return f"{x:.1f}"


def radar_svg(axes: list[str], series: list[Series], max_value: int, *, title: str,
              description: str, chart_id: str = "radar") -> str:
    """An accessible SVG radar: ``axes`` are short labels (area ids), ``series`` polygons."""
    n = max(len(axes), 1)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SIZE} {SIZE}" '
        f'width="{SIZE}" height="{SIZE}" role="img" class="radar" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
        '<g fill="none" stroke="#c3cad6" stroke-width="1">',
    ]
    for level in range(1, max_value + 1):
        ring = " ".join(f"{_fmt(x)},{_fmt(y)}"
                        for x, y in (_point(i, n, level, max_value) for i in range(n)))
        out.append(f'<polygon points="{ring}"/>')
    for i in range(n):
        x, y = _point(i, n, max_value, max_value)
        out.append(f'<line x1="{_fmt(CENTER)}" y1="{_fmt(CENTER)}" x2="{_fmt(x)}" '
                   f'y2="{_fmt(y)}"/>')
    out.append("</g>")
    out.append('<g font-size="11" fill="#4d5566" font-family="sans-serif">')
    for level in range(1, max_value + 1):
        x, y = _point(0, n, level, max_value)
        out.append(f'<text x="{_fmt(x + 4)}" y="{_fmt(y + 4)}">{level}</text>')
    out.append("</g>")
    for s in series:
        pts = " ".join(
            f"{_fmt(x)},{_fmt(y)}"
            for x, y in (_point(i, n, v or 0.0, max_value) for i, v in enumerate(s.values)))
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        out.append(f'<polygon points="{pts}" fill={quoteattr(s.fill)} fill-opacity="0.25" '
                   f'stroke={quoteattr(s.stroke)} stroke-width="2.5"{dash}>'
                   f"<title>{escape(s.name)}</title></polygon>")
        for i, v in enumerate(s.values):
            if v is None:
                continue
            x, y = _point(i, n, v, max_value)
            out.append(f'<circle cx="{_fmt(x)}" cy="{_fmt(y)}" r="3.5" '
                       f'fill={quoteattr(s.stroke)}/>')
    out.append('<g font-size="15" font-weight="bold" fill="#1d2433" '
               'font-family="sans-serif">')
    for i, label in enumerate(axes):
        x, y = _point(i, n, max_value * 1.13, max_value)
        anchor = "middle" if abs(x - CENTER) < 10 else ("start" if x > CENTER else "end")
        out.append(f'<text x="{_fmt(x)}" y="{_fmt(y + 5)}" text-anchor="{anchor}">'
                   f"{escape(label)}</text>")
    out.append("</g></svg>")
    return "".join(out)
