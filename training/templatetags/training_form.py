"""``{{ mapping|get:key }}``: a key with dashes or dots, which the template language
cannot spell (form fields such as ``config-dpo-max_steps`` and ``export-format``)."""

from typing import Any

from django import template

register = template.Library()


@register.filter
def get(mapping: Any, key: str) -> Any:
    if hasattr(mapping, "get"):
        value = mapping.get(key)
        return "" if value is None else value
    return ""
