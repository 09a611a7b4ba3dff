"""Page text: quotes (Chinese, English)."""

MESSAGES: dict[str, tuple[str, str]] = {
}
