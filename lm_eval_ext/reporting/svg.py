"""JS-free inline SVG charts for report.html: grouped bars, a heatmap, a scatter, lines with CI bands.

Every text that reaches the SVG goes through `esc` (labels may come from run
folders and model names)."""

from __future__ import annotations

from html import escape

PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]


def esc(text) -> str:
    return escape(str(text), quote=True)


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _fmt(v: float) -> str:
    return f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}".rstrip("0").rstrip(".") if v else "0"


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    for step in (1, 2, 5, 10, 20, 25, 50, 100):
        if v <= step:
            return float(step)
    mag = 10 ** (len(str(int(v))) - 1)
    return float(-(-v // mag) * mag)


def bars(categories: list[str], series: list[tuple[str, list[float | None]]], title: str, unit: str = "") -> str:
    """Grouped vertical bars: one group per category (language), one bar per series (model)."""
    n_cat, n_ser = len(categories), max(1, len(series))
    bar_w = max(3, min(14, 120 // n_ser))
    group_w = bar_w * n_ser + 10
    left, top, bottom = 44, 28, 70
    width = max(260, left + 10 + group_w * n_cat)
    height = 240
    plot_h = height - top - bottom
    vmax = _nice_max(max([v for _, vals in series for v in vals if v is not None] or [1.0]))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}">',
           f'<text x="{left}" y="16" class="t">{esc(title)}</text>']
    for k in range(5):
        v = vmax * k / 4
        y = top + plot_h - plot_h * k / 4
        out.append(f'<line x1="{left}" x2="{width - 6}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                   f'<text x="{left - 4}" y="{y + 3:.1f}" class="ax" text-anchor="end">{_fmt(v)}</text>')
    for c, cat in enumerate(categories):
        x0 = left + 8 + c * group_w
        for s, (name, vals) in enumerate(series):
            v = vals[c]
            if v is None:
                continue
            h = max(0.0, plot_h * min(v, vmax) / vmax)
            x = x0 + s * bar_w
            out.append(f'<rect x="{x}" y="{top + plot_h - h:.1f}" width="{bar_w - 1}" height="{h:.1f}" '
                       f'fill="{color(s)}"><title>{esc(name)} · {esc(cat)}: {_fmt(v)}{esc(unit)}</title></rect>')
        cx = x0 + (bar_w * n_ser) / 2
        out.append(f'<text x="{cx:.1f}" y="{top + plot_h + 12}" class="ax" text-anchor="end" '
                   f'transform="rotate(-40 {cx:.1f} {top + plot_h + 12})">{esc(cat)}</text>')
    out.append("</svg>")
    return "".join(out)


def legend(names: list[str]) -> str:
    items = "".join(
        f'<span class="lg"><span class="sw" style="background:{color(i)}"></span>{esc(n)}</span>'
        for i, n in enumerate(names)
    )
    return f'<div class="legend">{items}</div>'


def _heat(t: float) -> str:
    """0 -> pale, 1 -> deep blue (viridis-like would need a table; this reads well)."""
    t = min(1.0, max(0.0, t))
    r = int(247 + (8 - 247) * t)
    g = int(251 + (69 - 251) * t)
    b = int(255 + (148 - 255) * t)
    return f"rgb({r},{g},{b})"


def heatmap(row_labels: list[str], col_labels: list[str], values: dict, title: str,
            vmin: float, vmax: float, row_axis: str = "context / source", col_axis: str = "question / target") -> str:
    """values: {(row index, col index): value}. Missing cells are hatched grey."""
    cell = 30
    left, top = 46, 44
    width = max(210, left + cell * len(col_labels) + 10)
    height = top + cell * len(row_labels) + 30
    span = (vmax - vmin) or 1.0
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}">',
           f'<text x="4" y="14" class="t">{esc(title)}</text>']
    for j, c in enumerate(col_labels):
        out.append(f'<text x="{left + j * cell + cell / 2}" y="{top - 6}" class="ax" text-anchor="middle">{esc(c)}</text>')
    for i, r in enumerate(row_labels):
        y = top + i * cell
        out.append(f'<text x="{left - 5}" y="{y + cell / 2 + 4}" class="ax" text-anchor="end">{esc(r)}</text>')
        for j, c in enumerate(col_labels):
            x = left + j * cell
            v = values.get((i, j))
            if v is None:
                out.append(f'<rect x="{x}" y="{y}" width="{cell - 1}" height="{cell - 1}" class="na"/>')
                continue
            t = (v - vmin) / span
            fg = "#fff" if t > 0.55 else "#222"
            out.append(f'<rect x="{x}" y="{y}" width="{cell - 1}" height="{cell - 1}" fill="{_heat(t)}">'
                       f'<title>{esc(r)} → {esc(c)}: {_fmt(v)}</title></rect>'
                       f'<text x="{x + cell / 2 - 0.5}" y="{y + cell / 2 + 3.5}" class="hv" fill="{fg}" '
                       f'text-anchor="middle">{_fmt(v)}</text>')
    out.append(f'<text x="4" y="{height - 8}" class="ax">↓ {esc(row_axis)} · → {esc(col_axis)}</text>')
    out.append("</svg>")
    return "".join(out)


def scatter(points: list[tuple[float, float, int, str]], xlabel: str, ylabel: str, title: str) -> str:
    """points: (x, y, series index, label)."""
    size, left, top, bottom = 300, 48, 26, 40
    width, height = left + size + 16, top + size + bottom
    xs = [p[0] for p in points] or [0, 1]
    ys = [p[1] for p in points] or [0, 1]
    x0, x1 = min(0.0, min(xs)), _nice_max(max(xs))
    y0, y1 = min(0.0, min(ys)), _nice_max(max(ys))

    def px(v):
        return left + size * (v - x0) / ((x1 - x0) or 1)

    def py(v):
        return top + size - size * (v - y0) / ((y1 - y0) or 1)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}">',
           f'<text x="4" y="14" class="t">{esc(title)}</text>',
           f'<rect x="{left}" y="{top}" width="{size}" height="{size}" class="frame"/>']
    for k in range(5):
        xv, yv = x0 + (x1 - x0) * k / 4, y0 + (y1 - y0) * k / 4
        out.append(f'<text x="{px(xv):.1f}" y="{top + size + 13}" class="ax" text-anchor="middle">{_fmt(xv)}</text>'
                   f'<text x="{left - 4}" y="{py(yv) + 3:.1f}" class="ax" text-anchor="end">{_fmt(yv)}</text>')
    for x, y, s, label in points:
        out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="4" fill="{color(s)}" fill-opacity="0.8">'
                   f'<title>{esc(label)}: {_fmt(x)}, {_fmt(y)}</title></circle>')
    out.append(f'<text x="{left + size / 2}" y="{height - 6}" class="ax" text-anchor="middle">{esc(xlabel)}</text>')
    out.append(f'<text x="12" y="{top + size / 2}" class="ax" text-anchor="middle" '
               f'transform="rotate(-90 12 {top + size / 2})">{esc(ylabel)}</text>')
    out.append("</svg>")
    return "".join(out)


