"""How long each read may be cached, and what its cache key holds.

One definition serves three places, so they cannot disagree: the API's own
``Cache-Control`` (``chalicelib.http``), CloudFront's cache behaviours
(``infra.stack``) and the local caching proxy that ``make run`` starts
(``devstack.cdn``). Each behaviour names a path pattern (CloudFront's: ``*``
is any characters, the first pattern that matches wins), its ``max-age``, and
the query parameters that change the answer: those, and only those, are in
the cache key. ``If-None-Match`` and ``ETag`` pass through, so a viewer
revalidates against the CDN and the CDN against the API.
"""

import attrs

LIVE_MAX_AGE = 2  # a match's reads: long enough for a CDN to absorb a crowd, short enough for a live ticker
DIRECTORY_MAX_AGE = 5
PAGE_MAX_AGE = 60  # the match centre's page and assets
IMMUTABLE_MAX_AGE = 31_536_000  # a year: a full change-feed page (one with next_cursor) never changes
IMMUTABLE = f"public, max-age={IMMUTABLE_MAX_AGE}, immutable"

DIRECTORY_PARAMS = ("status", "date", "limit", "cursor")
CHANGE_PARAMS = ("after", "limit")
PAGE_PARAMS = ("limit", "cursor", "order", "from", "to")
STATS_PARAMS = ("period",)


@attrs.frozen
class Behaviour:
    path: str
    max_age: int  # what the API answers with, and the CDN's default TTL
    query: tuple[str, ...] = ()


BEHAVIOURS = (
    Behaviour("/matches", DIRECTORY_MAX_AGE, DIRECTORY_PARAMS),
    Behaviour("/matches/*/changes", LIVE_MAX_AGE, CHANGE_PARAMS),
    Behaviour("/matches/*/stats", LIVE_MAX_AGE, STATS_PARAMS),
    Behaviour("/matches/*", LIVE_MAX_AGE, PAGE_PARAMS),
    Behaviour("/config", 0),
    Behaviour("/health", 0),
)
DEFAULT = Behaviour("*", PAGE_MAX_AGE)  # the page and its assets


def cache_control(max_age: int) -> str:
    return f"public, max-age={max_age}"
