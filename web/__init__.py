"""The Litestar application: thin controllers, guards, pages and the JSON API."""
