"""Checkpoints larger than one ConfigMap: spilled into the stream's spill ConfigMaps and read back whole.

A ``predictive`` detector at its 10,000-series cap keeps about 100 numbers per series, several
megabytes of checkpoint, where one ConfigMap holds about 1 MiB. These tests save such a state
through the real ``ConfigMapStore`` against the API server and read it back with a fresh store
(as the next owner of the partition does), and check what a save leaves behind: the previous
checkpoint's parts go, a crashed save's parts are cleaned up, a missing part makes the shard's
checkpoint unusable rather than wrong.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random

import pytest
from kubernetes import client

from naksha.domain.insight.detectors import DEFAULT_MAX_SERIES, DetectorBank
from naksha.domain.insight.records import Record
from naksha.domain.insight.series_state import SeriesState
from naksha.models.insightstream import Detector
from naksha.services.insight.checkpoint import CheckpointError, StateBook, decode, encode
from naksha.services.insight.state_store import (
    MANIFEST,
    MAX_BYTES,
    ConfigMapStore,
    shard_key,
    spill_names,
    state_name,
)

SHARD = "kafka/g/t/0"
PREDICTIVE = Detector.model_validate({"name": "latency", "metric": "m", "method": "predictive"})


@pytest.fixture
def namespace(svc_stream_namespace: str) -> str:
    return svc_stream_namespace


def learnt_state() -> SeriesState:
    """One series' predictive state after three days of a noisy daily cycle (every part filled)."""
    bank = DetectorBank([PREDICTIVE])
    rng = random.Random(7)
    for step in range(3 * 288):
        ts = 1_800_000_000.0 + 300.0 * step
        value = 100.0 + 20.0 * math.sin(2 * math.pi * ts / 86_400) + rng.gauss(0, 2)
        bank.observe(Record(ts=ts, metric="m", value=value))
    return next(iter(bank.runners[0].series.values()))


def full_book(series: int) -> StateBook:
    """A bank whose predictive detector tracks ``series`` series, each with its own noisy numbers."""
    template = learnt_state().dump()
    rng = random.Random(11)
    book = StateBook(DetectorBank([PREDICTIVE]), {})
    runner = book.bank.runners[0]
    for index in range(series):
        values = [jitter(value, rng) for value in template]
        state = SeriesState.load(SeriesState.FIELDS, values, SHARD)
        runner.restore((("pod", f"checkout-{index:05d}"),), state)
    return book


def jitter(value: object, rng: random.Random) -> object:
    """A saved field moved by up to 1 %: its own noisy digits, as a real series has. An infinite
    float (a time that never was) is saved as null."""
    if isinstance(value, list):
        return [x * (1 + rng.uniform(-0.01, 0.01)) for x in value]
    if isinstance(value, float):
        return value * (1 + rng.uniform(-0.01, 0.01)) if math.isfinite(value) else None
    return value


def config_map(api_client, namespace: str, name: str) -> dict[str, str]:
    found = client.CoreV1Api(api_client).read_namespaced_config_map(name, namespace)
    return dict(found.binary_data or {})


def test_a_predictive_detector_at_its_series_cap_round_trips_through_the_config_maps(
    api_client, kube, namespace
):
    book = full_book(DEFAULT_MAX_SERIES)
    blob = encode(book.snapshot(SHARD, {"offset": 123_456}))
    assert len(blob) * 4 / 3 > 3 * MAX_BYTES  # far more than one ConfigMap holds
    ConfigMapStore(kube, namespace=namespace, stream="svc").save({SHARD: blob})

    loaded = ConfigMapStore(kube, namespace=namespace, stream="svc").load([SHARD])
    restored = decode(loaded[SHARD])
    assert restored.position == {"offset": 123_456}
    _, series = restored.detectors["latency"]
    saved = dict(book.bank.runners[0].series)
    assert len(series) == DEFAULT_MAX_SERIES
    assert all(state.dump() == saved[labels].dump() for labels, state in series)
    # The state ConfigMap holds only a manifest; the parts sit in the first spill ConfigMaps.
    manifest = config_map(api_client, namespace, state_name("svc"))[shard_key(SHARD)]
    assert len(manifest) < 4_000
    used = [name for name in spill_names("svc") if config_map_or_empty(api_client, namespace, name)]
    assert used == spill_names("svc")[: len(used)] and len(used) >= 4
    assert all(sum(map(len, config_map(api_client, namespace, name).values())) <= MAX_BYTES for name in used)


