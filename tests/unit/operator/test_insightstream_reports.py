"""The operator folds the insight workers' own reports into one InsightStream summary."""

from __future__ import annotations

from naksha.reconcilers.insightstream import COUNTERS, fold_counts, summarize


def counts(ingested: int, rejected: int = 0, agent_runs: int = 0) -> dict[str, int]:
    return {
        "ingested": ingested,
        "rejected": rejected,
        "deadLettered": 0,
        "anomalies": 0,
        "agentRuns": agent_runs,
    }


def totals(folded) -> dict[str, int]:
    return {c: folded.retired[c] + sum(entry[c] for entry in folded.shards.values()) for c in COUNTERS}


def test_counts_are_summed_across_shards_and_workers():
    reports = {
        "w-1": {"shards": {"kafka/g/t/0": counts(10, 1, 1), "kafka/g/t/1": counts(5)}},
        "w-2": {"shards": {"kafka/g/t/2": counts(7)}},
    }
    folded = fold_counts({}, {}, [], reports, {"w-1", "w-2"})
    assert totals(folded)["ingested"] == 22
    assert (totals(folded)["rejected"], totals(folded)["agentRuns"]) == (1, 1)


def test_the_lag_is_the_worst_workers():
    assert summarize([{"lag": 5}, {"lag": 40}])["lag"] == 40


def test_a_restarted_worker_reporting_its_restored_counts_never_lowers_a_shard():
    before = fold_counts({}, {}, [], {"w-1": {"shards": {"kafka/g/t/0": counts(2005, 9)}}}, {"w-1"})
    # The new process restored an older checkpoint and has not replayed the tail yet.
    after = fold_counts(
        before.shards, before.retired, [], {"w-2": {"shards": {"kafka/g/t/0": counts(1105)}}}, {"w-2"}
    )
    assert (totals(after)["ingested"], totals(after)["rejected"]) == (2005, 9)
    caught_up = fold_counts(
        after.shards, after.retired, [], {"w-2": {"shards": {"kafka/g/t/0": counts(2300, 9)}}}, {"w-2"}
    )
    assert totals(caught_up)["ingested"] == 2300


def test_a_partition_outlives_the_pod_that_read_it():
    first = fold_counts({}, {}, [], {"w-1": {"shards": {"kafka/g/t/0": counts(100)}}}, {"w-1"})
    gone = fold_counts(first.shards, first.retired, [], {}, set())
    assert "kafka/g/t/0" in gone.shards and totals(gone)["ingested"] == 100


def test_a_shard_that_ends_with_its_pod_is_retired_once_and_never_counted_again():
    report = {"shardsEndWithPod": True, "shards": {"redis/g/w-1": counts(40, 2)}}
    first = fold_counts({}, {}, [], {"w-1": report}, {"w-1"})
    assert first.shards["redis/g/w-1"]["pod"] == "w-1"
    # The pod is replaced: its shard's counts move into the retired totals...
    replaced = fold_counts(first.shards, first.retired, [], {"w-1": report}, {"w-2"})
    assert replaced.shards == {} and replaced.retired["ingested"] == 40
    assert replaced.retired_shards == ["redis/g/w-1"]
    # ...and a late report of it changes nothing.
    late = fold_counts(replaced.shards, replaced.retired, replaced.retired_shards, {"w-1": report}, {"w-2"})
    assert totals(late)["ingested"] == 40 and late.shards == {}


def test_when_the_live_pods_are_unknown_nothing_is_retired():
    report = {"shardsEndWithPod": True, "shards": {"http/w-1/1": counts(3)}}
    folded = fold_counts({}, {}, [], {"w-1": report}, None)
    assert "http/w-1/1" in folded.shards and folded.retired["ingested"] == 0


def test_the_newest_anomaly_per_detector_wins():
    older = {"detectedAt": "2026-01-01T00:00:00Z", "value": 1.0}
    newer = {"detectedAt": "2026-01-01T00:05:00Z", "value": 9.0}
    totals = summarize([{"lastAnomaly": {"latency": newer}}, {"lastAnomaly": {"latency": older}}])
    assert totals["lastAnomaly"] == {"latency": newer}


def test_without_reports_the_lag_is_unknown_rather_than_zero():
    assert summarize([])["lag"] is None


def test_series_in_an_incident_are_summed_per_detector_so_recovery_means_zero_everywhere():
    totals = summarize(
        [
            {"detectors": {"latency": {"active": 1, "score": 0.7}, "errors": {"active": 0}}},
            {"detectors": {"latency": {"active": 2, "score": 0.9}}},
        ]
    )
    assert totals["detectors"] == {
        "latency": {"active": 3, "score": 0.9},  # the highest score any worker saw
        "errors": {"active": 0, "score": 0.0},  # a worker from before scores: none
    }
