"""Promotion rules: thresholds, improvement margin, manual promotion, auto-demote; artifacts checked."""

from __future__ import annotations

import pytest

from naksha.domain.learning import artifact
from naksha.domain.learning.promotion import (
    LiveFigures,
    Threshold,
    Verdict,
    judge,
    may_promote_manually,
    promotion_action,
    should_demote,
)

THRESHOLDS = [Threshold("resolved-rate", 0.6), Threshold("mttr-seconds", 300, "atMost")]


def judged(metrics: dict[str, float | None], holder: dict[str, float | None] | None = None, **kw: object):  # type: ignore[no-untyped-def]
    options = {"samples": 100, "holdout": 20, "min_samples": 50, "require_improvement": True, "margin": 0.02}
    options.update(kw)
    return judge(metrics, holder, THRESHOLDS, primary="resolved-rate", **options)  # type: ignore[arg-type]


class TestVerdict:
    def test_too_few_samples_is_insufficient_data(self) -> None:
        assert (
            judged({"resolved-rate": 1.0, "mttr-seconds": 1}, samples=10).verdict is Verdict.INSUFFICIENT_DATA
        )

    def test_an_empty_holdout_is_insufficient_data(self) -> None:
        assert (
            judged({"resolved-rate": 1.0, "mttr-seconds": 1}, holdout=0).verdict is Verdict.INSUFFICIENT_DATA
        )

    def test_a_missed_threshold_is_named(self) -> None:
        judgement = judged({"resolved-rate": 0.7, "mttr-seconds": 400})
        assert judgement.verdict is Verdict.BELOW_THRESHOLD and "mttr-seconds=400" in judgement.message

    def test_an_undefined_figure_misses_its_threshold(self) -> None:
        assert judged({"resolved-rate": None, "mttr-seconds": 10}).verdict is Verdict.BELOW_THRESHOLD

    def test_it_must_beat_the_holder_by_the_margin(self) -> None:
        good = {"resolved-rate": 0.71, "mttr-seconds": 100}
        assert judged(good, {"resolved-rate": 0.70}).verdict is Verdict.NO_IMPROVEMENT
        assert judged(good, {"resolved-rate": 0.68}).verdict is Verdict.PASSED
        assert judged(good, {"resolved-rate": 0.70}, require_improvement=False).verdict is Verdict.PASSED

    def test_without_a_holder_passing_thresholds_is_enough(self) -> None:
        assert judged({"resolved-rate": 0.61, "mttr-seconds": 299}).passed


class TestActions:
    def test_auto_promotes_a_passed_version_and_manual_waits(self) -> None:
        passed = judged({"resolved-rate": 0.9, "mttr-seconds": 1})
        assert promotion_action("auto", passed, holds_alias=False) == "promote"
        assert promotion_action("manual", passed, holds_alias=False) == "await-approval"
        assert promotion_action("auto", passed, holds_alias=True) == "keep"

    def test_a_failed_version_is_never_promoted_automatically(self) -> None:
        failed = judged({"resolved-rate": 0.1, "mttr-seconds": 1})
        assert promotion_action("auto", failed, holds_alias=False) == "keep"

    def test_manual_promotion_needs_a_passed_verdict_unless_forced(self) -> None:
        assert may_promote_manually("Passed", force=False)[0]
        allowed, why = may_promote_manually("BelowThreshold", force=False)
        assert not allowed and "--force" in why
        assert may_promote_manually(None, force=True)[0]


class TestDemotion:
    def test_a_live_drop_past_the_margin_demotes(self) -> None:
        assert should_demote(LiveFigures(40, 20), LiveFigures(40, 32), min_uses=20, margin=0.1)

    def test_a_small_drop_does_not(self) -> None:
        assert not should_demote(LiveFigures(40, 30), LiveFigures(40, 32), min_uses=20, margin=0.1)

    def test_too_few_uses_never_demote(self) -> None:
        assert not should_demote(LiveFigures(5, 0), LiveFigures(40, 40), min_uses=20, margin=0.1)


class TestArtifact:
    def test_the_same_parameters_give_the_same_bytes_and_checksum(self) -> None:
        assert artifact.encode({"b": 1, "a": [2]}) == artifact.encode({"a": [2], "b": 1})

    def test_a_changed_byte_is_refused(self) -> None:
        data = artifact.encode({"a": 1})
        digest = artifact.checksum(data)
        assert artifact.decode(data, digest) == {"a": 1}
        with pytest.raises(artifact.ArtifactCorrupt, match="does not match"):
            artifact.decode(data[:-1] + bytes([data[-1] ^ 1]), digest)

    def test_an_artifact_over_the_limit_is_refused(self) -> None:
        import random

        noise = random.Random(0).randbytes(artifact.MAX_ARTIFACT_BYTES).hex()
        with pytest.raises(artifact.ArtifactTooLarge):
            artifact.encode({"noise": noise})
