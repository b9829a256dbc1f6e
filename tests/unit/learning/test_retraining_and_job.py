"""Retraining decisions (due, name, history) and the training Job's pure builder."""

from __future__ import annotations

import datetime

from naksha.domain.learning.retraining import VersionInfo, beyond_history, next_version_name, retrain_due
from naksha.workloads.trainer import build_training_job

NOON = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.UTC).timestamp()


class TestRetrainDue:
    def test_a_schedule_that_fired_since_training_is_due(self) -> None:
        reason = retrain_due(
            schedule="0 * * * *", min_new_outcomes=None, trained_at=NOON + 60, now=NOON + 3600, new_outcomes=0
        )
        assert reason is not None and "fired" in reason

    def test_a_schedule_that_has_not_fired_is_not_due(self) -> None:
        assert (
            retrain_due(
                schedule="0 * * * *",
                min_new_outcomes=None,
                trained_at=NOON + 60,
                now=NOON + 3000,
                new_outcomes=0,
            )
            is None
        )

    def test_enough_new_outcomes_are_due(self) -> None:
        assert retrain_due(schedule=None, min_new_outcomes=10, trained_at=NOON, now=NOON, new_outcomes=10)
        assert not retrain_due(schedule=None, min_new_outcomes=10, trained_at=NOON, now=NOON, new_outcomes=9)


class TestHistory:
    def test_the_next_version_is_named_by_generation(self) -> None:
        assert next_version_name("ranker", 1) == "ranker-v2"

    def test_the_oldest_versions_go_but_alias_holders_stay(self) -> None:
        versions = [VersionInfo(f"m-v{g}", g, holds_alias=g == 1) for g in range(1, 6)]
        assert beyond_history(versions, 3) == ["m-v2", "m-v3"]
        assert beyond_history(versions, 5) == []


class TestTrainingJob:
    def test_the_job_runs_naksha_train_with_the_specs_limits(self) -> None:
        job = build_training_job(
            version="v1",
            model="m",
            namespace="ns",
            image="naksha:1",
            resources={"limits": {"memory": "2Gi"}},
            deadline_seconds=600,
            backoff_limit=3,
            service_account="v1-train",
            settings_env={
                "NAKSHA_LOG_LEVEL": "DEBUG",
                "NAKSHA_CRASH_POINT": "trainer.before-write",
                "NAKSHA_CRASH_ONCE": "/tmp/fired",
                "HOME": "/root",
            },
        )
        spec = job["spec"]
        container = spec["template"]["spec"]["containers"][0]
        assert container["args"] == ["train", "--model-version", "ns/v1"]
        assert container["resources"] == {"limits": {"memory": "2Gi"}}
        assert container["env"] == [
            {"name": "NAKSHA_LOG_LEVEL", "value": "DEBUG"},
            {"name": "NAKSHA_CRASH_POINT", "value": "trainer.before-write"},  # the crash tests' point
            {"name": "NAKSHA_CRASH_ONCE", "value": "/tmp/fired"},  # ... fired by the first attempt only
            {"name": "NAKSHA_SERVICE_ACCOUNT", "value": "v1-train"},  # for its history tokens
        ]
        assert (spec["backoffLimit"], spec["activeDeadlineSeconds"]) == (3, 600)
        assert spec["template"]["spec"]["serviceAccountName"] == "v1-train"
        assert spec["template"]["spec"]["restartPolicy"] == "Never"
