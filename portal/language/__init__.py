"""The footer's language switcher (portal/i18n.py chooses the locale of every request)."""
