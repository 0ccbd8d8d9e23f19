"""dedup.py: URL keys, fingerprints and near-duplicate verdicts, on real article text.

Also the texts the store tests share: the seed article (tests/fixtures/topics/seed_paragraphs.json),
a syndicated copy of it with a new first paragraph, a template filled twice, and two short pieces
that share only boilerplate.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path

import pytest

from monitor import dedup

SEED = json.loads((Path(__file__).parent / "fixtures" / "topics" / "seed_paragraphs.json").read_text("utf-8"))
SEED_TITLE: str = SEED["title"]
SEED_PARAGRAPHS: list[str] = SEED["paragraphs"]
SEED_BODY = "\n\n".join(SEED_PARAGRAPHS)

# A wire copy: its own first paragraph, one sentence trimmed, a credit line and a disclaimer added.
SYNDICATED_PARAGRAPHS = [
    "SEOUL, Jan. 3 (Asia Policy Wire) -- South Korea's president heads to Beijing this weekend on a trip "
    "that analysts across the region describe as the most consequential of his young presidency, writes a "
    "Korea analyst in a commentary we republish below.",
    *SEED_PARAGRAPHS[1:7],
    SEED_PARAGRAPHS[7].rsplit(". ", 1)[0] + ".",
    *SEED_PARAGRAPHS[8:],
    "This article first appeared on CGTN and is republished with permission.",
    "The views expressed in this commentary are the author's own and do not necessarily reflect those of Asia Policy Wire.",
]
SYNDICATED_BODY = "\n\n".join(SYNDICATED_PARAGRAPHS)

# The same topic told by another writer: shares names (Lee, Xi, Beijing, Seoul), not sentences.
SAME_TOPIC_BODY = "\n\n".join([
    "Lee Jae Myung lands in Beijing on Sunday for talks with Xi Jinping, the first state visit by a South "
    "Korean leader to China in six years, with Shanghai as the second stop of the trip.",
    "Officials in Seoul say the agenda covers supply chains, tourism and a series of memoranda of understanding "
    "on technology, while Beijing has signalled interest in resuming a free trade negotiation round.",
    "The trip follows the meeting of the two presidents at the APEC summit in Gyeongju in November, where Xi "
    "and Lee agreed to restore regular exchanges between their governments.",
    "North Korea is expected to feature in the talks. Seoul hopes Beijing can help bring Pyongyang back to the "
    "negotiating table, though analysts caution against expecting a breakthrough on the peninsula.",
    "Relations with Tokyo will also come up, as China and Japan remain at odds over recent remarks by the "
    "Japanese prime minister, and Lee has offered to act as a go-between.",
])

TEMPLATE = [
    "{co} reported quarterly revenue of ${rev} billion on {day}, {cmp} analysts' estimates of ${est} billion, "
    "as demand for its {prod} {trend} in {region}.",
    "Net income came in at ${ni} million, or {eps} cents per share, compared with ${ni0} million a year "
    "earlier, the {city}-based company said in a statement after the market closed.",
    "Chief executive {ceo} told investors on a conference call that the company expects revenue in the "
    "current quarter of between ${lo} billion and ${hi} billion, citing {reason}.",
    "Shares of {co} {move} {pct} percent in extended trading. The stock has {ytd} {ytdpct} percent so far "
    "this year, {vs} the broader market index over the same period.",
]
FILL_A = dict(co="Northwind Traders", rev="4.21", day="Tuesday", cmp="beating", est="4.05", prod="cloud software",
              trend="grew", region="Europe", ni="612", eps="87", ni0="540", city="Seattle", ceo="Maria Anders",
              lo="4.3", hi="4.4", reason="strong bookings from banks", move="rose", pct="6.2", ytd="gained",
              ytdpct="18", vs="outpacing")
FILL_B = dict(co="Contoso Pharmaceuticals", rev="2.87", day="Thursday", cmp="missing", est="3.10", prod="generic drugs",
              trend="slowed", region="Latin America", ni="198", eps="41", ni0="260", city="Basel", ceo="Jonas Keller",
              lo="2.7", hi="2.9", reason="pricing pressure in the United States", move="fell", pct="9.4",
              ytd="lost", ytdpct="12", vs="trailing")


def template_body(fill: dict[str, str]) -> str:
    return "\n\n".join(p.format(**fill) for p in TEMPLATE)


BOILERPLATE = [
    "The views expressed in this article are those of the author and do not necessarily reflect the editorial "
    "position of the Harbour Times or its owners.",
    "Follow us on Twitter and Facebook for the latest news, and sign up for our morning newsletter to get the "
    "day's most important stories delivered to your inbox.",
    "Copyright 2026 Harbour Times Media Group. All rights reserved. This material may not be published, "
    "broadcast, rewritten or redistributed without permission.",
]
SHORT_A = ("The city council voted on Monday to extend the night bus service to the airport, after commuters "
           "complained that the last connection left before the final flights landed.")
SHORT_B = ("A local bakery won the regional bread prize for its rye loaf, beating forty entries from across the "
           "province in a blind tasting held at the autumn fair.")


def boilerplate_body(short: str) -> str:
    return "\n\n".join([short, *BOILERPLATE])


# ---------------------------------------------------------------------------- URL keys

@pytest.mark.parametrize(("url", "key"), [
    ("https://www.example.com/news/story-1", "https://example.com/news/story-1"),
    ("http://example.com/news/story-1", "https://example.com/news/story-1"),
    ("HTTPS://Example.COM:443/news/story-1/", "https://example.com/news/story-1"),
    ("http://example.com:80/news/story-1#comments", "https://example.com/news/story-1"),
    ("https://example.com/news/story-1?utm_source=tw&utm_medium=social&fbclid=IwAR0&gclid=x&ref=home",
     "https://example.com/news/story-1"),
    ("https://example.com/news/story-1?page=2&id=7&utm_campaign=a", "https://example.com/news/story-1?id=7&page=2"),
    ("https://example.com/news/story-1/amp", "https://example.com/news/story-1"),
    ("https://example.com/amp/news/story-1", "https://example.com/news/story-1"),
    ("https://example.com/news/story-1.amp.html", "https://example.com/news/story-1.html"),
    ("https://example.com/news/story-1?amp=1", "https://example.com/news/story-1"),
    ("https://example.com/news/story-1?outputType=amp", "https://example.com/news/story-1"),
    ("https://m.example.com/news/story-1", "https://example.com/news/story-1"),
    ("https://amp.example.com/news/story-1", "https://example.com/news/story-1"),
    ("https://www-example-com.cdn.ampproject.org/c/s/www.example.com/news/story-1/amp",
     "https://example.com/news/story-1"),
    ("https://example.com:8443/news/story-1", "https://example.com:8443/news/story-1"),
    ("https://example.com/news//story-1", "https://example.com/news/story-1"),
    ("https://example.com/caf%C3%A9", "https://example.com/caf%C3%A9"),
    ("https://example.com/café", "https://example.com/caf%C3%A9"),
    ("mailto:desk@example.com", "mailto:desk@example.com"),
])
def test_canonical_url_keys(url: str, key: str) -> None:
    assert dedup.canonical_url(url) == key


def test_paths_keep_their_case_and_meaningful_queries() -> None:
    assert dedup.canonical_url("https://example.com/News/A") != dedup.canonical_url("https://example.com/news/a")
    assert dedup.canonical_url("https://example.com/?p=1") != dedup.canonical_url("https://example.com/?p=2")
    # "m." is only a mobile prefix on a host with a domain under it
    assert dedup.canonical_url("https://m.com/a") == "https://m.com/a"


def test_same_site_and_front_page() -> None:
    assert dedup.same_site("http://www.example.com/a", "https://m.example.com/b")
    assert not dedup.same_site("https://example.com/a", "https://example.org/a")
    assert not dedup.same_site("https://example.com:8080/a", "https://example.com/a")
    assert dedup.is_front_page("https://www.example.com/")
    assert dedup.is_front_page("https://example.com/?utm_source=x")
    assert not dedup.is_front_page("https://example.com/news/a")


# ---------------------------------------------------------------------------- fingerprints

def _reference_simhash(text: str, shingle: int = 3) -> int:
    """The textbook SimHash, bit by bit, over shingle hashes made independently of dedup.py: each
    word's 64-bit BLAKE2b, the i-th word of a window rotated left by 21*i bits, XORed."""
    words = re.findall(r"\w+", dedup.normalise_text(text))
    if not words:
        return 0

    def h(word: str, i: int) -> int:
        v = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
        r = (21 * i) % 64
        return ((v << r) | (v >> (64 - r))) & (2**64 - 1) if r else v

    windows = [words[i:i + shingle] for i in range(max(1, len(words) - shingle + 1))]
    weights = [0] * 64
    for window in windows:
        value = 0
        for i, word in enumerate(window):
            value ^= h(word, i)
        for bit in range(64):
            weights[bit] += 1 if (value >> bit) & 1 else -1
    result = sum(1 << bit for bit in range(64) if weights[bit] > 0)
    return result - (1 << 64) if result >= 1 << 63 else result


