"""Charts as small hand-written SVG: the bill bridge's waterfall and billed vs paid by month.

Decision: the SVG is written here, not drawn with a plotting library. A chart is a few dozen
rectangles, lines and labels; matplotlib took about 0.1 s to build each one and emitted
hundreds of nodes that WeasyPrint then spent about 0.2 s drawing, a third of the statement
PDF's time. Text stays text (searchable, selectable, read out by screen readers); every bar
carries its signed amount, so nothing is told by colour alone; the same data always gives the
same bytes (no ids, no dates).

Money is Decimal up to the drawing: bar geometry is converted to float here and only here;
every number printed on a chart is formatted from the Decimal.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from xml.sax.saxutils import escape, quoteattr  # nosec B406 # escapes SVG text; parses nothing

from billing_core.billing.bill_bridge import Bridge, BridgeTotals
from billing_core.money import ZERO, cents

TOTAL_COLOUR = "#1f4e8c"  # the portal's brand blue
UP_COLOUR = "#b4462f"  # premium went up
DOWN_COLOUR = "#2e7d4f"  # premium went down
INK = "#1d2433"
MUTED = "#5b6475"
GRID = "#d9dee7"
MINUS = "\u2212"
FONT = "DejaVu Sans, Verdana, sans-serif"
# DejaVu Sans digits are 0.636 em wide; letters average a little less. Used to leave room for
# axis labels and to place the legend, never to clip text.
CHAR_EM = 0.62

SHORT_LABELS = {
    "adds": "Adds",
    "terms": "Terms",
    "tier_plan": "Tier & plan\nchanges",
    "volume": "Volume &\nsalary",
    "rate": "Rate\nchanges",
    "retro": "Retro\nadjustments",
}


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


def svg_data_uri(svg: str) -> str:
    """`svg` as a data: URL for `<img src>`. Use it where the SVG cannot be inlined: the portal's
    Content-Security-Policy (`style-src 'self'`) blocks the style attributes of an inline SVG,
    not those of an image; WeasyPrint also reads an image's SVG without complaint."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")


# --------------------------------------------------------------------------- drawing


