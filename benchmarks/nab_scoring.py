"""The Numenta Anomaly Benchmark's scoring method, written from its paper and documentation.

Lavin & Ahmad, "Evaluating Real-time Anomaly Detection Algorithms — the Numenta Anomaly
Benchmark" (2015), and the NAB documentation, define the score; this module implements it:

- Each series has labelled anomaly windows. The first ``PROBATION`` share of a series (at most
  15 % of 5,000 samples) is for learning: detections there are ignored.
- A detection is a sample whose score reaches the threshold. Inside a window only the first
  detection counts, as a true positive worth the scaled sigmoid of its position
  ``S(y) = 2 / (1 + exp(5 y)) - 1`` divided by ``S(-1)``, with ``y = -(end - i + 1) / width``
  running from -1 at the window's first sample towards 0 at its end: a detection at the window's
  start earns exactly one point, a late one almost nothing.
- A detection outside every window is a false positive: after a window it costs ``S(y)`` with
  ``y = (i - end) / (width - 1)`` the distance past that window's end (so a late detection of the
  same incident costs little, and from ``y = 3`` on a full point); before the first window it
  costs a full point. A window with no detection is a false negative and costs a full point.
  A window that lies wholly inside the probationary period is not scored at all.
- Three profiles weight these: standard (TP 1, FP 0.11, FN 1), reward low FP (FP 0.22) and
  reward low FN (FN 2).
- Each profile's raw score is normalised between the null detector (never fires: every window
  missed) and the perfect one (one point per window): ``100 (raw - null) / (perfect - null)``.

These details (the division by ``S(-1)``, ``width - 1`` past a window, the flat -1 from three
window widths on, unscored probationary windows) follow NAB's published scorer; ``detectors.py
--verify`` checks this module against the scores NAB publishes for its own detectors.
- The threshold is optimised per profile, once for the whole corpus: the best raw score over
  every threshold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

PROBATION = 0.15
PROBATION_CAP = 5000


@dataclass(frozen=True)
class Profile:
    name: str
    tp: float
    fp: float
    fn: float


PROFILES = (
    Profile("standard", tp=1.0, fp=0.11, fn=1.0),
    Profile("reward_low_FP_rate", tp=1.0, fp=0.22, fn=1.0),
    Profile("reward_low_FN_rate", tp=1.0, fp=0.11, fn=2.0),
)


def sigmoid(y: float) -> float:
    """NAB's scaled sigmoid: 1 - 2 / (1 + e^5) at y = -1, 0 at y = 0, and -1 from y = 3 on."""
    if y >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


MAX_TP = sigmoid(-1.0)


class LabelledSeries:
    """Where each sample of one series sits against its windows (what a detection there is worth)."""

    def __init__(self, length: int, windows: Sequence[tuple[int, int]]) -> None:
        self.length = length
        self.probation = int(min(math.floor(PROBATION * length), PROBATION * PROBATION_CAP))
        every = sorted(windows)  # inclusive index ranges
        # A window wholly inside the probation is neither hit nor missed (it still precedes the
        # samples after it, which are false positives relative to it).
        self.windows = [w for w in every if w[1] >= self.probation]
        # Per sample: the scored window it is in (or -1), and the worth of a detection there.
        self.window_of = [-1] * length
        self.worth = [-1.0] * length
        previous: tuple[int, int] | None = None
        bounds = iter(every)
        upcoming = next(bounds, None)
        for i in range(length):
            if upcoming is not None and i > upcoming[1]:
                previous, upcoming = upcoming, next(bounds, None)
            if upcoming is not None and upcoming[0] <= i <= upcoming[1]:
                start, end = upcoming
                if upcoming in self.windows:
                    self.window_of[i] = self.windows.index(upcoming)
                self.worth[i] = sigmoid(-(end - i + 1) / (end - start + 1)) / MAX_TP
            elif previous is not None:
                start, end = previous
                self.worth[i] = sigmoid((i - end) / max(end - start, 1))

    def perfect(self) -> float:
        return float(len(self.windows))


def raw_score(
    corpus: Sequence[LabelledSeries], detections: Sequence[Sequence[int]], profile: Profile
) -> float:
    """The raw score of the detections (sample indexes per series) under ``profile``."""
    total = 0.0
    for series, found in zip(corpus, detections, strict=True):
        first: dict[int, int] = {}
        for i in found:
            if i < series.probation:
                continue
            window = series.window_of[i]
            if window < 0:
                total += profile.fp * series.worth[i]
            elif window not in first or i < first[window]:
                first[window] = i
        for window in range(len(series.windows)):
            total += profile.tp * series.worth[first[window]] if window in first else -profile.fn
    return total


def normalised(corpus: Sequence[LabelledSeries], raw: float, profile: Profile) -> float:
    windows = sum(len(series.windows) for series in corpus)
    null = -profile.fn * windows
    perfect = profile.tp * sum(series.perfect() for series in corpus)
    return 100.0 * (raw - null) / (perfect - null)


def best_threshold(
    corpus: Sequence[LabelledSeries], scores: Sequence[Sequence[float]], profile: Profile
) -> tuple[float, float]:
    """``(threshold, raw score)`` maximising the raw score (an infinite threshold: the null detector).

    One sweep from the highest score down: each step adds the detections of one more score value
    and updates the false-positive sum and each window's first detection incrementally.
    """
    windows = sum(len(series.windows) for series in corpus)
    events = [
        (score, s, i)
        for s, (series, series_scores) in enumerate(zip(corpus, scores, strict=True))
        for i, score in enumerate(series_scores)
        if score > 0 and i >= series.probation
    ]
    events.sort(reverse=True)
    fp_total = 0.0
    tp_total = 0.0
    detected = 0
    first: dict[tuple[int, int], int] = {}
    best = (math.inf, -profile.fn * windows)
    k = 0
    while k < len(events):
        threshold = events[k][0]
        while k < len(events) and events[k][0] == threshold:
            _, s, i = events[k]
            series = corpus[s]
            window = series.window_of[i]
            if window < 0:
                fp_total += series.worth[i]
            else:
                key = (s, window)
                earlier = first.get(key)
                if earlier is None:
                    detected += 1
                    tp_total += series.worth[i]
                    first[key] = i
                elif i < earlier:
                    tp_total += series.worth[i] - series.worth[earlier]
                    first[key] = i
            k += 1
        raw = profile.tp * tp_total + profile.fp * fp_total - profile.fn * (windows - detected)
        if raw > best[1]:
            best = (threshold, raw)
    return best
