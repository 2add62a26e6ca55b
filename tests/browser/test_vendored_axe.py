"""The axe-core the accessibility tests run is the copy that was checked: its bytes match
tests/browser/vendor/SHA256SUMS, it says the version its name says, and its licence is beside it.
No browser needed: this runs wherever the suite does."""

from __future__ import annotations

import hashlib

from tests.browser.axe import AXE_FILE, AXE_VERSION, VENDOR


def recorded_sums() -> dict[str, str]:
    sums = {}
    for line in (VENDOR / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        sums[name.lstrip("*")] = digest
    return sums


def test_the_vendored_axe_matches_its_recorded_checksum():
    sums = recorded_sums()
    assert AXE_FILE.name in sums
    for name, digest in sums.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name


def test_the_vendored_axe_is_the_version_the_helper_names_and_carries_its_licence():
    assert AXE_FILE.read_text(encoding="utf-8").startswith(f"/*! axe v{AXE_VERSION}\n")
    assert "Mozilla Public License" in (VENDOR / "axe-core-LICENSE").read_text()
