"""OCDS packages validated offline against the vendored OCDS 1.1.5 schemas (tests/ocds/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

HERE = Path(__file__).parent / "ocds"
RELEASE = "https://standard.open-contracting.org/schema/1__1__5/release-schema.json"


def _validator() -> Draft4Validator:
    package = json.loads((HERE / "release-package-schema.json").read_text(encoding="utf-8"))
    release = json.loads((HERE / "release-schema.json").read_text(encoding="utf-8"))
    registry: Registry[Any] = Registry().with_resource(RELEASE, Resource.from_contents(release, default_specification=DRAFT4))
    return Draft4Validator(package, registry=registry, format_checker=Draft4Validator.FORMAT_CHECKER)


VALIDATOR = _validator()


def ocds_problems(package: dict[str, Any]) -> list[str]:
    """Everything the OCDS 1.1.5 release package schema finds wrong, and the rules it cannot say:
    an absolute `uri`, and every extension a release uses declared."""
    found = [f"{'/'.join(map(str, e.absolute_path)) or '(package)'}: {e.message}"
             for e in VALIDATOR.iter_errors(package)]
    uri = urlsplit(package.get("uri", ""))
    if not (uri.scheme in ("http", "https") and uri.netloc):
        found.append(f"uri: {package.get('uri')!r} is not absolute")
    declared = " ".join(package.get("extensions", []))
    for release in package.get("releases", []):
        if "bids" in release and "ocds_bid_extension" not in declared:
            found.append(f"{release['id']}: bids without the bid extension declared")
        if "enquiries" in release.get("tender", {}) and "ocds_enquiry_extension" not in declared:
            found.append(f"{release['id']}: tender.enquiries without the enquiry extension declared")
    return found