@pytest.mark.parametrize("text", [SEED_BODY, SYNDICATED_BODY, SHORT_A, "one", "two words", "", "Ünïcödé 東京 visit"])
def test_simhash_matches_the_textbook_definition(text: str) -> None:
    assert dedup.simhash(text) == _reference_simhash(text)


def test_simhash_is_close_for_copies_and_far_for_other_articles() -> None:
    seed = dedup.simhash(SEED_BODY)
    assert -(1 << 63) <= seed < 1 << 63
    lightly_edited = SEED_BODY.replace("state visit", "official visit", 1)
    assert dedup.hamming(seed, dedup.simhash(lightly_edited)) <= 6  # a few of 64 bits
    assert dedup.hamming(seed, dedup.simhash(SAME_TOPIC_BODY)) > 12


def test_bands_find_every_hash_within_three_bits() -> None:
    rng = random.Random(5)
    for _ in range(200):
        value = rng.getrandbits(64)
        flipped = value
        for bit in rng.sample(range(64), 3):
            flipped ^= 1 << bit
        assert set(dedup.simhash_bands(value)) & set(dedup.simhash_bands(flipped))
    # bands are tagged with their number: equal 16-bit values in different bands never collide
    assert len(set(dedup.simhash_bands(0))) == 4


def test_paragraph_hashes_skip_short_paragraphs_and_fit_sqlite() -> None:
    hashes = dedup.paragraph_hashes(SEED_BODY)
    assert 10 <= len(hashes) <= len(SEED_PARAGRAPHS)
    assert all(0 <= h < 1 << 63 for h in hashes)
    assert dedup.paragraph_hashes("Short one.\n\nAnother.") == []
    assert dedup.paragraph_hashes(SEED_PARAGRAPHS[3].upper()) == dedup.paragraph_hashes(SEED_PARAGRAPHS[3])


