"""What goes on the wire: static files served by WhiteNoise (before Flask, so no session cookie)
with Brotli and gzip copies made once at start, and pages compressed by Flask-Compress."""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs

from flask import Flask
from flask_compress import Compress
from whitenoise import WhiteNoise
from whitenoise.compress import Compressor
from whitenoise.string_utils import decode_path_info

log = logging.getLogger(__name__)

CACHE_FOLDER = "static-cache"
# static_url() puts the content hash in the file's name (portal.<hash>.css), so a changed file
# gets a new URL and the old one can be cached for ever.
YEAR = "public, max-age=31536000, immutable"
# Unhashed, stale or made-up hashes: cached briefly, so an edited file is picked up soon.
SHORT_MAX_AGE = 60
HASH_LENGTH = 12
# "vendor/htmx-4.0.1.min.<12 hex>.js": the hash goes before the last suffix, so the name keeps
# the extension WhiteNoise and browsers read the type from.
_HASHED_NAME = re.compile(
    rf"(?P<stem>.+)\.(?P<hash>[0-9a-f]{{{HASH_LENGTH}}})(?P<suffix>(?:\.[^./]+)?)")


def hashed_name(filename: str, digest: str) -> str:
    """``portal.css`` with its content hash in the name: ``portal.<digest>.css``."""
    folder, _, name = filename.rpartition("/")
    stem, dot, suffix = name.rpartition(".")
    named = f"{stem}.{digest}.{suffix}" if dot and stem else f"{name}.{digest}"
    return f"{folder}/{named}" if folder else named

PAGE_COMPRESSION = {
    "COMPRESS_ALGORITHM": ["br", "gzip"],
    # Brotli 5 rather than Flask-Compress's 4: 6-7% smaller pages (a 4.5 KB form 275 bytes
    # less) for about the same CPU on pages this size; 9 and up cost 10-20 ms a page.
    "COMPRESS_BR_LEVEL": 5,
    "COMPRESS_MIMETYPES": ["text/html", "text/css", "text/javascript", "application/javascript",
                           "application/json", "image/svg+xml"],
    "COMPRESS_MIN_SIZE": 500,  # below this the encoding costs more than it saves
    # send_file and other streamed responses (PDFs, uploaded images) go out untouched.
    "COMPRESS_STREAMS": False,
}


def init_app(app: Flask) -> None:
    """Serve /static/ through WhiteNoise and compress pages; settings may be overridden."""
    for name, value in PAGE_COMPRESSION.items():
        app.config.setdefault(name, value)
    Compress(app)
    source = Path(app.static_folder)
    # Debug mode reads files on every request so edits show at once; it skips the copies.
    autorefresh = app.config.setdefault("STATIC_AUTOREFRESH", app.debug)
    root, hashes = source, None
    if not autorefresh:
        try:
            root = precompressed_copy(source, Path(app.instance_path) / CACHE_FOLDER)
            hashes = {path.relative_to(root).as_posix(): content_hash(path)
                      for path in _files(root) if not WhiteNoise.is_compressed_variant(str(path))}
        except OSError as error:  # a read-only instance folder must not stop the portal
            log.warning("serving static files uncompressed: %s", error)
    app.wsgi_app = StaticFiles(app.wsgi_app, root=str(root), prefix=app.static_url_path,
                               autorefresh=autorefresh, hashes=hashes)


