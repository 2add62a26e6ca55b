from datetime import timedelta
from decimal import Decimal

import stripe

from portal.catalog.models import TaxRate
from portal.customers.models import TaxId
from portal.invoices.models import InvoiceLine
from portal.objects import serialize, serialize_by_id
from portal.portal_settings.models import Branding
from tests.objects.conftest import assert_matches_schema


def ts(moment):
    return int(moment.timestamp())


def test_a_paid_subscription_invoice_reads_back_through_stripe(
        session, make_customer, make_price, make_subscription, make_invoice, now):
    session.add(Branding(id=1, business_name="Acme Ltd", invoice_prefix="ACME"))
    customer = make_customer(address_line1="1 High Street", address_city="London",
                             address_country="GB")
    price = make_price(unit_amount=2000, currency="gbp")
    sub = make_subscription(customer, price=price)
    sub.metadata_ = {"plan": "pro"}
    rate = TaxRate(display_name="VAT", percentage=Decimal("20"), inclusive=False,
                   country="GB", created=now, metadata_={})
    session.add(rate)
    session.flush()
    invoice = make_invoice(customer, status="paid", amount=2000, currency="gbp",
                           subscription=sub, tax=360, discount=200,
                           billing_reason="subscription_cycle", attempt_count=1)
    invoice.customer_snapshot = {"name": "Jenny Rosen", "email": "jenny.rosen@example.com",
                                 "address": {"line1": "1 High Street", "city": "London",
                                             "country": "GB"},
                                 "tax_ids": [{"type": "gb_vat", "value": "GB123456789"}]}
    line = invoice.lines[0]
    line.price_id = price.id
    line.subscription_item_id = sub.items[0].id
    line.tax_rate_id = rate.id
    line.period_start, line.period_end = now, now + timedelta(days=30)
    invoice.metadata_ = {"order": "7"}
    session.commit()

    data = serialize(session, invoice)
    inv = stripe.Invoice.construct_from(data, "sk_test")

    assert_matches_schema("invoice", data)
    assert inv.id == invoice.id
    assert inv.number == invoice.number
    assert inv.status == "paid"
    assert inv.customer == customer.id
    assert inv.currency == "gbp"
    assert inv.subtotal == 2000
    assert inv.total == 2160
    assert inv.amount_due == 2160
    assert inv.amount_paid == 2160
    assert inv.amount_remaining == 0
    assert inv.total_excluding_tax == 1800
    assert inv.attempt_count == 1
    assert inv.attempted is True
    assert inv.billing_reason == "subscription_cycle"
    assert inv.account_name == "Acme Ltd"
    assert inv.customer_name == "Jenny Rosen"
    assert inv.customer_email == "jenny.rosen@example.com"
    assert inv.customer_address.city == "London"
    assert inv.customer_tax_ids[0].value == "GB123456789"
    assert inv.status_transitions.paid_at == ts(now)
    assert inv.status_transitions.finalized_at == ts(now)
    assert inv.due_date == ts(now + timedelta(days=7))
    assert inv.hosted_invoice_url == f"https://billing.example.com/p/invoices/{invoice.id}"
    assert inv.invoice_pdf == f"https://billing.example.com/p/invoices/{invoice.id}/invoice.pdf"
    assert inv.metadata.to_dict() == {"order": "7"}
    assert inv.parent.type == "subscription_details"
    assert inv.parent.subscription_details.subscription == sub.id
    assert inv.parent.subscription_details.metadata.to_dict() == {"plan": "pro"}
    assert inv.total_taxes[0].amount == 360
    assert inv.total_taxes[0].tax_rate_details.tax_rate == rate.id
    assert inv.total_discount_amounts[0].amount == 200
    assert inv.discounts == [inv.total_discount_amounts[0].discount]
    # The fields Stripe moved in 2025, still at the top level.
    assert inv.subscription == sub.id
    assert inv.paid is True
    assert inv.tax == 360
    assert inv.total_tax_amounts[0].amount == 360

    lines = inv.lines
    assert lines.object == "list"
    assert lines.url == f"/v1/invoices/{invoice.id}/lines"
    assert lines.total_count == 1
    item = lines.data[0]
    assert isinstance(item, stripe.InvoiceLineItem)
    assert item.id == line.id
    assert item.invoice == invoice.id
    assert item.amount == 2000
    assert item.currency == "gbp"
    assert item.quantity == 1
    assert item.description == "Pro plan"
    assert item.period.start == ts(now)
    assert item.period.end == ts(now + timedelta(days=30))
    assert item.pricing.price_details.price == price.id
    assert item.pricing.price_details.product == price.product_id
    assert item.pricing.unit_amount_decimal == Decimal("2000")  # stripe-python parses it
    assert item.parent.subscription_item_details.subscription_item == sub.items[0].id
    assert item.parent.subscription_item_details.proration is False
    assert item.taxes[0].amount == 360
    assert item.taxes[0].taxable_amount == 1800
    assert item.discount_amounts[0].amount == 200
    assert item.price.id == price.id
    assert item.price.unit_amount == 2000
    assert item.subscription == sub.id
    assert item.type == "subscription"


