"""The knee of an elbow curve: Kneedle (Satopaa et al., 2011) for a convex, decreasing curve.

The same algorithm and the same answer as kneed's `KneeLocator(x, y, curve="convex",
direction="decreasing")` (S=1, interp1d, offline), which tests/test_knee.py checks curve by curve
against kneed itself. It lives here, in a few lines of numpy and scipy, because the SageMaker
SKLearn image ships numpy and scipy but not kneed, and no job installs anything at run time.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import argrelextrema


def _normalize(a: np.ndarray) -> np.ndarray:
    return (a - a.min()) / (a.max() - a.min())


def kneedle(x, y, sensitivity: float = 1.0) -> float | None:
    """The x of the knee of the convex, decreasing curve (x, y), or None when it has none.

    Kneedle normalises both axes to [0, 1], turns the curve so that its knee is the maximum of
    the difference curve `y' - x'`, and takes the first local maximum after which the difference
    curve drops below that maximum minus `sensitivity` times the mean x step.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError("x and y must be 1-D arrays of the same length")
    if x.size < 3 or x.max() == x.min() or y.max() == y.min():
        return None
    x_norm = _normalize(x)
    y_norm = _normalize(y)
    y_norm = y_norm.max() - y_norm                   # convex, decreasing -> the knee is a maximum
    difference = y_norm - x_norm
    maxima = argrelextrema(difference, np.greater_equal)[0]
    minima = argrelextrema(difference, np.less_equal)[0]
    if not maxima.size:
        return None
    thresholds = difference[maxima] - sensitivity * np.abs(np.diff(x_norm).mean())
    maxima_seen = 0
    threshold, threshold_index, active = 0.0, int(maxima[0]), True
    for i in range(int(maxima[0]), x.size - 1):
        if i in maxima:
            threshold, threshold_index = thresholds[maxima_seen], i
            maxima_seen += 1
            active = True
        if i in minima:                              # past a local minimum: wait for the next maximum
            threshold, active = 0.0, False
        if active and difference[i + 1] < threshold:
            return float(x[threshold_index])
    return None
