"""Error pages: every error a customer can meet is a branded page, never a bare one."""

from __future__ import annotations

from flask import Flask, render_template


def register_error_pages(app: Flask) -> None:
    def page(status, title, message):
        return render_template("error.html", title=title, message=message), status

    app.register_error_handler(400, lambda e: page(400, "Something was wrong with that request",
                                                   "Go back, reload the page and try again."))
    app.register_error_handler(404, lambda e: page(404, "Page not found",
                                                   "Check the address, or go back to the page you came from."))
    app.register_error_handler(429, lambda e: page(429, "Too many attempts",
                                                   "Wait a few minutes, then try again."))
    app.register_error_handler(500, lambda e: page(500, "Sorry, something went wrong",
                                                   "Try again in a few minutes."))
