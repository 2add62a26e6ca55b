"""The WSGI entry point for gunicorn: ``gunicorn wsgi:app``."""

import sys

from portal import create_app
from portal.config import ConfigError

try:
    app = create_app()
except ConfigError as error:  # one clear line instead of a traceback
    sys.exit(f"portal: {error}")
