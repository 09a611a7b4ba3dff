"""The package exports one public API; every name in it resolves."""

from __future__ import annotations

import matching_core


def test_every_exported_name_resolves() -> None:
    assert len(set(matching_core.__all__)) == len(matching_core.__all__)
    for name in matching_core.__all__:
        assert getattr(matching_core, name) is not None, name


def test_books_are_exported() -> None:
    assert {"EnglishBook", "DutchBook", "SealedBook", "decide_listing_outcome"} <= set(
        matching_core.__all__
    )
