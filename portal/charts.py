"""Charts as inline SVG, drawn with matplotlib's object API on the Agg/SVG canvas (no pyplot, no
GUI backend). Text stays text (`svg.fonttype: none`), so it is searchable, selectable and read
out by screen readers; every bar carries its signed amount, so nothing is told by colour alone.

Money is Decimal up to the drawing: bar geometry is converted to float here and only here
(matplotlib draws in floats); every number printed on a chart is formatted from the Decimal.
"""

from __future__ import annotations

import base64
import io
import re
import threading
from dataclasses import dataclass
from decimal import Decimal
from xml.sax.saxutils import escape, quoteattr

import matplotlib

matplotlib.use("Agg")  # never a GUI backend on a server

from matplotlib.backends.backend_svg import FigureCanvasSVG  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from billing_core.bill_bridge import Bridge, BridgeTotals  # noqa: E402
from billing_core.money import ZERO, cents  # noqa: E402

TOTAL_COLOUR = "#1f4e8c"  # the portal's brand blue
UP_COLOUR = "#b4462f"  # premium went up
DOWN_COLOUR = "#2e7d4f"  # premium went down
INK = "#1d2433"
MUTED = "#5b6475"
GRID = "#d9dee7"
MINUS = "\u2212"

SHORT_LABELS = {
    "adds": "Adds",
    "terms": "Terms",
    "tier_plan": "Tier & plan\nchanges",
    "volume": "Volume &\nsalary",
    "rate": "Rate\nchanges",
    "retro": "Retro\nadjustments",
}

# rcParams are process-global; the context below changes them only while one chart is drawn.
_RC = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 8.5,
    "axes.unicode_minus": True,
    "axes.edgecolor": GRID,
    "axes.labelcolor": INK,
    "xtick.color": INK,
    "ytick.color": MUTED,
    "path.simplify": False,
}
_LOCK = threading.Lock()
_PROLOG = re.compile(r"\A.*?(?=<svg\b)", re.S)
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.S)
_SVG_OPEN = re.compile(r"<svg\b[^>]*>")


def signed_money(amount: Decimal) -> str:
    """`+1,234.50`, `−38.20` (a true minus sign), `0.00`."""
    amount = cents(amount)
    if amount == 0:
        return "0.00"
    sign = "+" if amount > 0 else MINUS
    return f"{sign}{abs(amount):,.2f}"


def money(amount: Decimal) -> str:
    amount = cents(amount)
    text = f"{abs(amount):,.2f}"
    return f"{MINUS}{text}" if amount < 0 else text


@dataclass(frozen=True)
class _Bar:
    label: str
    start: Decimal  # where a floating bar starts (0 for a total)
    end: Decimal
    kind: str  # total, up, down, zero
    text: str


def _bars(bridge: Bridge | BridgeTotals) -> list[_Bar]:
    prior_period = (
        f"{bridge.prior_invoice.period_start:%b %Y}" if bridge.prior_invoice else "no prior bill"
    )
    bars = [
        _Bar(
            f"Prior billed\n{prior_period}",
            ZERO,
            bridge.prior_billed,
            "total",
            money(bridge.prior_billed),
        )
    ]
    level = bridge.prior_billed
    for step in bridge.steps:
        amount = step.amount
        kind = "zero" if amount == 0 else ("up" if amount > 0 else "down")
        label = SHORT_LABELS.get(step.key, step.label)
        bars.append(_Bar(label, level, level + amount, kind, signed_money(amount)))
        level += amount
    bars.append(
        _Bar(
            f"Current billed\n{bridge.invoice.period_start:%b %Y}",
            ZERO,
            bridge.current_billed,
            "total",
            money(bridge.current_billed),
        )
    )
    return bars