def nice_ticks(low: float, high: float, most: int) -> list[float]:
    """Round tick values covering [low, high], at most about `most` intervals, on a step of 1,
    2, 2.5 or 5 times a power of ten (what a reader expects on a money axis)."""
    if high <= low:
        high = low + 1.0
    raw = (high - low) / max(most, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(low / step + 1e-9) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _num(value: float) -> str:
    """A coordinate: one decimal, no `-0.0`, no trailing `.0`."""
    text = f"{value:.1f}"
    if text in ("-0.0", "0.0"):
        return "0"
    return text[:-2] if text.endswith(".0") else text


def _text_width(text: str, size: float) -> float:
    return len(text) * size * CHAR_EM


def _attributes(extra: dict[str, str]) -> str:
    """Keyword arguments as SVG attributes: stroke_width="1" -> ` stroke-width="1"`."""
    return "".join(f' {name.replace("_", "-")}="{value}"' for name, value in extra.items())


class _Canvas:
    """Collects SVG elements; `svg()` wraps them with the accessible `<svg>` element."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.parts: list[str] = []

    def rect(self, x: float, y: float, w: float, h: float, fill: str, **extra: str) -> None:
        self.parts.append(
            f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(w)}" height="{_num(max(h, 0.0))}"'
            f' fill="{fill}"{_attributes(extra)}/>'
        )

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str, **extra: str) -> None:
        self.parts.append(
            f'<line x1="{_num(x1)}" y1="{_num(y1)}" x2="{_num(x2)}" y2="{_num(y2)}"'
            f' stroke="{stroke}"{_attributes(extra)}/>'
        )

    def text(
        self,
        x: float,
        y: float,
        text: str,
        *,
        size: float = 11,
        anchor: str = "middle",
        fill: str = INK,
        bold: bool = False,
        rotate: bool = False,
    ) -> None:
        """One label; a `\\n` in `text` starts a second line under the first. `rotate` turns it
        upright, reading bottom to top from (x, y)."""
        attrs = f'x="{_num(x)}" y="{_num(y)}" font-size="{_num(size)}" fill="{fill}"'
        if anchor != "start":
            attrs += f' text-anchor="{anchor}"'
        if bold:
            attrs += ' font-weight="bold"'
        if rotate:
            attrs += f' transform="rotate(-90 {_num(x)} {_num(y)})"'
        first, *rest = text.split("\n")
        body = escape(first)
        if rest:
            body = f'<tspan x="{_num(x)}">{escape(first)}</tspan>' + "".join(
                f'<tspan x="{_num(x)}" dy="{_num(size * 1.2)}">{escape(line)}</tspan>'
                for line in rest
            )
        self.parts.append(f"<text {attrs}>{body}</text>")

    def svg(self, label: str, title: str) -> str:
        """The chart, with no XML prolog (ready to inline or to wrap in a data: URL). No width or
        height: the viewBox keeps the proportions and CSS sets the size."""
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {self.width} {self.height}"'
            f' role="img" aria-label={quoteattr(label)} class="chart"'
            f' font-family="{FONT}">\n'
            f"<title>{escape(title)}</title>\n" + "\n".join(self.parts) + "\n</svg>\n"
        )


@dataclass(frozen=True)
class _Axis:
    """Maps money (float) to a vertical pixel position inside the plot area."""

    bottom: float
    top: float
    y0: float  # pixel of `top`
    y1: float  # pixel of `bottom`

    def y(self, value: float) -> float:
        return self.y0 + (self.top - value) / (self.top - self.bottom) * (self.y1 - self.y0)


def _grid(canvas: _Canvas, axis: _Axis, ticks, left: float, right: float, label) -> None:
    for tick in ticks:
        if axis.bottom - 1e-9 <= tick <= axis.top + 1e-9:
            y = axis.y(tick)
            canvas.line(left, y, right, y, GRID, stroke_width="0.8")
            canvas.text(left - 6, y + 3.5, label(tick), size=10, anchor="end", fill=MUTED)


# --------------------------------------------------------------------------- bill bridge


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
        ticks = nice_ticks(wanted, high, 5)
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


def _title(bridge: Bridge | BridgeTotals) -> str:
    return (
        f"Bill bridge for invoice {bridge.invoice.invoice_number}: "
        f"from {money(bridge.prior_billed)} to {money(bridge.current_billed)}"
    )


def _axis_number(value: float) -> str:
    return f"{value:,.0f}".replace("-", MINUS)


def bridge_waterfall_svg(bridge: Bridge | BridgeTotals) -> str:
    """The bill bridge as a waterfall: the prior bill's premium, one floating bar per step (a
    thin line for a step of zero), the current bill's premium; each bar labelled with its signed
    amount, dashed connectors carrying the level from bar to bar. An `<svg role="img"
    aria-label=...>` element with a `<title>`, 720 x 280 in its own units. Drawn once per
    distinct bridge (what the drawing reads of it, `_DrawnBridge`): an issued invoice's bridge
    never changes, and its page shows the chart on every view."""
    return _waterfall_svg(_DrawnBridge.of(bridge))


@dataclass(frozen=True)
class _DrawnInvoice:
    invoice_number: str
    period_start: date


@dataclass(frozen=True)
class _DrawnStep:
    key: str
    label: str
    amount: Decimal


@dataclass(frozen=True)
class _DrawnBridge:
    """What the waterfall reads of a bridge (the same names), hashable: the drawing's key."""

    invoice: _DrawnInvoice
    prior_invoice: _DrawnInvoice | None
    prior_billed: Decimal
    current_billed: Decimal
    steps: tuple[_DrawnStep, ...]

    @classmethod
    def of(cls, bridge: Bridge | BridgeTotals) -> _DrawnBridge:
        def drawn(invoice) -> _DrawnInvoice | None:
            return invoice and _DrawnInvoice(invoice.invoice_number, invoice.period_start)

        return cls(
            drawn(bridge.invoice),
            drawn(bridge.prior_invoice),
            bridge.prior_billed,
            bridge.current_billed,
            tuple(_DrawnStep(s.key, s.label, s.amount) for s in bridge.steps),
        )


