"""The one cursor decoder: every cursor-paginated list of the API pages by id.

DRF's ``CursorPagination`` checks a cursor's base64 and offset but passes its position
to the database as it came, so a forged cursor (``p=x``) reached ``WHERE id > 'x'`` and
a 500; and a cursor it cannot read answers 404. Here a cursor whose position is not a
64-bit whole number, or that cannot be read at all, is a 400 naming ``cursor``; the
page size is checked the same way.
"""

from rest_framework.exceptions import NotFound as DrfNotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

from core.errors import ValidationError
from core.inputs import INT_MAX, param_int, text_problem

INVALID_CURSOR = "is not a cursor this API gave out; use a page's next or previous link"


def _refuse(reason: str = INVALID_CURSOR) -> ValidationError:
    return ValidationError(f"cursor: {reason}", details={"cursor": [reason]})


class IdCursorPagination(CursorPagination):
    """Cursor pages ordered by ``id`` (``ordering = "-id"`` for newest first)."""

    ordering = "id"
    page_size = 100
    page_size_query_param: str | None = None
    max_page_size = 1000

    def decode_cursor(self, request: Request) -> Cursor | None:
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        if len(encoded) > 200 or text_problem(encoded):
            raise _refuse()
        try:
            cursor = super().decode_cursor(request)
        except DrfNotFound:
            raise _refuse() from None
        except UnicodeError:
            raise _refuse() from None
        if cursor is None:
            return None
        if cursor.position is not None:
            position = str(cursor.position)
            if not position.lstrip("-").isdigit() or not -INT_MAX <= int(position) <= INT_MAX:
                raise _refuse()
        return cursor

    def get_page_size(self, request: Request) -> int:
        if self.page_size_query_param:
            size = param_int(
                request.query_params,
                self.page_size_query_param,
                low=1,
                high=self.max_page_size or INT_MAX,
            )
            if size is not None:
                return size
        return self.page_size or 100