def _limits(bars: list[_Bar]) -> tuple[float, float, bool]:
    """(bottom, top, truncated). When every level is above zero and the whole walk spans less
    than a fifth of the largest bar, bars from zero would hide the steps: the axis then starts
    on a round value below the lowest level, the chart says so and the total bars carry a break
    mark. Otherwise the axis includes zero."""
    levels = [float(b.end) for b in bars] + [float(b.start) for b in bars if b.kind != "total"]
    low, high = min(levels), max(levels)
    span = high - low
    if low > 0 and span > 0 and span < 0.2 * high:
        # Start on a round tick below the lowest level, leaving room for the labels under it.
        wanted = low - 0.7 * span
        ticks = MaxNLocator(nbins=5).tick_values(wanted, high)
        bottom = max([t for t in ticks if t <= wanted] or [0.0])
        return max(bottom, 0.0), high + 0.28 * span, bottom > 0
    low, high = min(low, 0.0), max(high, 0.0)
    pad = (high - low) * 0.14 or 1.0
    return low - (pad if low < 0 else 0.0), high + pad, False


def bridge_summary_text(bridge: Bridge | BridgeTotals) -> str:
    """The chart in words (its aria-label, or an image's alt text): every bar's amount."""
    steps = "; ".join(f"{step.label.lower()} {signed_money(step.amount)}" for step in bridge.steps)
    return (
        f"Bill bridge. Prior billed {money(bridge.prior_billed)}; {steps}; "
        f"current billed {money(bridge.current_billed)}."
    )


def bridge_waterfall_svg(bridge: Bridge | BridgeTotals) -> str:
    """The bill bridge as a waterfall: the prior bill's premium, one floating bar per step (a
    thin line for a step of zero), the current bill's premium; each bar labelled with its signed
    amount. Returns an `<svg role="img" aria-label=...>` element with a `<title>` and no XML
    prolog, ready to inline in HTML or a WeasyPrint document; about 720 px wide; the same bridge
    always gives the same bytes (ids are salted with the invoice number, no date is written)."""
    bars = _bars(bridge)
    bottom, top, truncated = _limits(bars)
    salt = f"bill-bridge-{bridge.invoice.invoice_number}"
    with _LOCK, matplotlib.rc_context({**_RC, "svg.hashsalt": salt}):
        figure = Figure(figsize=(7.5, 2.9), dpi=96)
        FigureCanvasSVG(figure)
        axes = figure.add_axes((0.095, 0.215, 0.89, 0.745))
        span = top - bottom
        x = list(range(len(bars)))
        width = 0.62
        for i, bar in enumerate(bars):
            start, end = float(bar.start), float(bar.end)
            if bar.kind == "total":
                base = max(0.0, bottom) if end >= 0 else min(0.0, top)
                axes.bar(i, end - base, width, bottom=base, color=TOTAL_COLOUR, zorder=3)
                if truncated:
                    _break_mark(axes, i, width, bottom + span * 0.05, span)
            elif bar.kind == "zero":
                axes.hlines(end, i - width / 2, i + width / 2, colors=MUTED, lw=1.4, zorder=3)
            else:
                colour = UP_COLOUR if bar.kind == "up" else DOWN_COLOUR
                low, high = min(start, end), max(start, end)
                # A change too small to see still gets a visible sliver.
                height = max(high - low, span * 0.004)
                axes.bar(i, height, width, bottom=low, color=colour, zorder=3)
            if i + 1 < len(bars):
                axes.hlines(
                    end,
                    i + width / 2,
                    i + 1 - width / 2,
                    colors=MUTED,
                    lw=0.8,
                    linestyles=(0, (2, 2)),
                    zorder=2,
                )
            below = bar.kind == "down" or (bar.kind == "total" and end < 0)
            y = min(start, end) if below else max(start, end, bottom)
            axes.annotate(
                bar.text,
                (i, y),
                xytext=(0, -4 if below else 4),
                textcoords="offset points",
                ha="center",
                va="top" if below else "bottom",
                fontsize=8.5,
                fontweight="bold" if bar.kind == "total" else "normal",
                color=INK,
                zorder=4,
            )
        axes.set_xlim(-0.6, len(bars) - 0.4)
        axes.set_ylim(bottom, top)
        axes.set_xticks(x, [b.label for b in bars], fontsize=8)
        axes.tick_params(axis="x", length=0, pad=5)
        axes.tick_params(axis="y", length=0, labelsize=7.5)
        axes.yaxis.set_major_locator(MaxNLocator(nbins=5))
        axes.yaxis.set_major_formatter(
            FuncFormatter(lambda value, _pos: f"{value:,.0f}".replace("-", MINUS))
        )
        axes.grid(axis="y", color=GRID, lw=0.6, zorder=0)
        for side in ("top", "right", "left"):
            axes.spines[side].set_visible(False)
        if truncated:
            axes.text(
                0.0,
                -0.2,
                f"Scale starts at {bottom:,.0f}, not zero, so the changes can be seen.",
                transform=axes.transAxes,
                fontsize=7,
                color=MUTED,
                va="top",
            )
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return _accessible(buffer.getvalue(), bridge_summary_text(bridge), _title(bridge))


