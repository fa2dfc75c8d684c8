"""The invoice page's member lines are written in Python (`invoice_pages.member_line_rows`)
exactly as the template's loop wrote them, text escaped as its autoescape did."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from billing_core.models.enums import Tier
from portal.invoice_pages import member_line_rows

# invoices/_lines.html's loop before the rows were written in Python.
TEMPLATE_LOOP = """\
{% for last_name, first_name, member_key, employee_id, product_name, description, coverage_month, tier, volume, rate, amount in items %}
    <tr>
      <td>{{ last_name }}, {{ first_name }}<br><span class="muted">{{ member_key }}{% if employee_id %} · emp {{ employee_id }}{% endif %}</span></td>
      <td>{{ product_name }}<br><span class="muted">{{ description }}</span></td>
      <td class="nowrap">{{ coverage_month|period }}</td>
      <td>{{ tier.value if tier else '' }}</td>
      <td class="num">{{ volume|money if volume is not none else '' }}</td>
      <td class="num">{{ rate|rate }}</td>
      <td class="num">{{ amount|money }}</td>
    </tr>
  {% endfor %}"""  # noqa: E501

ROWS = [
    (
        "O'Brien <b>",
        "Ann & Co",
        "M0001",
        "E\"7",
        "Dental",
        "EE 1 month",
        date(2027, 1, 1),
        Tier.EE,
        None,
        Decimal("41.5000"),
        Decimal("41.50"),
    ),
    ("Lee", "Bo", "M0002", None, "Life", None, date(2027, 2, 1), None, Decimal("50000.00"),
     Decimal("0.225"), Decimal("-11.25")),
    ("Ng", "Al", "M0003", "", "Vision", "reduced to 65%", None, Tier.FAM, Decimal("0"),
     None, Decimal("1302.75")),
]  # fmt: skip


def test_member_line_rows_are_the_template_loop_byte_for_byte(web_app):
    with web_app.app_context():
        expected = web_app.jinja_env.from_string(TEMPLATE_LOOP).render(items=ROWS)
    # The loop's text starts after `{% for %}` ("\n    <tr>") and ends before `{% endfor %}`.
    assert str(member_line_rows(ROWS)) == expected
    assert "O&#39;Brien &lt;b&gt;" in expected and "E&#34;7" in expected
    assert member_line_rows([]) == ""
