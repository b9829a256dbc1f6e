"""Parsing telemetry: good records come out typed, bad ones are refused with their reason, nothing raises."""

from __future__ import annotations

import json

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from naksha.domain.insight.records import REASONS, parse_payload
from naksha.models.insightstream import RecordMapping

DEFAULT = RecordMapping()
NOW = 1_800_000_000.0


def parse(document: object, mapping: RecordMapping = DEFAULT, **options: int):
    return parse_payload(json.dumps(document).encode(), mapping, received_at=NOW, **options)


def test_a_record_is_parsed_with_sorted_labels():
    result = parse({"ts": 1_700_000_000, "metric": "latency", "value": 0.25, "labels": {"b": "2", "a": 1}})
    (record,) = result.records
    assert (record.ts, record.metric, record.value) == (1_700_000_000.0, "latency", 0.25)
    assert record.labels == (("a", "1"), ("b", "2"))
    assert record.series == ("latency", (("a", "1"), ("b", "2")))


def test_a_batch_keeps_the_good_records_and_refuses_the_bad_ones_by_index():
    result = parse([{"metric": "m", "value": 1}, {"metric": "m"}, 7, {"metric": "m", "value": "2.5"}])
    assert [r.value for r in result.records] == [1.0, 2.5]
    assert [(r.index, r.reason) for r in result.rejections] == [(1, "missing_value"), (2, "not_object")]
    assert json.loads(result.rejections[0].raw) == {"metric": "m"}


def test_timestamps_in_milliseconds_and_rfc3339_are_understood_and_missing_ones_default_to_receipt():
    millis, text, missing = parse(
        [
            {"metric": "m", "value": 1, "ts": 1_700_000_000_500},
            {"metric": "m", "value": 1, "ts": "2023-11-14T22:13:20.5Z"},
            {"metric": "m", "value": 1},
        ]
    ).records
    assert millis.ts == 1_700_000_000.5
    assert text.ts == 1_700_000_000.5
    assert missing.ts == NOW


def test_a_field_mapping_reads_nested_paths():
    mapping = RecordMapping(timestamp="time", metric="m.name", value="m.v", labels="tags")
    (record,) = parse({"time": 5, "m": {"name": "cpu", "v": 0.9}, "tags": {"node": "n1"}}, mapping).records
    assert (record.ts, record.metric, record.value, record.labels) == (5.0, "cpu", 0.9, (("node", "n1"),))


def test_each_kind_of_bad_record_gets_its_own_reason():
    cases = {
        b"{not json": "invalid_json",
        b'"a string"': "not_object",
        b'{"value": 1}': "missing_metric",
        b'{"metric": 3, "value": 1}': "bad_metric",
        b'{"metric": "m"}': "missing_value",
        b'{"metric": "m", "value": true}': "bad_value",
        b'{"metric": "m", "value": "1e999"}': "bad_value",
        b'{"metric": "m", "value": 1, "ts": "yesterday"}': "bad_timestamp",
        b'{"metric": "m", "value": 1, "ts": -5}': "bad_timestamp",
        b'{"metric": "m", "value": 1, "labels": {"a": {"b": 1}}}': "bad_labels",
        b'{"metric": "m", "value": 1, "labels": [1]}': "bad_labels",
    }
    for raw, reason in cases.items():
        result = parse_payload(raw, DEFAULT, received_at=NOW)
        assert not result.records, raw
        assert [r.reason for r in result.rejections] == [reason], raw


def test_a_batch_over_the_item_limit_is_refused_whole():
    result = parse([{"metric": "m", "value": i} for i in range(11)], max_items=10)
    assert not result.records
    assert [r.reason for r in result.rejections] == ["too_many_items"]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(raw: bytes):
    result = parse_payload(raw, DEFAULT, received_at=NOW)
    assert all(r.reason in REASONS for r in result.rejections)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
RECORDISH = st.fixed_dictionaries(
    {},
    optional={
        "metric": JSON | st.text(min_size=1, max_size=8),
        "value": JSON,
        "ts": JSON,
        "labels": JSON | st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
    },
)


@settings(max_examples=300, deadline=None)
@given(st.lists(RECORDISH | JSON, max_size=6))
def test_every_item_of_arbitrary_json_is_either_a_record_or_a_counted_rejection(items: list[object]):
    try:
        raw = orjson.dumps(items)
    except (TypeError, orjson.JSONEncodeError):
        return  # not encodable as JSON (e.g. integers beyond 64 bits): nothing to send
    result = parse_payload(raw, DEFAULT, received_at=NOW)
    assert len(result.records) + len(result.rejections) == len(items)
    assert sorted(r.index for r in result.rejections) == [r.index for r in result.rejections]