def _break_mark(axes, x: float, width: float, y: float, span: float) -> None:
    """Two white slashes across a bar cut short by an axis that does not start at zero."""
    for offset in (0.0, span * 0.025):
        axes.plot(
            [x - width / 2 - 0.02, x + width / 2 + 0.02],
            [y + offset - span * 0.012, y + offset + span * 0.012],
            color="white",
            lw=2.2,
            zorder=3.5,
            solid_capstyle="butt",
        )


def svg_data_uri(svg: str) -> str:
    """`svg` as a data: URL for `<img src>`. Use it where the SVG cannot be inlined: the portal's
    Content-Security-Policy (`style-src 'self'`) blocks the style attributes of an inline SVG,
    not those of an image; WeasyPrint also reads an image's SVG styles without complaint."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")


def _title(bridge: Bridge | BridgeTotals) -> str:
    return (
        f"Bill bridge for invoice {bridge.invoice.invoice_number}: "
        f"from {money(bridge.prior_billed)} to {money(bridge.current_billed)}"
    )


def _accessible(svg: str, label: str, title: str) -> str:
    svg = _PROLOG.sub("", svg, count=1)
    svg = _METADATA.sub("", svg, count=1)
    # matplotlib's one style rule is `*{...}`; inline in HTML it would reach the whole page.
    svg = svg.replace('<style type="text/css">*{', '<style type="text/css">.chart *{', 1)
    match = _SVG_OPEN.search(svg)
    opening = match.group(0)
    # Scale with the page: keep the viewBox, let CSS set the size.
    opening = re.sub(r'\s(width|height)="[^"]*"', "", opening)
    opening = opening[:-1] + f' role="img" aria-label={quoteattr(label)} class="chart">'
    return (
        svg[: match.start()] + opening + f"\n <title>{escape(title)}</title>" + svg[match.end() :]
    ).strip() + "\n"


# --------------------------------------------------------------------------- statement charts

BILLED_COLOUR = "#1f4e8c"
PAID_COLOUR = "#7fa7d9"
AGING_COLOURS = ("#2e7d4f", "#c9a227", "#d9822b", "#b4462f", "#8c2a2a", "#5c1a1a")


def _compact(value: float) -> str:
    """Axis labels: 12,300 -> 12.3k, 1,250,000 -> 1.25M."""
    size = abs(value)
    sign = MINUS if value < 0 else ""
    if size >= 1_000_000:
        return f"{sign}{size / 1_000_000:,.2f}".rstrip("0").rstrip(".") + "M"
    if size >= 10_000:
        return f"{sign}{size / 1_000:,.1f}".rstrip("0").rstrip(".") + "k"
    return f"{sign}{size:,.0f}"


def _svg(figure: Figure, label: str, title: str) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    return _accessible(buffer.getvalue(), label, title)


def billed_paid_summary_text(months) -> str:
    """The chart in words, for screen readers: every month's billed and paid."""
    if not months:
        return "Billed and paid by month: no bills in this range."
    parts = "; ".join(f"{m.label} billed {money(m.billed)}, paid {money(m.paid)}" for m in months)
    return f"Billed and paid by coverage month. {parts}."


