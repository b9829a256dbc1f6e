"""Checkpoints carry every detector's state across a restart, exactly; unreadable ones are refused clearly."""

from __future__ import annotations

import json
import logging
import math
import zlib

import pytest

from naksha.domain.insight.detectors import DetectorBank, SeriesState
from naksha.domain.insight.records import Record
from naksha.models.insightstream import Detector
from naksha.services.insight.checkpoint import (
    VERSION,
    CheckpointError,
    ShardCheckpoint,
    StateBook,
    decode,
    encode,
)

DETECTORS = [
    {"name": "ceiling", "metric": "m", "method": "threshold", "params": {"threshold": {"above": 500.0}}},
    {"name": "baseline", "metric": "m", "method": "ewma", "params": {"ewma": {"alpha": 0.1, "zscore": 4}}},
    {"name": "jump", "metric": "m", "method": "rate", "params": {"rate": {"maxChangePerSecond": 50}}},
    {
        "name": "forecast",
        "metric": "m",
        "method": "predictive",
        "params": {"predictive": {"learnSamples": 30}},
    },
]
SHARD = "kafka/g/t/0"


def book() -> StateBook:
    bank = DetectorBank(
        [Detector.model_validate({**d, "cooldown": "5s", "cooldownSamples": 5}) for d in DETECTORS]
    )
    bank.set_shard(SHARD)
    return StateBook(bank, {})


def samples() -> list[Record]:
    """40 normal samples, a spike, a quiet spell past the cooldown, and a second spike."""
    values = [100.0 + i % 5 for i in range(40)] + [1000.0] * 3 + [100.0 + i % 5 for i in range(20)] + [900.0]
    return [
        Record(ts=1_800_000_000.0 + i, metric="m", value=v, labels=(("svc", "api"),))
        for i, v in enumerate(values)
    ]


def observe(state: StateBook, records: list[Record]) -> list[tuple[str, float]]:
    return [(a.detector, a.started_at) for r in records for a in state.bank.observe(r)]


def restarted(state: StateBook) -> StateBook:
    """A new worker's state, restored from what ``state`` would have saved now."""
    fresh = book()
    assert fresh.restore_saved(SHARD, encode(state.snapshot(SHARD, {"offset": 7}))) is not None
    return fresh


def test_a_restart_at_any_point_makes_the_same_decisions_as_no_restart_for_every_method():
    records = samples()
    uninterrupted = observe(book(), records)
    # Two incidents, each raised once by each detector; the predictive one knows the second spike,
    # within the same hour, as this hour's usual surprise.
    raised = [d for d, _ in uninterrupted]
    assert {d: raised.count(d) for d in raised} == {"ceiling": 2, "baseline": 2, "jump": 2, "forecast": 1}
    for split in range(len(records) + 1):
        first = book()
        before = observe(first, records[:split])
        assert before + observe(restarted(first), records[split:]) == uninterrupted, split


def test_the_document_names_its_version_and_its_fields():
    state = book()
    observe(state, samples()[:5])
    document = json.loads(zlib.decompress(encode(state.snapshot(SHARD, {"offset": 5}))))
    assert document["version"] == VERSION == 1
    assert document["fields"] == list(SeriesState.FIELDS)
    assert document["position"] == {"offset": 5} and document["shard"] == SHARD
    assert document["counts"]["ingested"] == 0  # the pipeline counts, not the detectors


def test_never_is_saved_as_null_since_json_has_no_infinity():
    state = book()
    observe(state, samples()[:1])
    blob = encode(state.snapshot(SHARD, {}))
    restored = decode(blob).detectors["ceiling"][1][0][1]
    assert restored.last_anomalous == -math.inf


def test_counts_and_debounce_memory_travel_with_the_checkpoint():
    state = book()
    state.counts_for(SHARD).update(ingested=2005, rejected=9, deadLettered=9, anomalies=1, agentRuns=1)
    state.debounce[("scale-out", ("m", (("svc", "api"),)))] = (1_800_000_040.0, SHARD)
    state.debounce[("scale-out", ("m", (("svc", "web"),)))] = (1_800_000_050.0, "kafka/g/t/1")
    fresh = book()
    fresh.restore_saved(SHARD, encode(state.snapshot(SHARD, {})))
    assert fresh.counts[SHARD]["ingested"] == 2005 and fresh.counts[SHARD]["rejected"] == 9
    assert fresh.committed == {}  # reported once the source says they are committed
    # Only the shard's own debounce memory is in its checkpoint.
    assert fresh.debounce == {("scale-out", ("m", (("svc", "api"),))): (1_800_000_040.0, SHARD)}


def test_a_checkpoint_holds_only_the_series_last_seen_on_its_shard():
    state = book()
    observe(state, samples()[:3])
    state.bank.set_shard("kafka/g/t/1")
    state.bank.observe(Record(ts=1_800_000_100.0, metric="m", value=1.0, labels=(("svc", "web"),)))
    saved = decode(encode(state.snapshot(SHARD, {})))
    assert [labels for labels, _ in saved.detectors["ceiling"][1]] == [(("svc", "api"),)]
    state.forget(["kafka/g/t/1"])
    assert list(state.bank.runners[0].series) == [(("svc", "api"),)]


