"""Dashboard views: the product catalog. Products (name, description, image, tax code,
statement descriptor, unit label), their prices, archiving and deleting.

Thin: each view reads its form, calls one operation in portal/catalog/operations.py with the
signed-in staff member as the actor, and commits. The product's details form carries a file,
so it posts as a whole page; the prices section is swapped in place by htmx (and is a plain
form post, 303 and get, without JavaScript).
"""

from __future__ import annotations

from flask import abort, current_app, flash, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from portal.admin.auth import admin_blueprint, current_staff
from portal.admin.catalog.forms import BILLING, PriceForm, ProductForm
from portal.admin.operations import staff_actor
from portal.catalog import operations as ops
from portal.catalog import tax_codes
from portal.catalog.models import Price, Product
from portal.catalog.pricing import unit_price_text
from portal.dbtypes import utcnow
from portal.extensions import db
from portal.images import ImageRefused, read_upload
from portal.rendering import render_page, see_other, wants_fragment

bp = admin_blueprint("admin_catalog", __name__, url_prefix="/admin/products")

LIST_PAGE = "admin/catalog/product_list.html"
NEW_PAGE = "admin/catalog/new_product.html"
PRODUCT_PAGE = ("admin/catalog/product.html", "admin/catalog/_prices.html")
DELETE_PAGE = "admin/catalog/delete_product.html"
# The price form's fields by the name the operation gives a refusal.
_PRICE_FIELDS = {"unit_amount": "amount", "currency": "currency", "interval": "interval",
                 "interval_count": "interval_count", "nickname": "nickname"}


def _actor() -> str:
    return staff_actor(current_staff())


def _product(product_id: str) -> Product:
    product = db.session.scalars(select(Product).where(Product.id == product_id)
                                 .options(selectinload(Product.prices))).first()
    if product is None:
        abort(404)
    return product


def _price(product: Product, price_id: str) -> Price:
    price = next((p for p in product.prices if p.id == price_id), None)
    if price is None:
        abort(404)  # another product's price, exactly like a made-up one
    return price


def _used_currencies() -> list[str]:
    """The merchant's currencies, most used first: the price form lists them at the top."""
    return list(db.session.scalars(select(Price.currency).group_by(Price.currency)
                                   .order_by(func.count().desc(), Price.currency)))


def _price_form(*, submitted: bool = False) -> PriceForm:
    used = _used_currencies()
    if not submitted:
        return PriceForm(formdata=None, currencies=used, data={"currency": (used or ["usd"])[0]})
    return PriceForm(currencies=used)


def _product_form(product: Product, *, submitted: bool = False) -> ProductForm:
    if not submitted:
        return ProductForm(formdata=None, current_tax_code=product.tax_code, data={
            "name": product.name, "description": product.description,
            "tax_code": product.tax_code or "", "unit_label": product.unit_label,
            "statement_descriptor": product.statement_descriptor})
    return ProductForm(current_tax_code=product.tax_code)


def _render_product(product: Product, *, form=None, price_form=None, status=200,
                    notice=None, problem=None):
    usage = ops.price_usage(db.session, [price.id for price in product.prices])
    return render_page(
        *PRODUCT_PAGE, status=status, product=product,
        form=form or _product_form(product), price_form=price_form or _price_form(),
        usage=usage, billing_choices=BILLING, tax_code=tax_codes.tax_code(product.tax_code), tax_codes=tax_codes.TAX_CODES,
        notice=notice, problem=problem)


def _discard(name: str | None) -> None:
    ops.discard_image_file(current_app.instance_path, name)


def _read_image(form: ProductForm) -> bytes | None:
    """The uploaded image's bytes, or None; a refusal goes on the image field."""
    upload = form.uploaded
    if upload is None:
        return None
    try:
        return read_upload(upload.stream)
    except ImageRefused as refused:
        form.image.errors = [*form.image.errors, str(refused)]
        return None


def _refused_on(form, refused: ops.CatalogRefused, fields=None) -> None:
    name = (fields or {}).get(refused.field, refused.field)
    field = getattr(form, name, None) if name else None
    if field is None:
        form.form_errors.append(refused.message)
    else:
        field.errors = [*field.errors, refused.message]


# ---- products -----------------------------------------------------------------------------

@bp.get("/")
def product_list():
    """Every product, active then archived, with its prices."""
    products = list(db.session.scalars(select(Product).options(selectinload(Product.prices))
                                       .order_by(Product.name, Product.created, Product.id)))
    return render_page(LIST_PAGE, active=[p for p in products if p.active],
                       archived=[p for p in products if not p.active])


@bp.get("/new")
def new_product():
    """The form to add a product."""
    return render_page(NEW_PAGE, form=ProductForm(formdata=None), tax_codes=tax_codes.TAX_CODES)


@bp.post("/new")
def create_product():
    """Add a product (with its image, if one was chosen) and go to its page to price it."""
    form = ProductForm()
    valid = form.validate()
    image = _read_image(form) if valid else None
    if valid and not form.image.errors:
        try:
            product = ops.create_product(db.session, **form.details, image=image,
                                         instance_path=current_app.instance_path, now=utcnow(),
                                         actor=_actor())
        except ops.CatalogRefused as refused:
            db.session.rollback()
            _refused_on(form, refused)
        else:
            _commit(new_image=product.image)
            flash(f"{product.name} is in your catalog. Add a price to sell it.", "success")
            return see_other(url_for("admin_catalog.product_detail", product_id=product.id))
    return render_page(NEW_PAGE, form=form, tax_codes=tax_codes.TAX_CODES, status=422)


def _commit(*, new_image: str | None = None, old_image: str | None = None) -> None:
    """Commit; then the replaced image file goes. A failed commit takes the new file with it."""
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        _discard(new_image)
        raise
    if old_image and old_image != new_image:
        _discard(old_image)


