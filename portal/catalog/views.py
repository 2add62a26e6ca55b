"""Public product images (the portal shows them), outside /p/ so they may be cached."""

from flask import Blueprint

bp = Blueprint("catalog", __name__, url_prefix="/product-images")
