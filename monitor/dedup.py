"""Canonical URLs, content hashes and near-duplicate fingerprints and verdicts.

Pure functions and rules as data: the store (``store.py`` and ``store_index.py``) decides what to
do with them.

- :func:`canonical_url` is the *key* of a page, not its address: scheme forced to https, ``www.``,
  mobile and AMP variants folded, tracking parameters dropped. The store keeps the address as the
  page states it and looks records up by this key.
- :func:`content_hash` finds exact copies; :func:`simhash` and :func:`paragraph_hashes` find near-copy
  *candidates* through an index; :func:`compare` and :func:`same_story` confirm them on the bodies,
  after :func:`strip_boilerplate` took out paragraphs that any article of a site may carry.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

__all__ = [
    "BOILERPLATE_PATTERNS",
    "TRACKING_PARAMS",
    "Similarity",
    "body_fingerprint",
    "canonical_url",
    "compare",
    "content_hash",
    "content_hash_of",
    "distinctive_tokens",
    "hamming",
    "index_fingerprint",
    "normalise_text",
    "normalised_paragraphs",
    "paragraph_hashes",
    "same_site",
    "same_story",
    "packed_shingle_hashes",
    "shingle_hashes",
    "shingles",
    "simhash",
    "simhash_bands",
    "simhash_of_words",
    "strip_boilerplate",
]

# ---------------------------------------------------------------------------- URL rules (data)

# Query parameters that say who sent the reader, not which page it is.
TRACKING_PARAMS: frozenset[str] = frozenset({
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "igshid", "mc_cid",
    "mc_eid", "_ga", "_gl", "ref", "ref_src", "ref_url", "cmpid", "cmp", "ncid", "ocid", "sr_share",
    "share", "spm", "src", "CMP", "s_cid", "smid", "smtyp", "rss", "feed", "outputType", "amp",
    "at_medium", "at_campaign", "guccounter", "guce_referrer", "guce_referrer_sig", "mkt_tok",
    "oly_anon_id", "oly_enc_id", "vero_id", "wt_mc", "WT.mc_id", "xtor", "icid", "ito", "intcmp",
})
TRACKING_PREFIXES: tuple[str, ...] = ("utm_", "pk_", "mtm_", "hsa_", "__hs", "_hs", "at_")
DEFAULT_PORTS = {"http": 80, "https": 443}
# Path and host forms of AMP and mobile pages, mapped to the page they copy.
AMP_PATH = re.compile(r"(/amp)(?=/|$)|(\.amp)(?=\.html?$|$)|(/amp\.html?)$", re.IGNORECASE)
MOBILE_HOST_PREFIXES: tuple[str, ...] = ("m.", "mobile.", "amp.")
# AMP caches serve a publisher's page under their own host: /c/[s/]HOST/PATH (s = https).
AMP_CACHE_HOSTS: tuple[str, ...] = (".cdn.ampproject.org", ".bing-amp.com")
AMP_CACHE_PATH = re.compile(r"^/[cvi]/(?:s/)?(?P<rest>[^/]+\.[^/]+(?:/.*)?)$")


@lru_cache(maxsize=8192)  # a pure function the store calls several times per article with the same URLs
def canonical_url(url: str) -> str:
    """The key of a page: one spelling per page. Lower-case host, https, no default port, no
    fragment, no tracking parameters, sorted query, no ``www.``/mobile/AMP variant, AMP-cache
    addresses mapped to the publisher's, no trailing slash on a path. Not a URL to fetch."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return url
    host = (parts.hostname or "").lower().rstrip(".")
    if host.endswith(AMP_CACHE_HOSTS):
        m = AMP_CACHE_PATH.match(parts.path)
        if m:
            inner = "https://" + m.group("rest") + (f"?{parts.query}" if parts.query else "")
            return canonical_url(inner)
    for prefix in MOBILE_HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix):]
            break
    if host.startswith("www."):
        host = host[4:]
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port in (None, DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    path = quote(unquote(parts.path), safe="/%:@!$&'()*+,;=-._~") or "/"
    path = AMP_PATH.sub("", path) or "/"
    path = re.sub(r"/{2,}", "/", path)
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k not in TRACKING_PARAMS and not k.lower().startswith(TRACKING_PREFIXES)]
    query.sort()
    # http and https name the same article: the key uses one scheme
    return urlunsplit(("https", netloc, path, urlencode(query), ""))


