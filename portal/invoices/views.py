"""Customer pages for invoices: history, one invoice, its PDFs, and paying it."""

from __future__ import annotations

import hashlib
import re
from io import BytesIO

from flask import Blueprint, abort, current_app, flash, request, send_file, url_for
from flask_babel import get_locale, get_timezone
from flask_babel import gettext as _

from portal.customers.auth import customer_required, feature_required
from portal.dbtypes import utcnow
from portal.events import customer_actor
from portal.extensions import db
from portal.invoices import operations, pdf
from portal.invoices.forms import PayInvoiceForm
from portal.money import format_money
from portal.payments.gateway import get_gateway
from portal.portal_settings.operations import get_branding
from portal.rendering import render_page, see_other, wants_fragment

bp = Blueprint("invoices", __name__, url_prefix="/p")

# Switched off, invoices do not exist for the customer: history, pages, PDFs and paying alike.
history_enabled = feature_required(lambda configuration: configuration.invoice_history_enabled)
_SAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")
# The only bytes that differ between two renders of the same document: when it was made, and
# the file id fpdf derives from all the bytes. Left out of the ETag, so a PDF that says the same
# thing revalidates with 304 however often it is rendered.
_RENDER_STAMPS = re.compile(rb"/CreationDate \(D:[0-9Z+\-']*\)|/ID \[<[0-9A-F]*><[0-9A-F]*>\]")


@bp.context_processor
def invoice_helpers():
    """Words for statuses, cards and declines, for the invoice templates."""
    return {"card_label": operations.card_label, "status_label": operations.status_label,
            "decline_message": operations.decline_message}


def _page_size(value) -> int:
    try:
        return min(max(int(value), 1), 100)
    except (TypeError, ValueError):
        return operations.PAGE_SIZE


def _own_invoice(customer, invoice_id: str):
    invoice = operations.customer_invoice(db.session, customer.id, invoice_id, with_details=True)
    if invoice is None:
        abort(404)
    return invoice


def _locale() -> str:
    return str(get_locale() or "en")


def _money(amount: int, currency: str) -> str:
    return format_money(amount, currency, _locale())


def _pay_form(customer, invoice, form: PayInvoiceForm | None = None, methods=None
              ) -> PayInvoiceForm | None:
    """The pay form with a fresh key, or None when the invoice cannot be paid now."""
    if not operations.is_payable(invoice):
        return None
    form = form or PayInvoiceForm(formdata=None)
    if methods is None:
        methods = operations.attached_payment_methods(db.session, customer.id)
    form.use_methods(methods, customer.default_payment_method_id)
    form.fresh_key()
    return form


def _render_invoice(customer, invoice, *, form=None, status=200, notice=None,
                    notice_kind="success"):
    now = utcnow()
    methods = operations.attached_payment_methods(db.session, customer.id)
    return render_page(
        "invoices/invoice.html", "invoices/_pay.html", status=status,
        customer=customer, invoice=invoice, form=_pay_form(customer, invoice, form, methods),
        methods=methods,
        display_status=operations.display_status(invoice, now), now=now,
        taxes=operations.tax_breakdown(invoice),
        processing=operations.processing_payment(invoice),
        notice_message=notice, notice_kind=notice_kind,
    )


@bp.get("/invoices")
@customer_required
@history_enabled
def invoice_history(customer):
    """The customer's invoices, newest first, ten to a page."""
    limit = _page_size(current_app.config.get("INVOICES_PER_PAGE"))
    history = operations.invoice_page(db.session, customer.id,
                                      after=request.args.get("after", type=str),
                                      before=request.args.get("before", type=str), limit=limit)
    now = utcnow()
    return render_page("invoices/history.html", "invoices/_history.html", customer=customer,
                       history=history, statuses={i.id: operations.display_status(i, now)
                                                  for i in history.invoices})


@bp.get("/invoices/<invoice_id>")
@customer_required
@history_enabled
def invoice_detail(customer, invoice_id):
    """One invoice: its lines, totals, payments, PDFs and, while open, a way to pay it."""
    return _render_invoice(customer, _own_invoice(customer, invoice_id))


