"""The operator folds the insight workers' own reports into one InsightStream summary."""

from __future__ import annotations

from naksha.reconcilers.insightstream import summarize


def test_counts_are_summed_across_workers_and_lag_is_the_worst():
    totals = summarize(
        [
            {
                "ingested": 10,
                "rejected": 1,
                "deadLettered": 1,
                "anomalies": 2,
                "agentRunsCreated": 1,
                "lag": 5,
            },
            {"ingested": 7, "rejected": 0, "anomalies": 0, "lag": 40},
        ]
    )
    assert (totals["ingested"], totals["rejected"], totals["deadLettered"]) == (17, 1, 1)
    assert (totals["anomalies"], totals["agentRuns"], totals["lag"]) == (2, 1, 40)


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
            {"detectors": {"latency": {"active": 1}, "errors": {"active": 0}}},
            {"detectors": {"latency": {"active": 2}}},
        ]
    )
    assert totals["detectors"] == {"latency": {"active": 3}, "errors": {"active": 0}}
