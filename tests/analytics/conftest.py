import numpy as np
import pytest


def random_walk(days: int, symbols: int | None = None, seed: int = 0, vol: float = 0.02) -> np.ndarray:
    """Seeded geometric random walk around 100 (1-D when ``symbols`` is None)."""
    rng = np.random.default_rng(seed)
    shape = (days,) if symbols is None else (days, symbols)
    return 100.0 * np.exp(np.cumsum(rng.normal(0.0002, vol, shape), axis=0))


@pytest.fixture
def walk_2d():
    return random_walk(500, 40, seed=7)


@pytest.fixture
def ohlc_2d():
    rng = np.random.default_rng(11)
    close = random_walk(400, 40, seed=11)
    high = close * (1 + rng.uniform(0, 0.02, close.shape))
    low = close * (1 - rng.uniform(0, 0.02, close.shape))
    return high, low, close


@pytest.fixture
def make_walk():
    return random_walk
