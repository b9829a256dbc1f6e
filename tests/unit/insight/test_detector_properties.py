"""Whatever a series sends (NaN, infinities, huge values, timestamps out of order), every method's
score stays in [0, 1], its state stays the same small size, and it survives a checkpoint."""

from __future__ import annotations

import math
import sys

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from naksha.domain.insight.detectors import DetectorBank
from naksha.domain.insight.records import Record
from naksha.domain.insight.series_state import SeriesState
from naksha.models.insightstream import Detector

PARAMS = {
    "threshold": {"threshold": {"above": 10.0, "below": -10.0}},
    "ewma": {},
    "rate": {"rate": {"maxChangePerSecond": 5.0}},
    "predictive": {},
}
values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e6, max_value=1e6),
    st.sampled_from([0.0, 1e308, -1e308, 5e-324]),
)
timestamps = st.one_of(st.floats(min_value=-1e10, max_value=1e12), st.sampled_from([math.nan, math.inf]))
samples = st.lists(st.tuples(timestamps, values), max_size=300)


def state_size(state: SeriesState) -> int:
    size = 0
    for name in SeriesState.FIELDS:
        value = getattr(state, name)
        size += sys.getsizeof(value) + (8 * len(value) if isinstance(value, list) else 0)
    return size


@settings(max_examples=150, deadline=None)
@given(method=st.sampled_from(sorted(PARAMS)), series=samples)
def test_scores_stay_in_the_unit_interval_and_state_stays_small(method, series):
    detector = Detector.model_validate(
        {"name": "d", "metric": "m", "method": method, "params": PARAMS[method], "minSamples": 3}
    )
    bank = DetectorBank([detector])
    runner = bank.runners[0]
    largest = 0
    for ts, value in series:
        for anomaly in bank.observe(Record(ts=ts, metric="m", value=value)):
            assert 0.0 <= anomaly.score <= 1.0
        assert 0.0 <= runner.peak <= 1.0
        for state in runner.series.values():
            largest = max(largest, state_size(state))
    assert largest <= 2_200  # a handful of numbers and five short lists, whatever came in
    assert len(runner.series) <= 1
    for state in runner.series.values():
        saved = orjson.loads(orjson.dumps(state.dump()))  # as a checkpoint writes and reads it
        restored = SeriesState.load(SeriesState.FIELDS, saved, shard="s")
        assert orjson.dumps(restored.dump()) == orjson.dumps(state.dump())
