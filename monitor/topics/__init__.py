"""The topic query language: parse, compile, match, snippets, explain.

Modules, in the order a query and an article meet::

    words      words, sentences, inflection and case rules (data tables)
    document   Document (what is matched) -> Tokens (its words with their places and fields)
    query      the query language: lexer, parser, syntax tree; QueryError with column
    program    queries compiled into shared atoms, leaves and one index of every topic's words
    scan       one article looked up once against that index; boolean trees evaluated on spans
    snippets   the sentences around the hits, hits marked **like this**
    matcher    compile_topics() -> TopicMatcher.match() / .explain()
    explain    the clause-by-clause account of one topic on one article
"""

from __future__ import annotations

from .document import DEFAULT_FIELDS, FIELDS, Document
from .explain import Explanation
from .matcher import TopicMatcher, TopicSpec, compile_topics
from .query import Node, parse_query
from .snippets import MARK_CLOSE, MARK_OPEN, plain

__all__ = [
    "DEFAULT_FIELDS",
    "FIELDS",
    "MARK_CLOSE",
    "MARK_OPEN",
    "Document",
    "Explanation",
    "Node",
    "TopicMatcher",
    "TopicSpec",
    "compile_topics",
    "parse_query",
    "plain",
]