def test_a_draft_invoice_has_no_number_or_pages_and_shows_the_customer_as_they_are(
        session, make_customer, make_invoice):
    customer = make_customer(phone="+1 555 0100")
    session.add(TaxId(customer_id=customer.id, type="us_ein", value="12-3456789"))
    session.commit()
    invoice = make_invoice(customer, status="draft", due_date=None)
    invoice.customer_snapshot = {}
    session.commit()

    data = serialize_by_id(session, "invoice", invoice.id)

    assert_matches_schema("invoice", data)
    assert data["number"] is None
    assert data["hosted_invoice_url"] is None
    assert data["invoice_pdf"] is None
    assert data["status_transitions"]["finalized_at"] is None
    assert data["ending_balance"] is None
    assert data["due_date"] is None
    assert data["customer_phone"] == "+1 555 0100"
    assert data["customer_tax_ids"] == [{"type": "us_ein", "value": "12-3456789"}]
    assert data["subscription"] is None
    assert data["parent"] is None
    assert data["paid"] is False
    assert data["discounts"] == []
    assert data["total_taxes"] == []


def test_an_open_invoice_still_owes_its_amount(session, make_customer, make_invoice, now):
    invoice = make_invoice(make_customer(), status="open", amount=4500,
                           next_payment_attempt=now + timedelta(days=3))

    data = serialize(session, invoice)

    assert data["amount_remaining"] == 4500
    assert data["amount_paid"] == 0
    assert data["next_payment_attempt"] == ts(now + timedelta(days=3))
    assert data["auto_advance"] is True
    assert_matches_schema("invoice", data)


def test_a_line_without_a_period_takes_the_invoices(session, make_customer, make_invoice):
    invoice = make_invoice(make_customer())
    invoice.lines.append(InvoiceLine(position=1, description="Setup", quantity=2,
                                     unit_amount=500, amount=1000))
    session.commit()

    line = serialize_by_id(session, "line_item", invoice.lines[1].id)

    assert_matches_schema("line_item", line)
    assert line["period"] == {"start": ts(invoice.period_start), "end": ts(invoice.period_end)}
    assert line["price"] is None
    assert line["pricing"]["price_details"] is None
    assert line["parent"] is None
    assert line["type"] == "invoiceitem"
    assert line["quantity_decimal"] == "2"


def test_invoice_pages_are_null_without_a_public_url(app, session, make_customer, make_invoice):
    invoice = make_invoice(make_customer())
    app.config["PUBLIC_URL"] = ""

    data = serialize(session, invoice)

    assert data["hosted_invoice_url"] is None
    assert data["invoice_pdf"] is None