class StaticFiles(WhiteNoise):
    """WhiteNoise, serving ``portal.<hash>.css`` as ``portal.css`` and giving the year-long
    cache only when that hash (or an old page's ``?v=``) is the hash of the file served."""

    def __init__(self, application, *, root: str, prefix: str, autorefresh: bool,
                 hashes: dict[str, str] | None):
        self.root, self.prefix, self.hashes = Path(root), prefix.rstrip("/") + "/", hashes
        super().__init__(application, root=root, prefix=self.prefix, autorefresh=autorefresh,
                         max_age=0 if autorefresh else SHORT_MAX_AGE, allow_all_origins=False,
                         add_headers_function=_static_headers)

    def __call__(self, environ, start_response):
        path = decode_path_info(environ.get("PATH_INFO", ""))
        match = _HASHED_NAME.fullmatch(path) if path.startswith(self.prefix) else None
        if match and self._file(path) is None:
            plain = match["stem"] + match["suffix"]
            static_file = self._file(plain)
            if static_file is not None:
                # A wrong hash (a page older than the file) still gets today's file, briefly.
                forever = match["hash"] == self._hash(plain)
                return self._serve(static_file, environ, start_response, forever=forever)
        return super().__call__(environ, start_response)

    def serve(self, static_file, environ, start_response):
        # Pages before hashed names linked ?v=<hash>; those URLs keep working.
        versions = parse_qs(environ.get("QUERY_STRING", "")).get("v")
        forever = bool(versions) and versions[-1] == self._hash(environ.get("PATH_INFO", ""))
        return self._serve(static_file, environ, start_response, forever=forever)

    def _serve(self, static_file, environ, start_response, *, forever: bool):
        if not forever:
            return super().serve(static_file, environ, start_response)

        def start(status, headers, exc_info=None):
            headers = [(k, v) for k, v in headers if k.lower() != "cache-control"]
            return start_response(status, [*headers, ("Cache-Control", YEAR)], exc_info)

        return super().serve(static_file, environ, start)

    def _file(self, path: str):
        return self.find_file(path) if self.autorefresh else self.files.get(path)

    def _hash(self, path: str) -> str | None:
        relative = path.removeprefix(self.prefix)
        if self.hashes is not None:
            return self.hashes.get(relative)
        return content_hash(self.root / relative)  # autorefresh: WhiteNoise found the file


def _static_headers(headers, path, url) -> None:
    headers["X-Content-Type-Options"] = "nosniff"


_hashes: dict[Path, tuple[int, str]] = {}
_hashes_lock = threading.Lock()


def content_hash(path: Path) -> str:
    """The first 12 hex digits of the file's SHA-256, recomputed only when it is modified."""
    stamp = path.stat().st_mtime_ns
    with _hashes_lock:
        known = _hashes.get(path)
    if known and known[0] == stamp:
        return known[1]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:HASH_LENGTH]
    with _hashes_lock:
        _hashes[path] = (stamp, digest)
    return digest


def _files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


# Brotli at its best quality takes a tenth of a second for htmx; an app made again in the same
# process (the tests make one per test) reuses the bytes instead.
_compressed: dict[tuple[str, str], bytes | None] = {}


def precompressed_copy(source: Path, cache: Path) -> Path:
    """A copy of ``source`` with ``.br`` and ``.gz`` beside each file worth compressing, in a
    folder of ``cache`` named by the content, made once; several workers starting together
    each build aside and rename into place, and the first rename wins."""
    files = _files(source)
    fingerprint = hashlib.sha256()
    for path in files:
        fingerprint.update(path.relative_to(source).as_posix().encode() + b"\0")
        fingerprint.update(hashlib.sha256(path.read_bytes()).digest())
    target = cache / fingerprint.hexdigest()[:16]
    if target.is_dir():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    draft = Path(tempfile.mkdtemp(dir=cache, prefix=".build-"))
    try:
        compressor = Compressor(quiet=True)
        for path in files:
            copy = draft / path.relative_to(source)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, copy)
            if compressor.should_compress(path.name):
                data = path.read_bytes()
                for suffix, compress in ((".br", compressor.compress_brotli),
                                         (".gz", compressor.compress_gzip)):
                    key = (suffix, hashlib.sha256(data).hexdigest())
                    if key not in _compressed:
                        packed = compress(data)
                        _compressed[key] = packed if len(packed) <= 0.95 * len(data) else None
                    if _compressed[key] is not None:
                        Path(f"{copy}{suffix}").write_bytes(_compressed[key])
        try:
            draft.rename(target)
        except OSError:
            if not target.is_dir():
                raise  # not another worker's finished copy: a real failure
    finally:
        shutil.rmtree(draft, ignore_errors=True)
    _remove_stale_copies(cache, keep=target)
    return target


def _remove_stale_copies(cache: Path, keep: Path, older_than: float = 86400) -> None:
    """Copies for earlier versions of the files, once no old worker can still be serving them."""
    for folder in cache.iterdir():
        try:
            if folder != keep and folder.is_dir() and time.time() - folder.stat().st_mtime > older_than:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass
