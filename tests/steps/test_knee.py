"""steps/knee.py gives kneed's answer (kneed is a test dependency only: the SKLearn image lacks it)."""
import numpy as np
import pytest
from kneed import KneeLocator

from steps.knee import kneedle


def kneed_knee(x, y):
    return KneeLocator(x, y, curve="convex", direction="decreasing").knee


def elbow_like(rng, n):
    """Curves shaped like k-means elbows: a decaying head, a long flat tail, noise and plateaus."""
    k = np.arange(2, 2 + n)
    y = rng.uniform(0.5, 3) * np.exp(-k / rng.uniform(1, 10)) + rng.uniform(0, 0.3) / k + rng.uniform(0, 1)
    y = y + rng.normal(0, rng.choice([0, 1e-4, 1e-3, 1e-2]), n)
    if rng.random() < 0.3:
        y = np.round(y, 2)                            # ties: plateaus in the difference curve
    return k, np.sort(y)[::-1] if rng.random() < 0.5 else y


@pytest.mark.filterwarnings("ignore::UserWarning")   # kneed warns when it finds no knee
def test_same_knee_as_kneed_on_a_thousand_curves():
    rng = np.random.default_rng(7)
    agree = 0
    for _ in range(1000):
        k, y = elbow_like(rng, int(rng.integers(3, 60)))
        assert kneedle(k, y) == kneed_knee(k, y)
        agree += 1
    assert agree == 1000


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_the_demo_elbow_and_curves_without_a_knee():
    k = np.arange(2, 51)
    y = 1e5 * (k ** -0.8)
    assert kneedle(k, y) == kneed_knee(k, y) is not None
    straight = 100 - 2.0 * k
    assert kneedle(k, straight) == kneed_knee(k, straight)
    assert kneedle(k, np.ones_like(k, dtype=float)) is None          # flat: no knee, no division by 0
    assert kneedle([2, 3], [5.0, 1.0]) is None
    with pytest.raises(ValueError, match="same length"):
        kneedle([1, 2, 3], [1.0, 2.0])
