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
    """404 (and, for attachment bytes, 410): the thing is gone. Not retried."""


class Forbidden(ApiError):
    """403: the account may not see this (a licence, a restriction on one item). Not retried."""


class EndpointRemoved(ApiError):
    pass


class UnexpectedResponse(ApiError):
    """HTML where JSON was expected, or JSON of the wrong shape: never stored as data."""


class RetriesExhausted(ApiError):
    pass


class DiskFull(PipelineError):
    pass


def leaves(error: BaseException) -> list[BaseException]:
    """The errors inside task groups' exception groups, in order."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    return [error]


def explain(error: BaseException) -> str:
    """A message for a user: the one that says what to do (e.g. the missing scope), not `ExceptionGroup`."""
    found = leaves(error)
    told = [e for e in found if isinstance(e, PipelineError)]
    first = told[0] if told else found[0]
    message = str(first) if isinstance(first, PipelineError) else f"internal error: {type(first).__name__}: {first}"
    more = len(found) - 1
    return message + (f" (+{more} more)" if more else "")