@bp.get("/<product_id>")
def product_detail(product_id: str):
    """A product: its details to edit, its image and its prices."""
    return _render_product(_product(product_id))


@bp.post("/<product_id>")
def update_product(product_id: str):
    """Save the product's details and, if one was chosen, its new image: all or nothing."""
    product = _product(product_id)
    form = _product_form(product, submitted=True)
    valid = form.validate()
    image = _read_image(form) if valid else None
    if valid and not form.image.errors:
        try:
            previous = ops.update_product(db.session, product, **form.details, image=image,
                                          instance_path=current_app.instance_path, now=utcnow(),
                                          actor=_actor())
        except ops.CatalogRefused as refused:
            db.session.rollback()
            _refused_on(form, refused)
        else:
            _commit(new_image=product.image if "image" in previous else None,
                    old_image=previous.get("image"))
            if previous:
                flash("Your changes are saved.", "success")
            else:
                flash("Nothing was changed.", "info")
            return see_other(url_for("admin_catalog.product_detail", product_id=product_id))
    return _render_product(_product(product_id), form=form, status=422)


@bp.post("/<product_id>/remove-image")
def remove_product_image(product_id: str):
    """Take the product's image away."""
    product = _product(product_id)
    change = ops.remove_product_image(db.session, product, now=utcnow(), actor=_actor())
    _commit(old_image=change.old)
    flash("The image is removed." if change.old else "This product has no image.", "success")
    return see_other(url_for("admin_catalog.product_detail", product_id=product_id))


@bp.post("/<product_id>/archive")
def archive_product(product_id: str):
    """Archive the product: what uses it keeps it; it is offered for nothing new."""
    product = _product(product_id)
    ops.archive_product(db.session, product, now=utcnow(), actor=_actor())
    db.session.commit()
    flash(f"{product.name} is archived. Subscriptions on it carry on; it is not offered for "
          "new ones.", "success")
    return see_other(url_for("admin_catalog.product_detail", product_id=product_id))


@bp.post("/<product_id>/unarchive")
def unarchive_product(product_id: str):
    """Make an archived product active again."""
    product = _product(product_id)
    ops.unarchive_product(db.session, product, now=utcnow(), actor=_actor())
    db.session.commit()
    flash(f"{product.name} is active again.", "success")
    return see_other(url_for("admin_catalog.product_detail", product_id=product_id))


@bp.get("/<product_id>/delete")
def confirm_delete_product(product_id: str):
    """Ask before deleting a product, or say why it cannot be deleted."""
    product = _product(product_id)
    return render_page(DELETE_PAGE, product=product,
                       reason=ops.product_usage(db.session, product))


@bp.post("/<product_id>/delete")
def delete_product(product_id: str):
    """Delete a product nothing uses, with its prices."""
    product = _product(product_id)
    name = product.name
    try:
        image = ops.delete_product(db.session, product, now=utcnow(), actor=_actor())
    except ops.CatalogRefused as refused:
        db.session.rollback()
        product = _product(product_id)
        return render_page(DELETE_PAGE, product=product, problem=refused.message,
                           reason=ops.product_usage(db.session, product), status=409)
    _commit(old_image=image)
    flash(f"{name} is deleted.", "success")
    return see_other(url_for("admin_catalog.product_list"))


# ---- prices -------------------------------------------------------------------------------

def _prices_done(product_id: str, message: str):
    """After a price change: the fresh prices section with htmx, else 303 to the product."""
    if wants_fragment():
        return _render_product(_product(product_id), notice=message)
    flash(message, "success")  # at the top of the page, where focus goes
    return see_other(url_for("admin_catalog.product_detail", product_id=product_id))


@bp.post("/<product_id>/prices")
def create_price(product_id: str):
    """Add a price to the product."""
    product = _product(product_id)
    form = _price_form(submitted=True)
    if form.validate():
        interval, count = form.recurring
        try:
            price = ops.create_price(db.session, product, unit_amount=form.unit_amount,
                                     currency=form.currency.data, recurring_interval=interval,
                                     recurring_interval_count=count,
                                     nickname=form.nickname.data, now=utcnow(), actor=_actor())
        except ops.CatalogRefused as refused:
            db.session.rollback()
            _refused_on(form, refused, _PRICE_FIELDS)
        else:
            db.session.commit()
            return _prices_done(product_id, f"Added the price {unit_price_text(price)}.")
    return _render_product(_product(product_id), price_form=form, status=422)


def _price_action(product_id: str, price_id: str, action, message: str):
    product = _product(product_id)
    price = _price(product, price_id)
    label = unit_price_text(price)
    try:
        action(db.session, price, now=utcnow(), actor=_actor())
    except ops.CatalogRefused as refused:
        db.session.rollback()
        return _render_product(_product(product_id), problem=refused.message, status=409)
    db.session.commit()
    return _prices_done(product_id, message.format(price=label))


@bp.post("/<product_id>/prices/<price_id>/archive")
def archive_price(product_id: str, price_id: str):
    """Archive a price: subscriptions on it keep it; no new one is sold it."""
    return _price_action(product_id, price_id, ops.archive_price,
                         "The {price} price is archived.")


@bp.post("/<product_id>/prices/<price_id>/unarchive")
def unarchive_price(product_id: str, price_id: str):
    """Make an archived price active again."""
    return _price_action(product_id, price_id, ops.unarchive_price,
                         "The {price} price is active again.")


@bp.post("/<product_id>/prices/<price_id>/delete")
def delete_price(product_id: str, price_id: str):
    """Delete a price nothing uses."""
    return _price_action(product_id, price_id, ops.delete_price,
                         "The {price} price is deleted.")
