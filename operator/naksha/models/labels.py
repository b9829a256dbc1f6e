"""Every ``naksha.io/*`` label and annotation key, with what it marks and who reads it.

The one place these keys are spelled. Labels select (selectors, ``kubectl get -l``); annotations
carry values for one reader. A key that names a different thing on a different object has a
different name here, even when the text is the same.
"""

from __future__ import annotations

from naksha.models.group import GROUP

# -- Labels -----------------------------------------------------------------------------------
# On a stream's children (worker Deployment and pods, the Kafka workers' state ConfigMap):
# the InsightStream they belong to.
INSIGHT_STREAM_LABEL = f"{GROUP}/insightstream"
# On an AgentRun a trigger created: the InsightStream whose trigger fired, the trigger, and the
# incident's dedupe key (its first 63 characters; the whole key is in DEDUPE_ANNOTATION).
TRIGGERED_BY_STREAM_LABEL = f"{GROUP}/stream"
TRIGGER_LABEL = f"{GROUP}/trigger"
DEDUPE_LABEL = f"{GROUP}/dedupe-key"
# On an AgentRun the HTTP API created: where it came from ("api") and the signal's id.
SOURCE_LABEL = f"{GROUP}/source"
SIGNAL_LABEL = f"{GROUP}/signal-id"
# On a ConfigMap: it holds a playbook (key ``playbook.yaml``).
PLAYBOOK_LABEL = f"{GROUP}/playbook"
# On an executor Job and its pod: the AgentRun it runs.
RUN_LABEL = f"{GROUP}/agent-run"
# On a Rollout's Deployments and pods: the Rollout, their role (stable/canary), the revision.
ROLLOUT_LABEL = f"{GROUP}/rollout"
ROLE_LABEL = f"{GROUP}/rollout-role"
REVISION_LABEL = f"{GROUP}/revision"
# On a trigger request (a ConfigMap an edge-exec act creates): pending or done, and the EdgeNode.
EDGE_TRIGGER_LABEL = f"{GROUP}/edge-trigger"
EDGE_NODE_LABEL = f"{GROUP}/edge-node"

# -- Annotations ------------------------------------------------------------------------------
DEDUPE_ANNOTATION = f"{GROUP}/dedupe-key"  # on a triggered AgentRun: the whole dedupe key
SPEC_HASH_ANNOTATION = f"{GROUP}/spec-hash"  # on worker pods: restart them when the stream's spec changes
# On an AgentRun's target, written by the guardrails: the run that holds it (one run per target),
# the times of recent actions (rate limit), and a user's approval verdict for a waiting run.
AGENT_RUN_LOCK = f"{GROUP}/agent-run"
RECENT_ACTIONS = f"{GROUP}/agent-actions"
APPROVAL = f"{GROUP}/approval"
RESTARTED_AT = f"{GROUP}/restartedAt"  # on a Deployment's pod template: the restart work package's stamp
# On a Rollout: the controls users and AgentRuns steer it with (naksha.domain.rollout.controls).
ABORT = f"{GROUP}/abort"  # value: the reason, shown in the RolledBack condition and the revert commit
ABORT_REQUESTED_BY = f"{GROUP}/abort-requested-by"  # who asked: "<namespace>/<AgentRun>" or a user
PROMOTE = f"{GROUP}/promote"  # any value: leave an indefinite pause / promote to the end
RETRY = f"{GROUP}/retry"  # any value: start the aborted revision again

# -- kopf -------------------------------------------------------------------------------------
# ChaosExperiment: the namespace opt-in label (value "enabled") and the naksha chaos commands.
CHAOS_OPT_IN = f"{GROUP}/chaos"
CHAOS_RUN = f"{GROUP}/chaos-run"  # value: a new timestamp per request
CHAOS_ABORT = f"{GROUP}/chaos-abort"
# ChaosExperiment helper pods (cpu-stress, container-kill): the experiment and run they serve
CHAOS_EXPERIMENT = f"{GROUP}/chaos-experiment"
CHAOS_RUN_ID = f"{GROUP}/chaos-run-id"
FINALIZER = f"{GROUP}/finalizer"  # only on objects whose deletion needs cleanup
KOPF_PREFIX = GROUP  # kopf's progress and diff-base annotations (naksha.io/...)

# -- ModelVersion -----------------------------------------------------------------------------
MODEL_LABEL = f"{GROUP}/model"  # on versions, their training Jobs, artifacts and alias maps
MODEL_VERSION_LABEL = f"{GROUP}/model-version"  # on a version's training Job, pod and artifact
MODEL_GENERATION_ANNOTATION = f"{GROUP}/model-generation"  # on a retrained version: 2, 3, ...
RETRAIN_REASON_ANNOTATION = f"{GROUP}/retrain-reason"  # on a retrained version: why it was made
INCIDENT_LABEL_ANNOTATION = f"{GROUP}/label"  # on an AgentRun: incident | false-positive (a human's)
# On an AgentRun a trigger created: the detector-tuner ModelVersion whose parameters fired it.
DETECTOR_MODEL_ANNOTATION = f"{GROUP}/detector-model-version"

# -- EdgeNode ---------------------------------------------------------------------------------
# Set by the ChaosExperiment fault edge-blackout, removed by its restore: while an EdgeNode holds
# it the hub refuses the node's heartbeats (503), so its lease runs out as if the node went
# silent. The value is the run's token, so a restore removes only the blackout it set.
BLACKOUT_ANNOTATION = f"{GROUP}/heartbeat-blackout"