def same_site(a: str, b: str) -> bool:
    """Both URLs on one host (after the key's folding of www., mobile and AMP hosts and ports)."""
    return urlsplit(canonical_url(a)).netloc == urlsplit(canonical_url(b)).netloc != ""


def is_front_page(url: str) -> bool:
    """The key's path is the site root (a canonical link to it from an article is a CMS mistake)."""
    return urlsplit(canonical_url(url)).path in ("", "/")


# ---------------------------------------------------------------------------- text fingerprints

_WORD = re.compile(r"\w+", re.UNICODE)


def normalise_text(text: str) -> str:
    """NFKC, case-folded, white space collapsed: what a content hash is taken of."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def content_hash(text: str) -> str:
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()


_MASK64 = 0xFFFFFFFFFFFFFFFF
_WORD_HASHES: dict[str, bytes] = {}  # word -> its 64-bit BLAKE2b, 8 bytes little-endian; bounded below
_WORD_HASHES_MAX = 50_000  # ~7 MB; a realistic vocabulary keeps growing, so the cache is cleared when full


def _lanes(n: int, lane_mask: int) -> int:
    """``lane_mask`` (a 64-bit pattern) repeated in each of ``n`` 64-bit lanes of one integer."""
    return int.from_bytes(lane_mask.to_bytes(8, "little") * n, "little")


def _rotate_lanes(x: int, n: int, bits: int) -> int:
    """Every 64-bit lane of ``x`` (``n`` lanes) rotated left by ``bits``, all lanes at once."""
    high = _lanes(n, (_MASK64 << bits) & _MASK64)
    return ((x << bits) & high) | ((x >> (64 - bits)) & (high ^ _lanes(n, _MASK64)))


def packed_shingle_hashes(words: list[str], shingle: int = 3) -> bytes:
    """:func:`shingle_hashes` as consecutive 8-byte little-endian numbers. The words' hashes are
    laid side by side in one integer, rotated and XORed lane-wise: a few whole-integer
    operations instead of arithmetic per word."""
    if not words:
        return b""
    known = _WORD_HASHES
    if len(known) + len(words) >= _WORD_HASHES_MAX:
        known.clear()
    for word in set(words).difference(known):
        known[word] = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()[::-1]
    n = len(words)
    x = int.from_bytes(b"".join(map(known.__getitem__, words)), "little")
    windows = max(1, n - shingle + 1)
    out = x
    for i in range(1, min(shingle, n)):
        out ^= _rotate_lanes(x, n, (21 * i) % 64) >> (64 * i) if (21 * i) % 64 else x >> (64 * i)
    return (out & ((1 << (64 * windows)) - 1)).to_bytes(8 * windows, "little")


def shingle_hashes(words: list[str], shingle: int = 3) -> list[int]:
    """64-bit hashes of the ``shingle``-word windows: the words' BLAKE2b hashes, the i-th word of
    a window rotated left by 21*i bits, XORed (so the order of the words counts). Fewer words than
    ``shingle`` make one window of them all."""
    packed = packed_shingle_hashes(words, shingle)
    return [int.from_bytes(packed[i:i + 8], "little") for i in range(0, len(packed), 8)]


def simhash(text: str, shingle: int = 3) -> int:
    """64-bit SimHash of word shingles; near-identical bodies differ in few bits.

    Bit ``i`` is set when more than half of the shingle hashes (:func:`shingle_hashes`) have bit
    ``i`` set. Returned as a signed 64-bit integer so it fits an SQLite INTEGER.
    """
    return simhash_of_words(_WORD.findall(normalise_text(text)), shingle)


_BYTE_ONES: dict[int, int] = {}  # lanes -> an integer with 1 in the lowest bit of each byte of that many lanes
_FOLD_TO = 128  # lanes left after folding (fewer are added up byte by byte anyway)


def simhash_of_words(words: list[str], shingle: int = 3) -> int:
    """:func:`simhash` of a text already cut into normalised words.

    The bits are counted on whole integers: for each bit ``b`` of a byte, ``(x >> b) & ones`` leaves
    one counter per byte of every lane, and the lanes are summed by folding the integer in halves
    (while a byte counter stays under 256) before the last lanes are added up byte by byte."""
    packed = packed_shingle_hashes(words, shingle)
    count = len(packed) // 8
    if not count:
        return 0
    size = 1 << (count - 1).bit_length()  # lanes, padded to a power of two with zero lanes
    ones = _BYTE_ONES.get(size)
    if ones is None:
        ones = _BYTE_ONES[size] = int.from_bytes(b"\x01" * (8 * size), "little")
    x = int.from_bytes(packed, "little")
    value = 0
    for bit in range(8):
        y = (x >> bit) & ones
        lanes = size
        while lanes > _FOLD_TO and size // (lanes // 2) <= 255:  # a byte counter sums size // lanes lanes
            lanes //= 2
            y = (y & ((1 << (64 * lanes)) - 1)) + (y >> (64 * lanes))
        counts = y.to_bytes(8 * lanes, "little")
        for pos in range(8):
            if 2 * sum(counts[pos::8]) > count:
                value |= 1 << (8 * pos + bit)
    return value - (1 << 64) if value >= 1 << 63 else value


def hamming(a: int, b: int) -> int:
    return ((a ^ b) & 0xFFFFFFFFFFFFFFFF).bit_count()


def simhash_bands(value: int, bands: int = 4) -> list[int]:
    """Split the 64 bits into ``bands`` bands; two hashes within ``bands - 1`` bits share a band
    exactly (pigeonhole), so an index on (band number, band value) finds candidates without a scan."""
    value &= 0xFFFFFFFFFFFFFFFF
    width = 64 // bands
    mask = (1 << width) - 1
    return [(i << width) | ((value >> (i * width)) & mask) for i in range(bands)]


PARAGRAPH_MIN_CHARS = 80  # shorter paragraphs are too generic to point at a copy


def paragraph_hashes(body: str) -> list[int]:
    """60-bit hashes (they fit an SQLite INTEGER) of the body's paragraphs long enough to be telling."""
    return _paragraph_hashes([normalise_text(p) for p in body.split("\n\n")])


