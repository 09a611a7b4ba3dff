"""The JSON API: the same capabilities as the pages, for programs (API tokens) and scripts."""
