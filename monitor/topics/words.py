"""Words: how text is cut into words and sentences, and which lookup keys a word answers to.

A document word answers to a few *keys*; a query word is compiled to a few keys too, and they match
when the two sets meet. Keys carry a one-letter mode prefix:

- ``i:`` ignore case, inflections allowed: the document word lower-cased, plus every base form the
  suffix rules and the irregular families give (``visited`` -> ``visit``, ``memoranda`` -> ``memorandum``);
- ``c:`` case-sensitive, inflections allowed (a query word with two or more capitals: ``MoU``);
  only document words with two or more capitals get these keys;
- ``x:`` exactly as written (``=word`` in a query).

The inflection heuristics are data (the tables below); the functions only walk them.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = [
    "ABBREVIATIONS",
    "IRREGULAR_FAMILIES",
    "NOT_PLURAL",
    "STOPWORDS",
    "SUFFIX_RULES",
    "WORD_RE",
    "document_keys",
    "is_case_sensitive",
    "query_keys",
    "sentence_spans",
    "words_of",
]

# A word: letters and digits, with inner apostrophes (Japan's, People’s). Hyphens, slashes, dots and
# underscores split words, in documents and in queries alike ("China-South" is the phrase "China South").
# Chinese and Japanese are written without spaces: each ideograph or kana is a word of its own, so a
# query term in those scripts is a phrase of characters ("東京" matches inside "東京都").
CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
WORD_RE = re.compile(f"[{CJK}]|[^\\W_{CJK}]+(?:['’][^\\W_{CJK}]+)*")

# (ending, replacement, shortest stem that may remain): every rule that applies to a document word adds
# one candidate base form. Only the ending as written in lower case is recognised (MOUs, not MOUS).
SUFFIX_RULES: tuple[tuple[str, str, int], ...] = (
    ("'s", "", 1),
    ("’s", "", 1),
    ("ies", "y", 2),  # policies -> policy
    ("es", "", 3),  # boxes -> box
    ("s", "", 2),  # talks -> talk, MOUs -> MOU
    ("ied", "y", 2),  # tried -> try
    ("ed", "", 3),  # visited -> visit
    ("ed", "e", 2),  # negotiated -> negotiate
    ("ing", "", 3),  # visiting -> visit
    ("ing", "e", 2),  # negotiating -> negotiate
)
# "-es" is a plural ending only after these (boxes, churches); elsewhere "-s" is (trades -> trade).
ES_PLURAL_AFTER: tuple[str, ...] = ("s", "x", "z", "ch", "sh", "o")
# Endings that plural/possessive rules apply to on the *query* side too ("talks" also finds "talk").
QUERY_SUFFIX_ENDINGS: tuple[str, ...] = ("'s", "’s", "ies", "es", "s")
# After a stripped -ed/-ing, a doubled final consonant is undoubled as one more candidate (planned -> plan).
UNDOUBLE = frozenset("bdgklmnprtvz")
UNDOUBLE_AFTER = ("ed", "ing")

# Words ending in s that are not plurals: the "s" rules leave them alone.
NOT_PLURAL = frozenset({
    "always", "analysis", "as", "atlas", "bias", "bus", "chaos", "christmas", "crisis", "does", "gas",
    "has", "his", "is", "its", "lens", "means", "news", "paris", "perhaps", "plus", "series", "species",
    "this", "thus", "was", "yes", "us", "whereas", "various", "across", "less", "unless", "athens",
    "wales", "texas", "kansas", "mars", "venus", "physics", "economics", "politics", "mathematics",
})
NOT_PLURAL_ENDINGS: tuple[str, ...] = ("ss", "us", "is")

# Irregular families: every form answers to the first one (memoranda <-> memorandum).
IRREGULAR_FAMILIES: tuple[tuple[str, ...], ...] = (
    ("memorandum", "memoranda", "memorandums"),
    ("criterion", "criteria"),
    ("phenomenon", "phenomena"),
    ("analysis", "analyses"),
    ("crisis", "crises"),
    ("thesis", "theses"),
    ("basis", "bases"),
    ("axis", "axes"),
    ("man", "men"),
    ("woman", "women"),
    ("child", "children"),
    ("mouse", "mice"),
    ("foot", "feet"),
    ("tooth", "teeth"),
    ("goose", "geese"),
    ("leaf", "leaves"),
    ("life", "lives"),
    ("wife", "wives"),
    ("knife", "knives"),
    ("half", "halves"),
    ("shelf", "shelves"),
    ("wolf", "wolves"),
    ("thief", "thieves"),
    ("go", "goes", "went", "gone"),
    ("meet", "met"),
    ("say", "said", "says"),
    ("hold", "held"),
    ("take", "took", "taken"),
    ("buy", "bought"),
    ("seek", "sought"),
    ("win", "won"),
    ("lose", "lost"),
    ("fly", "flew", "flown", "flies"),
    ("strike", "struck", "stricken"),
    ("tell", "told"),
    ("sell", "sold"),
    ("send", "sent"),
    ("speak", "spoke", "spoken"),
    ("begin", "began", "begun"),
    ("run", "ran"),
    ("fight", "fought"),
    ("bring", "brought"),
    ("think", "thought"),
    ("give", "gave", "given"),
    ("write", "wrote", "written"),
    ("choose", "chose", "chosen"),
    ("rise", "rose", "risen"),
    ("fall", "fell", "fallen"),
)
_CANONICAL: dict[str, str] = {form: family[0] for family in IRREGULAR_FAMILIES for form in family}

# Common words: a topic is never triggered by one of these alone when a rarer word is available.
STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "he", "her", "his",
    "in", "is", "it", "its", "of", "on", "or", "said", "she", "that", "the", "their", "they", "this",
    "to", "was", "were", "will", "with", "would", "not", "but", "after", "over", "new", "also",
})

# Words followed by a full stop that does not end a sentence.
ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "st", "sr", "jr", "gen", "col", "lt", "sgt", "capt", "sen", "rep",
    "gov", "pres", "rev", "inc", "corp", "ltd", "co", "no", "vs", "etc", "approx", "dept", "est", "fig",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "u.s", "u.k",
    "e.g", "i.e", "a.m", "p.m",
})


def words_of(text: str) -> list[str]:
    """The words of a piece of text, as written."""
    return WORD_RE.findall(text)


def is_case_sensitive(word: str) -> bool:
    """The case rule: a word with two or more capital letters (MOU, MoU, DPRK) matches only as written."""
    capitals = 0
    for ch in word:
        if ch.isupper():
            capitals += 1
            if capitals == 2:
                return True
    return False


def _stems(word: str, endings: tuple[str, ...] | None) -> set[str]:
    """Base forms the suffix rules give for ``word`` (``endings`` limits which rules run)."""
    out: set[str] = set()
    lower = word.lower()
    for ending, replacement, shortest in SUFFIX_RULES:
        if endings is not None and ending not in endings:
            continue
        if not word.endswith(ending) or len(word) - len(ending) < shortest:
            continue
        if ending in ("s", "es") and (lower in NOT_PLURAL or word.endswith(NOT_PLURAL_ENDINGS)):
            continue
        if ending == "es" and not lower[:-2].endswith(ES_PLURAL_AFTER):
            continue
        stem = word[: len(word) - len(ending)] + replacement
        out.add(stem)
        if ending in UNDOUBLE_AFTER and len(stem) >= 4 and stem[-1] == stem[-2] and stem[-1] in UNDOUBLE:
            out.add(stem[:-1])
    return out


@lru_cache(maxsize=1 << 13)  # bounded: news keeps inventing words (see bench/soak.py)
def document_keys(word: str) -> tuple[str, ...]:
    """Every key a document word answers to (see the module docstring)."""
    lower = word.lower()
    bases = {lower, *_stems(lower, None)}
    bases.update([_CANONICAL[b] for b in list(bases) if b in _CANONICAL])
    keys = ["x:" + word, *("i:" + b for b in bases)]
    if is_case_sensitive(word):
        keys.append("c:" + word)
        keys.extend("c:" + b for b in _stems(word, None))
    return tuple(keys)


def query_keys(word: str, mode: str) -> frozenset[str]:
    """The keys a query word is looked up by. ``mode``: "i" (ignore case), "c" (as written), "x" (exact).

    A query word answers to itself and, when it looks like a plural or possessive, to its singular:
    write the base form (``visit``) and its inflections match; ``talks`` finds ``talk`` as well.
    """
    if mode == "x":
        return frozenset({"x:" + word})
    form = word.lower() if mode == "i" else word
    bases = {form, *_stems(form, QUERY_SUFFIX_ENDINGS)}
    if mode == "i":
        bases.update([_CANONICAL[b] for b in list(bases) if b in _CANONICAL])
    return frozenset(f"{mode}:{b}" for b in bases)


# The lookahead names every character a sentence end can begin with: it changes no match, and lets
# the regex engine skip ahead to candidates (about 2.5x faster over news text).
_SENTENCE_END = re.compile(r"(?=[.!?…。！？\n])(?:([.!?…]+[\"'”’)\]]*)\s+|([。！？]+[」』”）]*)\s*|\n+)")
_NON_SPACE = re.compile(r"\S")
_OPENERS = "\"'“‘([«"  # a sentence may begin with these as well as with a capital or a digit
_WORD_BEFORE = 24  # characters read back for the word before a full stop (a longer one is read whole)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text`` (line breaks end a sentence too)."""
    spans: list[tuple[int, int]] = []
    start = 0
    has_text = _NON_SPACE.search
    for m in _SENTENCE_END.finditer(text):
        kind = m.lastindex  # 1: . ! ? …  2: 。！？  None: line breaks
        if kind == 1:
            after = m.end()
            nxt = text[after: after + 1]
            if nxt and not (nxt.isupper() or nxt.isdigit() or nxt in _OPENERS):
                continue
            at = m.start()
            if text[at] == "." and _abbreviation_before(text, start, at):
                continue
            end = m.end(1)
        elif kind == 2:
            end = m.end(2)
        else:
            end = m.start()
        if has_text(text, start, end):
            spans.append((start, end))
        start = m.end()
    if has_text(text, start):
        spans.append((start, len(text.rstrip())))
    return spans


def _abbreviation_before(text: str, start: int, at: int) -> bool:
    """Whether the word before the full stop at ``at`` (in the sentence from ``start``) is an
    abbreviation or an initial, so the full stop does not end the sentence."""
    lo = at - _WORD_BEFORE
    before = text[lo:at].rsplit(None, 1) if lo > start else []
    if len(before) < 2:  # the word may begin further back: read the sentence so far
        before = text[start:at].rsplit(None, 1)
    last = before[-1].lower().strip("\"'“‘(") if before else ""
    return last in ABBREVIATIONS or (len(last) == 1 and last.isalpha())
