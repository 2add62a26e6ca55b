"""The portal configuration page, the login link and a preview of the portal."""