def test_restoring_keeps_the_state_that_has_seen_more_samples():
    state = book()
    observe(state, samples()[:30])
    saved = encode(state.snapshot(SHARD, {}))
    live = book()
    observe(live, samples()[:3])
    live.restore_saved(SHARD, saved)
    assert live.bank.runners[0].series[(("svc", "api"),)].count == 30
    observe(state, samples()[30:35])
    state.restore_saved(SHARD, saved)  # an older checkpoint never rolls a series back
    assert state.bank.runners[0].series[(("svc", "api"),)].count == 35


def test_fields_a_newer_version_added_are_ignored_and_missing_ones_keep_their_defaults():
    state = book()
    observe(state, samples()[:10])
    document = json.loads(zlib.decompress(encode(state.snapshot(SHARD, {}))))
    document["fields"] = [*document["fields"][:-1], "seasonal_profile"]  # drop last_anomalous, add one
    for saved in document["detectors"].values():
        for series in saved["series"]:
            series[1] = [*series[1][:-1], [1, 2, 3]]
    restored = decode(zlib.compress(json.dumps(document).encode()))
    state = restored.detectors["baseline"][1][0][1]
    assert state.count == 10 and state.last_anomalous == -math.inf


def test_state_saved_for_a_detector_whose_method_changed_is_not_reused(caplog):
    state = book()
    observe(state, samples()[:35])
    saved = encode(state.snapshot(SHARD, {}))
    changed = DetectorBank(
        [Detector.model_validate({**DETECTORS[1], "method": "threshold", "params": DETECTORS[0]["params"]})]
    )
    fresh = StateBook(changed, {})
    with caplog.at_level(logging.WARNING):
        fresh.restore_saved(SHARD, saved)
    assert changed.runners[0].series == {}
    assert "baseline" in caplog.text and "starts afresh" in caplog.text


def corrupt_documents() -> list[tuple[str, bytes]]:
    good = json.loads(zlib.decompress(encode(ShardCheckpoint(SHARD))))

    def packed(**changes: object) -> bytes:
        return zlib.compress(json.dumps({**good, **changes}).encode())

    return [
        ("not compressed", b"{}"),
        ("compressed garbage", zlib.compress(b"\x00\xff not json")),
        ("not an object", zlib.compress(b"[1, 2]")),
        ("an unknown version", packed(version=99)),
        ("no version", zlib.compress(json.dumps({k: v for k, v in good.items() if k != "version"}).encode())),
        (
            "no detectors",
            zlib.compress(json.dumps({k: v for k, v in good.items() if k != "detectors"}).encode()),
        ),
        ("a negative counter", packed(counts={"ingested": -1})),
        (
            "a series value of the wrong type",
            packed(
                detectors={
                    "ceiling": {"fingerprint": "x", "series": [[[], ["many", 0, 0, None, 0, False, None]]]}
                }
            ),
        ),
        (
            "a series with too few values",
            packed(detectors={"ceiling": {"fingerprint": "x", "series": [[[], [1]]]}}),
        ),
        ("an infinite debounce time", packed(debounce=[["t", "m", [], "inf"]])),
    ]


@pytest.mark.parametrize(("case", "blob"), corrupt_documents(), ids=[c for c, _ in corrupt_documents()])
def test_an_unreadable_checkpoint_is_refused_with_its_reason_and_the_shard_starts_afresh(case, blob, caplog):
    with pytest.raises(CheckpointError):
        decode(blob)
    state = book()
    with caplog.at_level(logging.ERROR):
        assert state.restore_saved(SHARD, blob) is None
    assert f"checkpoint of {SHARD} cannot be used" in caplog.text and "starts afresh" in caplog.text
    assert state.unreadable == 1 and state.last_error and SHARD in state.last_error
    assert all(not runner.series for runner in state.bank.runners) and state.counts == {}


def test_an_unknown_version_is_named_in_the_error():
    good = json.loads(zlib.decompress(encode(ShardCheckpoint(SHARD))))
    with pytest.raises(CheckpointError, match="version 2 is not supported"):
        decode(zlib.compress(json.dumps({**good, "version": 2}).encode()))


def test_a_checkpoint_of_another_shard_is_refused():
    state = book()
    assert state.restore_saved("kafka/g/t/1", encode(ShardCheckpoint(SHARD))) is None
    assert "belongs to shard" in (state.last_error or "")


def test_adopting_a_departed_consumers_state_takes_its_series_but_not_its_counts():
    departed = book()
    observe(departed, samples()[:35])
    departed.counts_for(SHARD)["ingested"] = 35
    heir = book()
    heir.restore_saved(SHARD, encode(departed.snapshot(SHARD, {})), into="redis/g/heir")
    series = heir.bank.runners[1].series[(("svc", "api"),)]
    assert series.count == 35 and series.shard == "redis/g/heir"
    assert heir.counts == {}
