"""Page text: listing_procedure (Chinese, English)."""

MESSAGES: dict[str, tuple[str, str]] = {
}
