"""The dashboard's own forms (sign-in); each area keeps its forms beside its views."""

from __future__ import annotations

from wtforms import PasswordField
from wtforms.validators import DataRequired

from portal.forms import BaseForm, email_field


class StaffSignInForm(BaseForm):
    email = email_field("Email address")
    # BaseForm strips it like every field; check_password_rules refuses passwords that begin
    # or end with a space, so no real password is changed by that.
    password = PasswordField("Password", validators=[DataRequired(message="Enter your password")])
