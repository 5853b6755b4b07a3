"""Every per-process cache forgets its least recently used entry past its bound (CACHE_MAX_ENTRIES)."""

import pytest

from chalicelib.config import Settings
from chalicelib.lru import LRU
from chalicelib.repository import EventRepository
from tests.support.fakes import EmptyDynamoDB


def test_the_least_recently_used_entry_goes_first():
    cache: LRU[str, int] = LRU(2)
    cache["a"], cache["b"] = 1, 2
    assert cache["a"] == 1  # now the most recent
    cache["c"] = 3
    assert dict(cache) == {"a": 1, "c": 3}


def test_the_bound_comes_from_the_environment_and_reaches_the_repository():
    settings = Settings.from_env({"CACHE_MAX_ENTRIES": "3"})
    repository = EventRepository(EmptyDynamoDB(), "t", settings.cache_entries)  # type: ignore[arg-type]
    assert repository._heads.max_entries == 3
    for bad in ("0", "-1", "²", "many"):
        with pytest.raises(ValueError, match="CACHE_MAX_ENTRIES"):
            Settings.from_env({"CACHE_MAX_ENTRIES": bad})