def _paragraph_hashes(normalised: Iterable[str]) -> list[int]:
    out = [int(hashlib.sha256(norm.encode("utf-8")).hexdigest()[:15], 16)
           for norm in normalised if len(norm) >= PARAGRAPH_MIN_CHARS]
    return list(dict.fromkeys(out))


def paragraph_hash(paragraph: str) -> int | None:
    found = paragraph_hashes(paragraph)
    return found[0] if found else None


def normalised_paragraphs(body: str) -> tuple[list[str], list[str]]:
    """The body's paragraphs (split on blank lines) and each one normalised (:func:`normalise_text`)."""
    paragraphs = body.split("\n\n")
    return paragraphs, [normalise_text(p) for p in paragraphs]


def content_hash_of(title: str, normalised: list[str]) -> str:
    """:func:`content_hash` of ``title + "\n" + body``, from the body's normalised paragraphs."""
    whole = " ".join(x for x in (normalise_text(title), *normalised) if x)
    return hashlib.sha256(whole.encode("utf-8")).hexdigest()


def index_fingerprint(paragraphs: list[str], normalised: list[str]) -> tuple[str, int, list[int]]:
    """The body without boilerplate (:func:`strip_boilerplate`), and that stripped body's
    :func:`simhash` and :func:`paragraph_hashes`, from :func:`normalised_paragraphs`."""
    kept = [i for i, p in enumerate(paragraphs) if p.strip() and not is_boilerplate(p)]
    stripped = "\n\n".join(paragraphs[i] for i in kept)
    mine = [normalised[i] for i in kept]
    return stripped, simhash_of_words(_WORD.findall(" ".join(mine))), _paragraph_hashes(mine)


