"""Typed application errors.

Services raise these; every door (API, pages, management commands, tasks) turns
them into its own kind of answer. Each has a stable ``code`` a client can switch
on, an HTTP status, a human message and optional structured ``details``.
"""

from typing import Any, ClassVar


class ApplicationError(Exception):
    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code  # type: ignore[misc]

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class ValidationError(ApplicationError):
    """The input is wrong; ``details`` names the field (or row and field) and why."""

    code = "invalid"
    status = 400


class PermissionDenied(ApplicationError):
    code = "permission_denied"
    status = 403


class NotFound(ApplicationError):
    code = "not_found"
    status = 404


class Conflict(ApplicationError):
    """The request is well formed but clashes with the current state (409)."""

    code = "conflict"
    status = 409
