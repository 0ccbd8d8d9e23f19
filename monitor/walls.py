"""Pages that came instead of the page asked for: bot checks and consent walls (outcome
``consent_wall``), and empty shells that need a browser to render (out of scope: reported).

The markers are data, named by what they were made for. The fetcher asks :func:`bot_check` and
:func:`consent_redirect` about every response it would otherwise hand on (cheap: headers, the
final URL, and the first bytes of error bodies); the pipeline asks :func:`needs_browser` only about
a page that gave no article text or no links, so normal pages pay nothing for it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

__all__ = ["BOT_CHECK_HEADERS", "BOT_CHECK_MARKERS", "BOT_CHECK_STATUS", "CONSENT_HOSTS", "CONSENT_PATHS",
           "bot_check", "consent_redirect", "needs_browser"]

# A response header that only a challenge carries: (name, value substring or "" for any value).
BOT_CHECK_HEADERS: tuple[tuple[str, str], ...] = (
    ("cf-mitigated", "challenge"),  # Cloudflare managed challenge
    ("x-amzn-waf-action", "captcha"),  # AWS WAF CAPTCHA / challenge
    ("x-amzn-waf-action", "challenge"),
)
# Statuses a bot check answers with; a 200 counts only when the page is nearly empty besides.
BOT_CHECK_STATUS = frozenset({202, 403, 405, 429, 503})
BOT_CHECK_MARKERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Cloudflare challenge", re.compile(r"<title>\s*just a moment\.\.\.|/cdn-cgi/challenge-platform/|"
                                        r"cf-browser-verification|attention required! \| cloudflare")),
    ("DataDome", re.compile(r"captcha-delivery\.com|geo\.captcha-delivery")),
    ("PerimeterX / HUMAN", re.compile(r"px-captcha|_pxcaptcha|perimeterx")),
    ("Imperva / Incapsula", re.compile(r"_incapsula_resource|incapsula incident id|pardon our interruption")),
    ("Akamai", re.compile(r"access denied</title>[\s\S]{0,400}reference #[0-9a-f.]+")),
    ("a CAPTCHA", re.compile(r"are you a robot\?|verify (that )?you are (a )?human|"
                             r"checking (if the site connection is secure|your browser before accessing)|"
                             r"unusual traffic from your computer network|g-recaptcha|h-captcha")),
)
BOT_CHECK_SCAN = 30_000  # characters of the body looked at
BOT_CHECK_MAX_TEXT_200 = 3_000  # a 200 answer with a marker counts only when this small

# Consent walls reached by a redirect: a consent host or a consent path (GDPR/cookie walls).
CONSENT_HOSTS = re.compile(r"^(consent|guce|consent-pref|cmp|privacy-?gate|gdpr)\.", re.IGNORECASE)
CONSENT_PATHS = re.compile(r"/(consent|cookie-?consent|cookie-?wall|gdpr|privacy-?gate|collectconsent)"
                           r"(/|$|\?|\.)", re.IGNORECASE)

# An empty shell: little readable text, scripts that would draw the page, often a mount point.
SHELL_MAX_TEXT = 200
SHELL_MOUNTS = "#root, #app, #__next, #___gatsby, #__nuxt, [data-reactroot], app-root, [ng-app], #svelte"
SHELL_NOT_TEXT = "script, style, noscript, template, svg"


def bot_check(status: int, headers: Mapping[str, str], body_head: str) -> str | None:
    """The name of the bot check this response is, or None. ``headers`` with lower-case names."""
    for name, value in BOT_CHECK_HEADERS:
        got = headers.get(name)
        if got is not None and value in got.lower():
            return f"a bot check ({name}: {got})"
    if status not in BOT_CHECK_STATUS and status != 200:
        return None
    head = body_head[:BOT_CHECK_SCAN].lower()
    if status == 200 and len(head) > BOT_CHECK_MAX_TEXT_200:
        return None
    for name, pattern in BOT_CHECK_MARKERS:
        if pattern.search(head):
            return f"a bot check ({name})"
    return None


def consent_redirect(url: str, final_url: str) -> str | None:
    """A redirect that ended on a consent page of another host or a consent path, or None."""
    if final_url == url:
        return None
    asked, got = urlsplit(url), urlsplit(final_url)
    if got.hostname and got.hostname != asked.hostname and CONSENT_HOSTS.match(got.hostname):
        return f"a consent wall at {got.hostname}"
    if CONSENT_PATHS.search(got.path) and not CONSENT_PATHS.search(asked.path):
        return f"a consent wall at {got.path}"
    return None


def needs_browser(html: str) -> str | None:
    """Why this page needs a browser to render (an empty shell with scripts), or None."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    body = tree.body
    if body is None:
        return None
    scripts = len(tree.css("script"))
    if not scripts:
        return None
    mount = tree.css_first(SHELL_MOUNTS)
    for node in body.css(SHELL_NOT_TEXT):
        node.decompose()
    text = " ".join(body.text(separator=" ").split())
    if len(text) >= SHELL_MAX_TEXT:
        return None
    where = f", mount point {mount.tag}#{mount.id}" if mount is not None and mount.id else ""
    return (f"needs a browser to render: an empty page shell ({scripts} script{'s' if scripts != 1 else ''}, {len(text)} characters "
            f"of text{where})")