@lru_cache(maxsize=512)
def _waterfall_svg(bridge: _DrawnBridge) -> str:
    bars = _bars(bridge)
    bottom, top, truncated = _limits(bars)
    ticks = nice_ticks(bottom, top, 5)
    left = 18 + max(_text_width(_axis_number(t), 10) for t in ticks)
    right, plot_top, plot_bottom = 712.0, 14.0, 212.0
    canvas = _Canvas(720, 280)
    axis = _Axis(bottom, top, plot_top, plot_bottom)
    _grid(canvas, axis, ticks, left, right, _axis_number)
    canvas.line(left, plot_bottom, right, plot_bottom, GRID, stroke_width="1")

    slot = (right - left) / len(bars)
    width = slot * 0.62
    for i, bar in enumerate(bars):
        centre = left + slot * (i + 0.5)
        x = centre - width / 2
        start, end = float(bar.start), float(bar.end)
        if bar.kind == "total":
            base = max(0.0, bottom) if end >= 0 else min(0.0, top)
            y_top, y_bottom = sorted((axis.y(end), axis.y(base)))
            canvas.rect(x, y_top, width, y_bottom - y_top, TOTAL_COLOUR)
            if truncated:
                # Two white slashes across a bar cut short by an axis that does not start at 0.
                for offset in (12.0, 18.0):
                    y = plot_bottom - offset
                    canvas.line(x - 1, y + 3, x + width + 1, y - 3, "white", stroke_width="2.2")
        elif bar.kind == "zero":
            y = axis.y(end)
            canvas.line(x, y, x + width, y, MUTED, stroke_width="1.6")
        else:
            colour = UP_COLOUR if bar.kind == "up" else DOWN_COLOUR
            y_top, y_bottom = axis.y(max(start, end)), axis.y(min(start, end))
            # A change too small to see still gets a visible sliver.
            height = max(y_bottom - y_top, 1.0)
            canvas.rect(x, y_top, width, height, colour)
        if i + 1 < len(bars):
            y = axis.y(end)
            canvas.line(
                x + width, y, x + slot, y, MUTED, stroke_width="0.9", stroke_dasharray="3 3"
            )
        below = bar.kind == "down" or (bar.kind == "total" and end < 0)
        if below:
            y = axis.y(min(start, end)) + 13
        else:
            y = axis.y(max(start, end, bottom)) - 5
        canvas.text(centre, y, bar.text, size=11, bold=bar.kind == "total")
        canvas.text(centre, plot_bottom + 16, bar.label, size=10.5)
    if truncated:
        canvas.text(
            left,
            272,
            f"Scale starts at {bottom:,.0f}, not zero, so the changes can be seen.",
            size=9,
            anchor="start",
            fill=MUTED,
        )
    return canvas.svg(bridge_summary_text(bridge), _title(bridge))


# --------------------------------------------------------------------------- statement charts

BILLED_COLOUR = "#1f4e8c"
PAID_COLOUR = "#7fa7d9"


def _compact(value: float) -> str:
    """Axis labels: 12,300 -> 12.3k, 1,250,000 -> 1.25M."""
    size = abs(value)
    sign = MINUS if value < 0 else ""
    if size >= 1_000_000:
        return f"{sign}{size / 1_000_000:,.2f}".rstrip("0").rstrip(".") + "M"
    if size >= 10_000:
        return f"{sign}{size / 1_000:,.1f}".rstrip("0").rstrip(".") + "k"
    return f"{sign}{size:,.0f}"


def billed_paid_summary_text(months) -> str:
    """The chart in words, for screen readers: every month's billed and paid."""
    if not months:
        return "Billed and paid by month: no bills in this range."
    parts = "; ".join(f"{m.label} billed {money(m.billed)}, paid {money(m.paid)}" for m in months)
    return f"Billed and paid by coverage month. {parts}."


