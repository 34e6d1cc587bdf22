"""The predictions' model cache: bounded by count and by bytes of weights, least recently used out,
a single model larger than the budget still served, eviction by job id."""

from __future__ import annotations

from dataclasses import dataclass

from layerloom.predict import PredictorCache


@dataclass
class Loaded:  # what the cache needs of a Predictor: its size
    name: str
    nbytes: int


def test_the_least_recently_used_model_goes_first_when_the_count_is_reached() -> None:
    cache = PredictorCache(max_models=2, max_bytes=10**9)
    cache.get("a", lambda: Loaded("a", 10))
    cache.get("b", lambda: Loaded("b", 10))
    assert cache.peek("a") is not None  # a is now the most recently used
    cache.get("c", lambda: Loaded("c", 10))
    assert "b" not in cache and "a" in cache and "c" in cache and len(cache) == 2


def test_the_byte_budget_bounds_the_cache_but_one_large_model_is_served() -> None:
    cache = PredictorCache(max_models=10, max_bytes=100)
    cache.get("a", lambda: Loaded("a", 60))
    cache.get("b", lambda: Loaded("b", 60))
    assert "a" not in cache and cache.total_bytes == 60
    huge = cache.get("c", lambda: Loaded("c", 1000))
    assert huge.name == "c" and list(cache._items) == ["c"]


def test_a_cached_model_is_not_loaded_again_and_eviction_drops_it() -> None:
    cache = PredictorCache()
    loads = []
    for _ in range(3):
        cache.get("job", lambda: loads.append(1) or Loaded("job", 1))
    assert len(loads) == 1
    cache.evict("job")
    cache.evict("never-loaded")  # harmless
    assert "job" not in cache and cache.peek("job") is None
