"""The local CDN's nginx configuration follows chalicelib.caching, the definition CloudFront's cache
behaviours come from (tests/infra pins the distribution against it)."""

import re
from pathlib import Path

from chalicelib import caching
from devstack.cdn import config, location_pattern


def test_each_behaviour_is_a_location_in_cloudfronts_order_keyed_by_its_own_parameters():
    text = config(8000, 8002, Path("/tmp/cdn"))
    found = re.findall(r'location (?:~ (\S+)|(/)) \{\n\s+proxy_cache_key "\$cdn_path\?([^"]*)";', text)
    expected = [
        (location_pattern(rule.path), "", "".join(f"$cdn_{q}" for q in rule.query)) for rule in caching.BEHAVIOURS
    ]
    assert found == [*expected, ("", "/", "")]
    for name in {q for rule in caching.BEHAVIOURS for q in rule.query}:
        assert f'map $arg_{name} $cdn_{name} {{ "" ""; default "{name}=$arg_{name}&"; }}' in text
    for directive in ("proxy_cache_lock on;", "proxy_cache_use_stale updating;", "listen 127.0.0.1:8002;"):
        assert directive in text
    assert "server 127.0.0.1:8000;" in text


def test_a_cloudfront_path_pattern_becomes_an_anchored_regex():
    assert re.fullmatch(location_pattern("/matches/*/changes"), "/matches/m.1/changes")
    assert not re.fullmatch(location_pattern("/matches/*/changes"), "/matches/m1/changes/x")
    assert not re.fullmatch(location_pattern("/matches"), "/matchesX")
