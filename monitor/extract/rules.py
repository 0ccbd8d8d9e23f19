"""Site rules: the CSS selectors of :class:`~monitor.config.SiteRules` that override the heuristics
for one source (``body``, ``title``, ``byline``, ``captions``, ``drop``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from ..errors import ExtractError
from .layout import RULE_BODY, RULE_CAPTION, Layout, squash

if TYPE_CHECKING:
    from ..config import SiteRules

__all__ = ["apply_drops", "mark", "rule_body", "rule_text", "rule_texts", "select"]

log = logging.getLogger(__name__)


def select(tree: LexborHTMLParser, selector: str, url: str | None) -> list[LexborNode]:
    try:
        return list(tree.css(selector))
    except (SelectolaxError, ValueError, SyntaxError) as exc:
        raise ExtractError(f"site rule selector {selector!r} is invalid: {exc}", url=url) from None


def apply_drops(tree: LexborHTMLParser, rules: SiteRules | None, url: str | None) -> None:
    """Remove what the ``drop`` selectors match, before anything reads the page."""
    if rules is None:
        return
    for selector in rules.drop:
        for node in select(tree, selector, url):
            node.decompose()


def mark(tree: LexborHTMLParser, rules: SiteRules | None, url: str | None) -> bool:
    """Tag the elements the ``body`` and ``captions`` selectors match, for the walk to see;
    True when there is anything to see."""
    if rules is None or not (rules.body or rules.captions):
        return False
    for selector, name in ((rules.body, RULE_BODY), (rules.captions, RULE_CAPTION)):
        if not selector:
            continue
        found = select(tree, selector, url)
        if not found and name == RULE_BODY:
            log.warning("site rule body selector %r matched nothing; using heuristics", selector,
                        extra={"url": url})
        for node in found:
            node.attrs[name] = ""
    return True


def rule_body(lay: Layout) -> list[int]:
    """The elements the ``body`` selector matched (outermost only), or [] to use the heuristics."""
    found = lay.rule_body
    return [i for i in found if not any(j != i and lay.contains(j, i) for j in found)]


def rule_text(tree: LexborHTMLParser, selector: str | None, url: str | None) -> str | None:
    """The text of the first element ``selector`` matches."""
    if not selector:
        return None
    found = select(tree, selector, url)
    return squash(found[0].text(separator=" ")) if found else None


def rule_texts(tree: LexborHTMLParser, selector: str | None, url: str | None) -> list[str]:
    """The texts of every element ``selector`` matches, each once."""
    out: list[str] = []
    if selector:
        for node in select(tree, selector, url):
            text = squash(node.text(separator=" "))
            if text and text not in out:
                out.append(text)
    return out