def test_content_hash_ignores_case_and_spacing_only() -> None:
    assert dedup.content_hash("A  b\nC") == dedup.content_hash("a b c")
    assert dedup.content_hash("a b c") != dedup.content_hash("a b d")


# ---------------------------------------------------------------------------- boilerplate

def test_boilerplate_rules_name_what_they_remove() -> None:
    assert dedup.is_boilerplate(BOILERPLATE[0]) == "opinion disclaimer"
    assert dedup.is_boilerplate(BOILERPLATE[1]) == "follow us"
    assert dedup.is_boilerplate(BOILERPLATE[2]) == "copyright"
    assert dedup.is_boilerplate("This article first appeared on CGTN.") == "republication note"
    assert dedup.is_boilerplate("(Reporting by Ann Lee; Editing by Tom Hall)") == "credits"
    assert dedup.is_boilerplate(SHORT_A) is None
    # a long paragraph that mentions a disclaimer is content
    long_paragraph = f"{SEED_PARAGRAPHS[2]} {SEED_PARAGRAPHS[3]} The views expressed by officials differed."
    assert len(long_paragraph) > dedup.BOILERPLATE_MAX_CHARS
    assert dedup.is_boilerplate(long_paragraph) is None
    stripped = dedup.strip_boilerplate(boilerplate_body(SHORT_A))
    assert stripped == SHORT_A
    assert dedup.strip_boilerplate(SEED_BODY, common=lambda p: p == SEED_PARAGRAPHS[0]).count("\n\n") == 13


def test_distinctive_tokens_are_names_and_numbers() -> None:
    tokens = dedup.distinctive_tokens("The visit starts Sunday. Then Lee meets Xi in Beijing on Jan. 4, 2026.")
    assert {"sunday", "lee", "xi", "beijing", "4", "2026"} <= tokens
    assert "the" not in tokens and "then" not in tokens


# ---------------------------------------------------------------------------- verdicts

def _verdict(a: str, b: str) -> bool:
    return dedup.same_story(dedup.compare(dedup.strip_boilerplate(a), dedup.strip_boilerplate(b)))


def test_syndicated_copy_with_a_new_first_paragraph_is_the_same_story() -> None:
    sim = dedup.compare(dedup.strip_boilerplate(SEED_BODY), dedup.strip_boilerplate(SYNDICATED_BODY))
    assert sim.containment >= dedup.NEAR_DUP_CONTAINMENT
    assert dedup.same_story(sim)
    assert _verdict(SYNDICATED_BODY, SEED_BODY)  # either way round


def test_same_topic_is_not_the_same_story() -> None:
    shared = dedup.distinctive_tokens(SEED_BODY) & dedup.distinctive_tokens(SAME_TOPIC_BODY)
    assert {"lee", "xi", "beijing", "seoul", "shanghai", "tokyo"} <= shared  # they share many names...
    sim = dedup.compare(SEED_BODY, SAME_TOPIC_BODY)
    assert sim.containment < dedup.CLOSE_CONTAINMENT
    assert not dedup.same_story(sim)  # ...but not the telling


def test_template_filled_twice_is_two_stories() -> None:
    a, b = template_body(FILL_A), template_body(FILL_B)
    sim = dedup.compare(a, b)
    assert sim.containment > 0.1  # the template's fixed phrases are shared
    assert not dedup.same_story(sim)
    assert _verdict(a, template_body({**FILL_A, "day": "Wednesday"}))  # a corrected copy is one story


def test_shared_boilerplate_alone_is_two_stories() -> None:
    a, b = boilerplate_body(SHORT_A), boilerplate_body(SHORT_B)
    raw = dedup.compare(a, b)
    assert raw.containment >= dedup.NEAR_DUP_CONTAINMENT  # on the raw bodies they would look like copies
    assert not _verdict(a, b)


def test_short_bodies_join_only_as_exact_copies() -> None:
    brief = "Markets closed higher on Friday as oil prices eased and bond yields fell for a third day."
    assert len(brief.split()) < dedup.MIN_WORDS
    assert not dedup.same_story(dedup.compare(brief, brief))
    assert dedup.same_story(dedup.compare(SHORT_A + " " + SHORT_B, SHORT_A + " " + SHORT_B))
