"""Page text: agreements (Chinese, English)."""

MESSAGES: dict[str, tuple[str, str]] = {
}