def billed_paid_svg(months) -> str:
    """Billed vs paid by coverage month (`months`: objects with `label`, `billed`, `paid`,
    `open`, as `billing_core.reports.statements.MonthTotal`): a pair of bars a month, billed left and
    paid right, with a legend; the month's open amount is printed above a month that is not
    fully paid. Paid bars are light with a dark outline, billed bars solid, so colour is not
    the only cue. 720 x 250 in its own units. Drawn once per distinct months (MonthTotal is
    frozen): the employer's dashboard shows the same group's chart on every view until the
    group is billed or pays."""
    return _billed_paid_svg(tuple(months))


@lru_cache(maxsize=512)
def _billed_paid_svg(months: tuple) -> str:
    title = "Billed and paid by month"
    canvas = _Canvas(720, 250)
    if not months:
        canvas.text(360, 125, "No bills in this range", size=12, fill=MUTED)
        return canvas.svg(billed_paid_summary_text(months), title)

    billed = [float(m.billed) for m in months]
    paid = [float(m.paid) for m in months]
    # More than a year of months leaves no room for "1.82M open" side by side: the amount
    # alone, turned upright (the alt text and the table beside the chart say what it is).
    crowded = len(months) > 12
    highest = max(billed + paid + [1.0])
    lowest = min(0.0, *billed, *paid)
    top = highest * (1.4 if crowded else 1.14)
    ticks = nice_ticks(lowest, top, 4)
    left = 16 + max(_text_width(_compact(t), 10) for t in ticks)
    right, plot_top, plot_bottom = 712.0, 28.0, 204.0
    axis = _Axis(lowest, top, plot_top, plot_bottom)
    _grid(canvas, axis, ticks, left, right, _compact)

    # Legend, top left: a swatch and a word for each series.
    canvas.rect(left, 6, 14, 9, BILLED_COLOUR)
    canvas.text(left + 19, 14.5, "Billed", size=10, anchor="start")
    paid_x = left + 19 + _text_width("Billed", 10) + 14
    canvas.rect(paid_x, 6, 14, 9, PAID_COLOUR, stroke=BILLED_COLOUR, stroke_width="1")
    canvas.text(paid_x + 19, 14.5, "Paid", size=10, anchor="start")

    slot = (right - left) / len(months)
    width = slot * 0.38
    zero = axis.y(0.0)
    label_every = 1 if len(months) <= 14 else 2
    shown_year = None
    for i, month in enumerate(months):
        centre = left + slot * (i + 0.5)
        for value, x, is_paid in ((billed[i], centre - width, False), (paid[i], centre, True)):
            y_top, y_bottom = sorted((axis.y(value), zero))
            if is_paid:
                canvas.rect(
                    x + 0.5, y_top, width - 1, y_bottom - y_top, PAID_COLOUR,
                    stroke=BILLED_COLOUR, stroke_width="1",
                )  # fmt: skip
            else:
                canvas.rect(x, y_top, width, y_bottom - y_top, BILLED_COLOUR)
        if month.open > 0 and month.billed > 0:
            amount = _compact(float(month.open))
            y = axis.y(max(billed[i], paid[i])) - 4
            if crowded:
                canvas.text(
                    centre + 3, y, amount, size=8.5, anchor="start", fill=MUTED, rotate=True
                )
            else:
                canvas.text(centre, y, f"{amount} open", size=8.5, fill=MUTED)
        if i % label_every == 0:
            # The year under the first month shown and wherever it changes, not under each.
            word, _, year = month.label.partition(" ")
            canvas.text(
                centre,
                plot_bottom + 15,
                word if year == shown_year else f"{word}\n{year}",
                size=9.5,
            )
            shown_year = year
    canvas.line(left, zero, right, zero, MUTED, stroke_width="0.8")
    return canvas.svg(billed_paid_summary_text(months), title)
