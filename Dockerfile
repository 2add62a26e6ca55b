# The portal's image: the web app (gunicorn) and the worker (`flask --app portal worker`) run
# from it, with the instance folder on a volume. docker-compose.yml shows both.
#   docker build -t billing-portal .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORTAL_INSTANCE_PATH=/srv/portal/instance
# gunicorn 27 and later keep a control socket under ~/.gunicorn: somewhere writable even when
# the root filesystem is read-only (docker-compose.yml mounts a tmpfs on /tmp).
ENV HOME=/tmp

# Japanese names in invoice PDFs need IPA Gothic (portal/invoices/fonts/README.md).
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-ipafont-gothic \
    && rm -rf /var/lib/apt/lists/*

# A user of its own, with no shell and no password: nothing in the image runs as root.
RUN groupadd --system --gid 10001 portal \
    && useradd --system --uid 10001 --gid portal --home-dir /srv/portal --no-create-home \
       --shell /usr/sbin/nologin portal

# A regular (not editable) install: the wheel carries templates, static files and migrations
# inside the package, so the source is not needed at run time.
WORKDIR /usr/src/portal
COPY pyproject.toml README.md ./
COPY portal ./portal
COPY templates ./templates
COPY static ./static
COPY migrations ./migrations
RUN pip install ".[server]" && rm -rf /usr/src/portal

# wsgi.py prints a bad setting in one line and stops gunicorn (exit 3) instead of a traceback
# and endless worker restarts.
WORKDIR /srv/portal
COPY wsgi.py ./
RUN mkdir -p /srv/portal/instance && chown portal:portal /srv/portal/instance

# The SQLite file (if used), config.py, uploaded branding and product images and template
# overrides: the one folder to back up with the database (README "Backups and restore").
VOLUME ["/srv/portal/instance"]
USER portal
EXPOSE 8000

# Workers from the CPU count, bind from PORTAL_BIND (portal/gunicorn_conf.py).
ENV PORTAL_BIND=0.0.0.0:8000
CMD ["gunicorn", "-c", "python:portal.gunicorn_conf", "wsgi:app"]