def billed_paid_svg(months, *, salt: str = "billed-paid") -> str:
    """Billed vs paid by coverage month (`months`: objects with `label`, `billed`, `paid`, as
    `billing_core.statements.MonthTotal`): a pair of bars a month, billed left and paid right,
    with a legend; the month's open amount
    is printed above a month that is not fully paid. Same data, same bytes. Paid bars are
    light with a dark outline, billed bars solid, so colour is not the only cue (a hatch pattern
    would say it too, but doubles the time WeasyPrint takes to draw the chart)."""
    months = list(months)
    with _LOCK, matplotlib.rc_context({**_RC, "svg.hashsalt": salt}):
        figure = Figure(figsize=(7.5, 2.6), dpi=96)
        FigureCanvasSVG(figure)
        axes = figure.add_axes((0.085, 0.2, 0.9, 0.68))
        if not months:
            axes.text(0.5, 0.5, "No bills in this range", ha="center", va="center", color=MUTED)
            axes.set_axis_off()
            return _svg(figure, billed_paid_summary_text(months), "Billed and paid by month")
        x = list(range(len(months)))
        width = 0.38
        billed = [float(m.billed) for m in months]
        paid = [float(m.paid) for m in months]
        axes.bar(
            [i - width / 2 for i in x], billed, width, color=BILLED_COLOUR, label="Billed", zorder=3
        )
        axes.bar(
            [i + width / 2 for i in x],
            paid,
            width,
            color=PAID_COLOUR,
            label="Paid",
            edgecolor=BILLED_COLOUR,
            linewidth=0.9,
            zorder=3,
        )
        top = max(billed + paid + [1.0])
        # More than a year of months leaves no room for "1.82M open" side by side: the amount
        # alone, turned upright (the figure's alt text and the table below say what it is).
        crowded = len(months) > 12
        for i, m in enumerate(months):
            if m.open > 0 and m.billed > 0:
                axes.annotate(
                    _compact(float(m.open)) if crowded else f"{_compact(float(m.open))} open",
                    (i, max(float(m.billed), float(m.paid))),
                    xytext=(0, 3),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                    rotation=90 if crowded else 0,
                    fontsize=6.5,
                    color=MUTED,  # not yet due is not an alarm: no warning colour
                    zorder=4,
                )
        axes.set_ylim(min(0.0, min(billed + paid)), top * (1.45 if crowded else 1.16))
        axes.set_xlim(-0.6, len(months) - 0.4)
        step = 1 if len(months) <= 14 else 2
        axes.set_xticks(
            x[::step], [m.label.replace(" ", "\n") for m in months][::step], fontsize=7.5
        )
        axes.tick_params(axis="x", length=0, pad=4)
        axes.tick_params(axis="y", length=0, labelsize=7.5)
        axes.yaxis.set_major_locator(MaxNLocator(nbins=4))
        axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: _compact(value)))
        axes.grid(axis="y", color=GRID, lw=0.6, zorder=0)
        for side in ("top", "right", "left"):
            axes.spines[side].set_visible(False)
        axes.legend(
            loc="lower left",
            bbox_to_anchor=(0.0, 1.0),
            ncols=2,
            frameon=False,
            fontsize=7.5,
            handlelength=1.4,
            borderaxespad=0.2,
        )
        return _svg(figure, billed_paid_summary_text(months), "Billed and paid by month")


def aging_summary_text(rows) -> str:
    parts = "; ".join(f"{label} {money(amount)}" for label, amount in rows)
    return f"Open balance by days past due. {parts}."
