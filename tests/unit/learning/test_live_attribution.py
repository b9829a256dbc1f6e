"""Live figures for auto-demote, attributed to the version each run records: the playbook ranker's
resolved rate, the detector tuner's share of real incidents (a human label wins over the evidence)."""

from __future__ import annotations

from typing import Any

from naksha.controllers.modelversion.retraining import live_figures
from naksha.domain.learning.promotion import should_demote


def fired(version: str, *, acted: bool, label: str | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {"detectorModelVersion": version, "acted": acted, "resolved": acted}
    if label is not None:
        record["label"] = label
    return record


class TestDetectorTunerFigures:
    def test_runs_its_parameters_started_count_as_uses_and_real_incidents_as_good(self) -> None:
        records = [
            fired("tuner-v2", acted=True),
            fired("tuner-v2", acted=False),  # found nothing to do: a false positive
            fired("tuner-v2", acted=True, label="false-positive"),  # a human said so
            fired("tuner-v2", acted=False, label="incident"),
            fired("tuner-v1", acted=True),
            {"modelVersion": "tuner-v2", "acted": True, "resolved": True},  # a ranker's attribution
        ]
        figures = live_figures(records, "tuner-v2", "detector-tuner")
        assert (figures.uses, figures.good) == (4, 2)

    def test_a_version_firing_more_false_positives_than_its_predecessor_by_the_margin_is_demoted(
        self,
    ) -> None:
        records = [fired("v1", acted=i != 0) for i in range(12)] + [
            fired("v2", acted=True, label=None if i < 5 else "false-positive") for i in range(12)
        ]
        mine = live_figures(records, "v2", "detector-tuner")
        theirs = live_figures(records, "v1", "detector-tuner")
        assert should_demote(mine, theirs, min_uses=10, margin=0.2)
        assert not should_demote(mine, theirs, min_uses=13, margin=0.2)  # too few uses of each

    def test_the_ranker_keeps_counting_resolved_runs_of_the_versions_that_chose(self) -> None:
        records = [
            {"modelVersion": "r2", "resolved": True},
            {"modelVersion": "r2", "resolved": False},
            fired("r2", acted=True),
        ]
        figures = live_figures(records, "r2")
        assert (figures.uses, figures.good) == (2, 1)
