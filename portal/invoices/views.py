"""Customer pages for invoices."""

from flask import Blueprint

bp = Blueprint("invoices", __name__, url_prefix="/p")
