"""Errors a user can act on. Each message says what went wrong and what to do; none carries a secret."""

from __future__ import annotations


class PipelineError(Exception):
    """An error whose message is fit to show a user as it is."""


class ConfigError(PipelineError):
    """Bad settings: a config key, a flag, a missing credential, an unwritable path."""


class ApiError(PipelineError):
    """The API refused a request in a way retrying will not fix."""

    def __init__(self, message: str, status: int | None = None, url: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.url = url


class MissingScope(ApiError):
    def __init__(self, operation: str, scopes: tuple[str, ...], url: str = "") -> None:
        needed = " or ".join(scopes) if scopes else "the scope this endpoint needs"
        super().__init__(
            f"the token lacks a scope for {operation}: add {needed} to the Service Account's API token "
            "(or skip this part with --only / --no-attachments)",
            401,
            url,
        )
        self.operation = operation
        self.scopes = scopes


class Unauthorized(ApiError):
    pass


class NotFound(ApiError):
    pass


class EndpointRemoved(ApiError):
    pass


class UnexpectedResponse(ApiError):
    """HTML where JSON was expected, or JSON of the wrong shape: never stored as data."""


class RetriesExhausted(ApiError):
    pass


class DiskFull(PipelineError):
    pass
