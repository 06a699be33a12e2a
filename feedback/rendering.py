"""Markdown to safe HTML for text that nobody vouches for (model output, imported prompts).

Two layers: markdown-it-py with raw HTML turned off (any ``<tag>`` in the text comes out
as escaped text, and links with ``javascript:``-like schemes are not made links), then
nh3 (the Rust ``ammonia`` sanitizer) with a short list of tags and attributes, and only
http, https and mailto links. Images are not allowed: a response could otherwise make
the annotator's browser fetch a URL of its choosing.

Rendering is the largest cost of showing an item, so it happens as rarely as it can:
responses and prompts are rendered once when stored (``feedback.services.rendering``), and whatever
still needs rendering goes through the shared cache. Every rendering is filed under
``render_key``: the policy below (tags, attributes, schemes, library versions) and a hash
of the text, so HTML made under other rules or for another text is never served.
"""

import hashlib
from collections.abc import Sequence
from functools import lru_cache
from importlib.metadata import version

import nh3
from django.core.cache import cache
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


def _render(text: str) -> str:
    html = _markdown.render(text or "")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


@lru_cache(maxsize=1024)
def markdown_render(text: str) -> SafeString:
    """Render ``text`` (CommonMark plus tables) to HTML that is safe to put in a page.

    Cached per process: for texts every page shows, such as a project's guidelines."""
    return mark_safe(_render(text))  # sanitised by nh3 in _render


# Cache keys name the renderer and the sanitiser's policy, so changing either (a tag
# allowed or refused, a library upgrade) never serves HTML made under the old rules.
POLICY = hashlib.blake2b(
    repr(
        (
            sorted(ALLOWED_TAGS),
            sorted((tag, sorted(attrs)) for tag, attrs in ALLOWED_ATTRIBUTES.items()),
            sorted(ALLOWED_SCHEMES),
            version("markdown-it-py"),
            version("nh3"),
        )
    ).encode(),
    digest_size=8,
).hexdigest()
CACHE_SECONDS = 7 * 24 * 60 * 60


def render_key(text: str) -> str:
    """What a rendering of ``text`` is filed under: the policy and a hash of the text."""
    return f"{POLICY}:{hashlib.blake2b(text.encode(), digest_size=16).hexdigest()}"


def markdown_render_html(text: str) -> str:
    """``markdown_render`` as a plain string, to store (``Response.content_html``)."""
    return _render(text)


def markdown_render_many(
    texts: Sequence[str], *, stored: Sequence[str | None] = ()
) -> list[SafeString]:
    """``markdown_render`` for many texts at once.

    ``stored`` may give, for each text, an HTML rendered earlier whose key the caller has
    checked against the text (``render_key``); those are used as they are. The rest go
    through the shared cache (Redis in production: each item is shown to ``overlap``
    annotators on any web process), one round trip for all of them, and only those no
    process has rendered yet are rendered here."""
    html: list[str | None] = list(stored) + [None] * (len(texts) - len(stored))
    keys = {n: render_key(text) for n, text in enumerate(texts) if html[n] is None}
    if keys:
        found = {
            name[3:]: value
            for name, value in cache.get_many([f"md:{key}" for key in set(keys.values())]).items()
        }
        fresh = {key: _render(texts[n]) for n, key in keys.items() if key not in found}
        if fresh:
            cache.set_many({f"md:{key}": value for key, value in fresh.items()}, CACHE_SECONDS)
            found.update(fresh)
        for n, key in keys.items():
            html[n] = found[key]
    return [mark_safe(value or "") for value in html]  # sanitised by _render, here or before
