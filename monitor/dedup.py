"""Canonical URLs, content hashes and near-duplicate fingerprints.

Pure functions: the store decides what to do with them.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

__all__ = [
    "TRACKING_PARAMS",
    "canonical_url",
    "content_hash",
    "hamming",
    "normalise_text",
    "simhash",
    "simhash_bands",
]

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


def canonical_url(url: str) -> str:
    """One spelling per page: lower-case scheme and host, no default port, no fragment, no
    tracking parameters, sorted query, no AMP or mobile variant, no trailing slash on a path."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return url
    host = (parts.hostname or "").lower().rstrip(".")
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
    # http and https name the same article: store one scheme
    return urlunsplit(("https", netloc, path, urlencode(query), ""))


_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+", re.UNICODE)


def normalise_text(text: str) -> str:
    """NFC, case-folded, white space collapsed: what a content hash is taken of."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def content_hash(text: str) -> str:
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()


def _h64(data: str) -> int:
    return int.from_bytes(hashlib.blake2b(data.encode("utf-8"), digest_size=8).digest(), "big")


def simhash(text: str, shingle: int = 3) -> int:
    """64-bit SimHash of word shingles; near-identical bodies differ in few bits.

    Returned as a signed 64-bit integer so it fits an SQLite INTEGER.
    """
    words = _WORD.findall(normalise_text(text))
    if not words:
        return 0
    weights = [0] * 64
    grams = (" ".join(words[i:i + shingle]) for i in range(max(1, len(words) - shingle + 1)))
    for gram in grams:
        h = _h64(gram)
        for bit in range(64):
            weights[bit] += 1 if (h >> bit) & 1 else -1
    value = 0
    for bit in range(64):
        if weights[bit] > 0:
            value |= 1 << bit
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