def body_fingerprint(title: str, body: str) -> tuple[str, str, int, list[int]]:
    """Everything the store needs of one body, each paragraph normalised once: the content hash
    of title and body, the body without boilerplate, and that stripped body's SimHash and
    paragraph hashes. The same values as :func:`content_hash` (of ``title + "\n" + body``),
    :func:`strip_boilerplate`, :func:`simhash` and :func:`paragraph_hashes`."""
    paragraphs, normalised = normalised_paragraphs(body)
    return (content_hash_of(title, normalised), *index_fingerprint(paragraphs, normalised))


# ---------------------------------------------------------------------------- boilerplate (data)

# Paragraphs any article of a site (or of many sites) may carry: they say nothing about which story
# a body tells. Named by concept: (name, trigger words, pattern). The pattern (case-insensitive) is
# only tried on paragraphs up to BOILERPLATE_MAX_CHARS that contain one of the trigger words, which
# keeps the check at a few substring tests for an ordinary paragraph.
_RULES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("opinion disclaimer", ("expressed", "necessarily"),
     r"\b(views|opinions) expressed\b|\bdo(es)? not necessarily (reflect|represent)\b"),
    ("republication note", ("appeared", "published"),
     r"\b(first|originally) (appeared|published)\b|\brepublished (with|by) permission\b"),
    ("follow us", ("follow", "like us", "join us"),
     r"^(follow|like|join) us on\b|\bfollow (us|@\w+) on (twitter|x|facebook|instagram|telegram)\b"),
    ("newsletter", ("newsletter",), r"\b(subscribe|sign up)\b.{0,40}\bnewsletter\b"),
    ("copyright", ("©", "(c)", "copyright", "rights reserved"), r"^(©|\(c\)|copyright\b)|\ball rights reserved\b"),
    ("submissions", ("contribute", "your tip", "your stor", "submission"),
     r"\b(want to contribute|send (us )?your (tips|story|stories|submissions))\b|\bsubmissions? to\b.{0,40}@"),
    ("credits", ("by",), r"^\(?(reporting|writing|editing|additional reporting|compiled) by\b"),
    ("wire dateline only", ("reuters", "ap", "afp", "xinhua", "bloomberg", "dpa", "efe", "ani", "pti"),
     r"^\(?(reuters|ap|afp|xinhua|bloomberg|dpa|efe|ani|pti)\)?\s*$"),
)
BOILERPLATE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(rx, re.IGNORECASE)) for name, _triggers, rx in _RULES)
_TRIGGERS: tuple[tuple[str, ...], ...] = tuple(triggers for _name, triggers, _rx in _RULES)
BOILERPLATE_MAX_CHARS = 400


def is_boilerplate(paragraph: str) -> str | None:
    """The name of the boilerplate rule the paragraph matches, or None."""
    text = paragraph.strip()
    if len(text) > BOILERPLATE_MAX_CHARS:
        return None
    low = text.casefold()
    for (name, rx), triggers in zip(BOILERPLATE_PATTERNS, _TRIGGERS, strict=True):
        if any(t in low for t in triggers) and rx.search(text):
            return name
    return None


def strip_boilerplate(body: str, common: Callable[[str], bool] | None = None) -> str:
    """The body without boilerplate paragraphs: those a rule names, and those ``common`` says many
    stored articles share (a site's template that leaked through extraction)."""
    kept = [p for p in body.split("\n\n")
            if p.strip() and not is_boilerplate(p) and not (common is not None and common(p))]
    return "\n\n".join(kept)


# ---------------------------------------------------------------------------- near-duplicate verdicts

