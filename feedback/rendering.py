"""Markdown to safe HTML for text that nobody vouches for (model output, imported prompts).

Two layers: markdown-it-py with raw HTML turned off (any ``<tag>`` in the text comes out
as escaped text, and links with ``javascript:``-like schemes are not made links), then
nh3 (the Rust ``ammonia`` sanitizer) with a short list of tags and attributes, and only
http, https and mailto links. Images are not allowed: a response could otherwise make
the annotator's browser fetch a URL of its choosing.
"""

from functools import lru_cache

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_markdown.enable(["table", "strikethrough"])

ALLOWED_TAGS = {
    "p", "br", "hr", "em", "strong", "del", "s", "code", "pre", "blockquote",
    "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "a",
    "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "code": {"class"}}
ALLOWED_SCHEMES = {"http", "https", "mailto"}


@lru_cache(maxsize=4096)
def markdown_render(text: str) -> SafeString:
    """Render ``text`` (CommonMark plus tables) to HTML that is safe to put in a page.

    Cached per process: the same response is shown to every annotator of its item."""
    html = _markdown.render(text or "")
    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return mark_safe(cleaned)  # sanitised by nh3 just above
