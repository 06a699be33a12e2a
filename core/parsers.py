"""The API's body parsers: DRF's, with the checks of ``core.inputs`` on every field.

``JSONParser`` decodes through ``core.inputs.json_parse`` (depth limit, 64-bit integers,
finite numbers, no NUL or lone surrogate in any key or string); the form parsers check
every text field the same way. A refusal is a 400 naming the field.
"""

from typing import IO, Any

from django.conf import settings
from rest_framework import parsers

from core.errors import ValidationError
from core.inputs import InputError, json_parse, text_check


class JSONParser(parsers.JSONParser):
    def parse(
        self, stream: IO[bytes], media_type: str | None = None, parser_context: Any = None
    ) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        data = stream.read(limit + 1) if limit else stream.read()
        if limit and len(data) > limit:
            raise ValidationError(
                f"body: larger than {limit} bytes", details={"body": [f"larger than {limit} bytes"]}
            )
        if not data.strip():
            raise ValidationError(
                "body: is empty", details={"body": ["is empty; send a JSON object"]}
            )
        try:
            return json_parse(data)
        except InputError as exc:
            raise exc.as_validation_error("body") from None


def _check_fields(data: Any) -> None:
    for key, values in data.lists():
        text_check(key, "field name")
        for value in values:
            if isinstance(value, str):
                text_check(value, key)


class FormParser(parsers.FormParser):
    def parse(
        self, stream: IO[bytes], media_type: str | None = None, parser_context: Any = None
    ) -> Any:
        data = super().parse(stream, media_type, parser_context)
        _check_fields(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(
        self, stream: IO[bytes], media_type: str | None = None, parser_context: Any = None
    ) -> Any:
        result = super().parse(stream, media_type, parser_context)
        _check_fields(result.data)
        for name, uploads in result.files.lists():
            text_check(name, "field name")
            for upload in uploads:
                text_check(getattr(upload, "name", "") or "", f"{name}.filename")
        return result