def lines(series: list[tuple], title: str, xlabel: str, ylabel: str, y_max: float | None = None,
          shade: tuple[float, float] | None = None) -> str:
    """Line chart with CI bands. series: (name, xs, ys, lows, highs, colour index); lows/highs may
    be None (no band). `shade`: an x range drawn as a grey background band (and named in the title
    of its rectangle)."""
    width, height, left, right, top, bottom = 330, 210, 40, 10, 26, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [x for s in series for x in s[1]] or [0.0, 1.0]
    x0, x1 = min(xs), max(xs)
    tops = [v for s in series for v in list(s[2]) + list(s[4] or []) if v is not None]
    top_value = max(tops or [1.0])
    y1 = y_max if y_max is not None else next((c for c in (0.05, 0.1, 0.2, 0.25, 0.5) if top_value <= c), None) \
        or _nice_max(top_value)

    def px(v):
        return left + plot_w * (v - x0) / ((x1 - x0) or 1)

    def py(v):
        return top + plot_h - plot_h * min(max(v, 0.0), y1) / (y1 or 1)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}">',
           f'<text x="4" y="14" class="t">{esc(title)}</text>']
    if shade:
        a, b = px(shade[0]), px(shade[1])
        out.append(f'<rect x="{a:.1f}" y="{top}" width="{b - a:.1f}" height="{plot_h}" fill="#f2f2f2">'
                   f'<title>{_fmt(shade[0])}–{_fmt(shade[1])}</title></rect>')
    for k in range(5):
        yv, xv = y1 * k / 4, x0 + (x1 - x0) * k / 4
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{py(yv):.1f}" y2="{py(yv):.1f}" class="grid"/>'
                   f'<text x="{left - 4}" y="{py(yv) + 3:.1f}" class="ax" text-anchor="end">{_fmt(yv)}</text>'
                   f'<text x="{px(xv):.1f}" y="{top + plot_h + 12}" class="ax" text-anchor="middle">{_fmt(xv)}</text>')
    for name, sx, sy, lo, hi, ci in series:
        if lo is not None and hi is not None and len(sx) > 1:
            upper = " ".join(f"{px(x):.1f},{py(v):.1f}" for x, v in zip(sx, hi))
            lower = " ".join(f"{px(x):.1f},{py(v):.1f}" for x, v in reversed(list(zip(sx, lo))))
            out.append(f'<polygon points="{upper} {lower}" fill="{color(ci)}" fill-opacity="0.18" stroke="none">'
                       f'<title>{esc(name)}: 95% CI</title></polygon>')
        pts = " ".join(f"{px(x):.1f},{py(v):.1f}" for x, v in zip(sx, sy))
        out.append(f'<polyline points="{pts}" fill="none" stroke="{color(ci)}" stroke-width="1.8">'
                   f'<title>{esc(name)}</title></polyline>')
    out.append(f'<text x="{left + plot_w / 2}" y="{height - 4}" class="ax" text-anchor="middle">{esc(xlabel)}</text>')
    out.append(f'<text x="10" y="{top + plot_h / 2}" class="ax" text-anchor="middle" '
               f'transform="rotate(-90 10 {top + plot_h / 2})">{esc(ylabel)}</text>')
    out.append("</svg>")
    return "".join(out)


