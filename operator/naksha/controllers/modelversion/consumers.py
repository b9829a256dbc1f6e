"""How the loop's consumers load a model: the alias holder's artifact, verified before use.

``choose_playbook`` is the AgentRun side of ``playbookRef: {model, alias, candidates}``: it reads
the alias, loads the holder's ranker (checksum verified) and draws a playbook for the run's
context by Thompson sampling. What it returns is recorded in the run's status, so the outcome is
attributed to the version that chose (``modelVersion``) with the probability it had
(``propensity``, for IPS). With no holder, or an artifact that fails its checksum, the run takes
its first candidate and the record says why: a run is never held up by the model.
"""

from __future__ import annotations

import random
from typing import Any

from naksha.controllers.modelversion import aliases
from naksha.controllers.modelversion.training import read_artifact
from naksha.domain.learning.artifact import ArtifactCorrupt
from naksha.domain.learning.outcomes import run_context
from naksha.domain.learning.ranker import PlaybookRanker
from naksha.kube import KubeApi
from naksha.models.agentrun import AgentRunSpec

PROPENSITY_DRAWS = 200


def choose_playbook(
    kube: KubeApi, namespace: str, spec: AgentRunSpec, rng: random.Random | None = None
) -> dict[str, Any]:
    ref = spec.playbook_ref
    assert ref is not None and ref.model is not None
    base: dict[str, Any] = {"model": ref.model, "alias": ref.alias, "candidates": list(ref.candidates)}
    fallback = {**base, "playbook": ref.candidates[0]}
    entry = aliases.read_aliases(kube, ref.namespace or namespace, ref.model).get(ref.alias)
    if entry is None:
        return {**fallback, "reason": f"no version holds {ref.model}@{ref.alias}; took the first candidate"}
    holder = entry.holder
    try:
        ranker = PlaybookRanker.from_artifact(
            read_artifact(kube, ref.namespace or namespace, holder.artifact, holder.sha256)
        )
    except (ArtifactCorrupt, ValueError) as error:
        return {
            **fallback,
            "modelVersion": holder.version,
            "reason": f"the artifact of {holder.version} was refused ({error}); took the first candidate",
        }
    signal = spec.signal
    values = {
        "stream": signal.stream or "",
        "detector": signal.detector or "",
        "signal": signal.source or "",
        "targetKind": spec.target.kind if spec.target else "",
    }
    context = run_context(ranker.context_fields, values, signal.series)
    draw = rng or random.Random()
    playbook = ranker.choose(context, ref.candidates, draw)
    probabilities = ranker.choice_probabilities(context, ref.candidates, draw, PROPENSITY_DRAWS)
    return {
        **base,
        "playbook": playbook,
        "modelVersion": holder.version,
        "sha256": holder.sha256,
        "context": context,
        "propensity": max(probabilities[playbook], 1 / PROPENSITY_DRAWS),
        "reason": "Thompson sampling over the holder's posterior",
    }