def _pdf_response(data: bytes, filename: str):
    name = _SAFE_FILENAME.sub("-", filename).strip("-") or "document.pdf"
    response = send_file(BytesIO(data), mimetype="application/pdf", as_attachment=True,
                         download_name=name, max_age=0)
    # Weak: the same document in meaning, not byte for byte (its creation date differs).
    response.set_etag(hashlib.sha256(_RENDER_STAMPS.sub(b"", data)).hexdigest()[:32], weak=True)
    return response.make_conditional(request)


def _formatting() -> pdf.Formatting:
    """The page's locale and timezone, handed to the PDF builder, which reads no request."""
    return pdf.Formatting(locale=get_locale() or "en", timezone=str(get_timezone() or "UTC"))


@bp.get("/invoices/<invoice_id>/invoice.pdf")
@customer_required
@history_enabled
def invoice_pdf(customer, invoice_id):
    """Download the invoice as a PDF carrying the merchant's branding."""
    invoice = _own_invoice(customer, invoice_id)
    data = pdf.invoice_pdf(invoice, get_branding(db.session), now=utcnow(), fmt=_formatting())
    return _pdf_response(data, f"{invoice.number or invoice.id}.pdf")


@bp.get("/invoices/<invoice_id>/receipt.pdf")
@customer_required
@history_enabled
def receipt_pdf(customer, invoice_id):
    """Download the receipt of a paid invoice; other invoices have none."""
    invoice = _own_invoice(customer, invoice_id)
    if invoice.status != "paid":
        abort(404)
    data = pdf.receipt_pdf(invoice, get_branding(db.session), fmt=_formatting())
    return _pdf_response(data, f"{invoice.number or invoice.id}-receipt.pdf")


@bp.post("/invoices/<invoice_id>/pay")
@customer_required
@history_enabled
def pay_invoice(customer, invoice_id):
    """Pay an open or past-due invoice with a saved card, charging at most once."""
    invoice = _own_invoice(customer, invoice_id)
    form = PayInvoiceForm()
    methods = operations.attached_payment_methods(db.session, customer.id)
    form.use_methods(methods, customer.default_payment_method_id)
    if invoice.status != "open":
        return _finished(customer, invoice, already=True)
    if not form.validate():
        return _render_invoice(customer, invoice, form=form, status=422)
    method = next(m for m in methods if m.id == form.payment_method.data)
    try:
        result = operations.pay_invoice(
            db.session, invoice, method, form.idempotency_key.data, now=utcnow(),
            actor=customer_actor(customer.id), gateway=get_gateway(),
        )
    except operations.PaymentRefused as refusal:
        db.session.rollback()
        if refusal.field:
            getattr(form, refusal.field).errors.append(refusal.message)
            return _render_invoice(customer, invoice, form=form, status=422)
        if refusal.code in ("in_progress", "not_payable"):
            return _finished(customer, invoice, message=refusal.message, kind="warning")
        form.form_errors.append(refusal.message)
        return _render_invoice(customer, invoice, form=form, status=422)
    if result.status == "failed":
        form.payment_method.errors.append(result.message)
        return _render_invoice(customer, invoice, form=form, status=422)
    if result.status == "processing":
        return _finished(customer, invoice, kind="info", message=_(
            "We are still confirming this payment with your card issuer, so do not pay again. "
            "Check this page in a few minutes."))
    return _finished(customer, invoice, already=result.status == "already_paid" or result.replayed)


def _finished(customer, invoice, *, already: bool = False, message: str | None = None,
              kind: str = "success"):
    """After a pay request: 303 to the invoice for a plain post, the fresh fragment for htmx."""
    db.session.refresh(invoice)
    if message is None:
        if invoice.status == "paid" and already:
            message = _("This invoice is already paid. You have not been charged again.")
            kind = "info"
        elif invoice.status == "paid":
            message = _("Payment of %(money)s received. Thank you.",
                        money=_money(invoice.amount_paid, invoice.currency))
        else:
            message, kind = operations.not_payable_message(invoice.status), "warning"
    if not wants_fragment():
        flash(message, kind)
        return see_other(url_for("invoices.invoice_detail", invoice_id=invoice.id))
    return _render_invoice(customer, invoice, notice=message, notice_kind=kind)