# How alike two bodies must be to be one story (data, not code). Bodies are compared after
# strip_boilerplate, as 5-word shingles; "containment" is the share of the smaller body's shingles
# found in the other (so a copy with a new first paragraph, or cut short, still counts).
NEAR_DUP_MAX_BITS = 3  # SimHash distance that vouches for a copy on its own (with CLOSE_CONTAINMENT)
NEAR_DUP_CONTAINMENT = 0.7
CLOSE_CONTAINMENT = 0.35
MIN_WORDS = 25  # shorter bodies join a story only as exact copies
# A template filled with other names and numbers shares many shingles but few names: the names
# and numbers of the smaller body must also be found in the other.
NAMES_CONTAINMENT = 0.5
MIN_NAMES = 6  # fewer names than this and the name test is not applied
SHINGLE = 5


def _words(text: str) -> list[str]:
    return _WORD.findall(normalise_text(text))


def shingles(text: str, size: int = SHINGLE, words: list[str] | None = None) -> set[int]:
    """Hashes of the text's ``size``-word shingles (in-process hashes: compare, never store)."""
    words = _words(text) if words is None else words
    if len(words) <= size:
        return {hash(tuple(words))} if words else set()
    return {hash(t) for t in zip(*(words[i:] for i in range(size)), strict=False)}


# A capitalised word not at the start of a sentence or paragraph (the text is given a leading ". "),
# and any token with a digit.
_CAPITALISED = re.compile(r"(?<![.!?:;\"“”»«\n] )(?<!\n)\b[^\W\d_][\w'’-]*")
_NUMBER = re.compile(r"\b\w*\d[\w'’.,-]*")


def distinctive_tokens(text: str) -> set[str]:
    """Names and numbers: tokens with a digit, or capitalised where a sentence does not begin."""
    out = {w.casefold() for w in _CAPITALISED.findall(". " + text) if w[0].isupper()}
    out.update(n.rstrip(".,").casefold() for n in _NUMBER.findall(text))
    return out


def _containment(a: set[int] | set[str], b: set[int] | set[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


@dataclass(frozen=True, slots=True)
class Similarity:
    """How alike two bodies (boilerplate stripped) are. ``names`` and ``bits`` are only worked out
    when they can change the verdict (None otherwise, and for names also when too few to judge)."""

    containment: float  # of 5-word shingles, relative to the smaller body
    names: float | None  # containment of names and numbers
    bits: int | None  # SimHash distance of the two bodies
    words: int  # words in the smaller body

    def as_dict(self) -> dict[str, float | int | None]:
        return {"containment": round(self.containment, 3), "names": None if self.names is None else round(self.names, 3),
                "bits": self.bits, "words": self.words}


def compare(a: str, b: str) -> Similarity:
    words_a, words_b = _words(a), _words(b)
    words = min(len(words_a), len(words_b))
    containment = _containment(shingles(a, words=words_a), shingles(b, words=words_b))
    names = bits = None
    if containment >= CLOSE_CONTAINMENT and words >= MIN_WORDS:
        names_a, names_b = distinctive_tokens(a), distinctive_tokens(b)
        if min(len(names_a), len(names_b)) >= MIN_NAMES:
            names = _containment(names_a, names_b)
        if containment < NEAR_DUP_CONTAINMENT:
            bits = hamming(simhash(a), simhash(b))
    return Similarity(containment=containment, names=names, bits=bits, words=words)


def same_story(sim: Similarity) -> bool:
    """The verdict: one story told twice, not two stories that share words."""
    if sim.words < MIN_WORDS:
        return False
    if sim.names is not None and sim.names < NAMES_CONTAINMENT:
        return False
    if sim.containment >= NEAR_DUP_CONTAINMENT:
        return True
    return sim.bits is not None and sim.bits <= NEAR_DUP_MAX_BITS and sim.containment >= CLOSE_CONTAINMENT


def iter_paragraphs(body: str) -> Iterable[str]:
    return (p for p in body.split("\n\n") if p.strip())
