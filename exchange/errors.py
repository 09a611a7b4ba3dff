"""One error hierarchy for the application, mapped once to HTTP in web/errors.py."""

from __future__ import annotations


class ExchangeError(Exception):
    """Base of every error a user can be shown."""

    status = 400
    title = "Bad request"
    code = "bad_request"

    def __init__(self, detail: str, *, field_errors: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field_errors = field_errors or {}


class ValidationFailed(ExchangeError):
    status = 422
    title = "Invalid input"
    code = "invalid_input"


class NotAuthenticated(ExchangeError):
    status = 401
    title = "Authentication required"
    code = "not_authenticated"


class Forbidden(ExchangeError):
    status = 403
    title = "Forbidden"
    code = "forbidden"


class NotFound(ExchangeError):
    status = 404
    title = "Not found"
    code = "not_found"


class Conflict(ExchangeError):
    status = 409
    title = "Conflict"
    code = "conflict"


class RateLimited(ExchangeError):
    status = 429
    title = "Too many requests"
    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class ServiceBusy(ExchangeError):
    """A bounded queue of slow work (password checks) is full: try again shortly."""

    status = 503
    title = "Busy"
    code = "busy"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class MigrationError(Exception):
    """A schema migration cannot be applied safely; the process must not start."""
