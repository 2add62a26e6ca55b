"""Branding: name, icon, logo, colours, support contacts and font, with a live preview."""