def ranked(items: list[tuple[str, float, str, str]], title: str, colors: dict, tail: int = 10) -> str:
    """One thin bar per row, ranked (the caller's order), coloured by class: the long tail at the
    right, its last `tail` bars keyed below. items: (label, value, class, short key)."""
    n = len(items)
    bar_w = max(2, min(10, 820 // max(n, 1)))
    left, top, bottom = 44, 28, 34
    width = max(260, left + 60 + bar_w * n)
    height = 230
    plot_h = height - top - bottom
    vmax = _nice_max(max([v for _, v, _, _ in items] or [1.0]))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}">',
           f'<text x="{left}" y="16" class="t">{esc(title)}</text>']
    for k in range(5):
        v = vmax * k / 4
        y = top + plot_h - plot_h * k / 4
        out.append(f'<line x1="{left}" x2="{width - 6}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                   f'<text x="{left - 4}" y="{y + 3:.1f}" class="ax" text-anchor="end">{_fmt(v)}</text>')
    for k, (label, v, cls, _) in enumerate(items):
        h = max(0.5, plot_h * min(max(v, 0.0), vmax) / vmax)
        x = left + 4 + k * bar_w
        out.append(f'<rect x="{x}" y="{top + plot_h - h:.1f}" width="{max(1, bar_w - 1)}" height="{h:.1f}" '
                   f'fill="{esc(colors.get(cls, "#999"))}"><title>#{k + 1} {esc(label)}: {_fmt(v)}</title></rect>')
    if n > tail:
        x0 = left + 4 + (n - tail) * bar_w
        out.append(f'<line x1="{x0 - 1}" x2="{x0 - 1}" y1="{top}" y2="{top + plot_h}" class="grid"/>'
                   f'<text x="{x0 - 3}" y="{top + plot_h + 14}" class="ax" text-anchor="end">rank 1 … {n - tail}</text>'
                   f'<text x="{x0 + 2}" y="{top + plot_h + 14}" class="ax tail">lowest {tail} →</text>')
    out.append("</svg>")
    return "".join(out)
