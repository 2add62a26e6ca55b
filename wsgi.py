"""The WSGI entry point for gunicorn: ``gunicorn wsgi:app``."""

import sys

from portal import create_app
from portal.config import ConfigError

try:
    app = create_app()
except ConfigError as error:
    # One clear line instead of a traceback. Exit status 3 is gunicorn's "worker failed to
    # boot": gunicorn then stops, rather than restarting the worker for ever.
    print(f"portal: {error}", file=sys.stderr)
    sys.exit(3)