def config_map_or_empty(api_client, namespace: str, name: str) -> dict[str, str]:
    try:
        return config_map(api_client, namespace, name)
    except client.ApiException as error:
        if error.status == 404:
            return {}
        raise


def spilled_parts(api_client, namespace: str) -> set[str]:
    return {key for name in spill_names("svc") for key in config_map_or_empty(api_client, namespace, name)}


def test_a_new_checkpoint_replaces_the_parts_of_the_previous_one_and_one_that_fits_again_goes_inline(
    api_client, kube, namespace
):
    store = ConfigMapStore(kube, namespace=namespace, stream="svc")
    big = encode(full_book(2_500).snapshot(SHARD, {"offset": 1}))
    store.save({SHARD: big})
    first = spilled_parts(api_client, namespace)
    bigger = encode(full_book(3_000).snapshot(SHARD, {"offset": 2}))
    store.save({SHARD: bigger})
    second = spilled_parts(api_client, namespace)
    assert first and second and not first & second  # the older checkpoint's parts are gone
    assert decode(ConfigMapStore(kube, namespace=namespace, stream="svc").load([SHARD])[SHARD]).position == {
        "offset": 2
    }

    small = encode(full_book(10).snapshot(SHARD, {"offset": 3}))
    store.save({SHARD: small})
    assert spilled_parts(api_client, namespace) == set()
    assert config_map(api_client, namespace, state_name("svc"))[shard_key(SHARD)]  # inline again
    assert decode(ConfigMapStore(kube, namespace=namespace, stream="svc").load([SHARD])[SHARD]).position == {
        "offset": 3
    }


def test_parts_left_by_a_save_that_died_before_its_manifest_are_removed_by_the_next_save(
    api_client, kube, namespace
):
    big = encode(full_book(2_500).snapshot(SHARD, {"offset": 1}))
    ConfigMapStore(kube, namespace=namespace, stream="svc").save({SHARD: big})
    kept = spilled_parts(api_client, namespace)
    # A worker that wrote its parts and died before the manifest: its parts name no manifest.
    orphan = f"{shard_key(SHARD)}.{'0' * 16}.0"
    client.CoreV1Api(api_client).patch_namespaced_config_map(
        spill_names("svc")[0], namespace, {"binaryData": {orphan: "AAAA"}}
    )
    # The checkpoint the manifest names is still the one read back.
    assert decode(ConfigMapStore(kube, namespace=namespace, stream="svc").load([SHARD])[SHARD]).position == {
        "offset": 1
    }
    # The next owner's first save looks at the spill ConfigMaps and removes what no manifest names.
    restarted = ConfigMapStore(kube, namespace=namespace, stream="svc")
    restarted.save({SHARD: encode(full_book(2_600).snapshot(SHARD, {"offset": 2}))})
    after = spilled_parts(api_client, namespace)
    assert orphan not in after and not kept & after and after


def test_a_spilled_checkpoint_missing_a_part_is_unusable_and_the_shard_starts_afresh(
    api_client, kube, namespace, caplog
):
    big = encode(full_book(2_500).snapshot(SHARD, {"offset": 1}))
    ConfigMapStore(kube, namespace=namespace, stream="svc").save({SHARD: big})
    client.CoreV1Api(api_client).delete_namespaced_config_map(spill_names("svc")[0], namespace)

    loaded = ConfigMapStore(kube, namespace=namespace, stream="svc").load([SHARD])
    assert "lacks its part" in caplog.text
    with pytest.raises(CheckpointError):
        decode(loaded[SHARD])
    fresh = StateBook(DetectorBank([PREDICTIVE]), {})
    assert fresh.restore_saved(SHARD, loaded[SHARD]) is None
    assert fresh.unreadable == 1 and fresh.bank.runners[0].series == {}


def test_the_manifest_names_the_digest_of_the_whole_checkpoint(api_client, kube, namespace):
    big = encode(full_book(2_500).snapshot(SHARD, {"offset": 1}))
    ConfigMapStore(kube, namespace=namespace, stream="svc").save({SHARD: big})
    manifest = base64.b64decode(config_map(api_client, namespace, state_name("svc"))[shard_key(SHARD)])
    assert manifest.startswith(MANIFEST)
    document = json.loads(manifest[len(MANIFEST) :])
    assert document["digest"] == hashlib.sha256(big).hexdigest() and document["size"] == len(big)
