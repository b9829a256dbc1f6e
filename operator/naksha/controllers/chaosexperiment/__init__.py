"""The ChaosExperiment's doing: reading targets and probes, injecting and restoring faults.

``targets`` finds candidates and what would be affected; ``faults`` injects and restores each
fault through ``naksha.kube``; ``probes`` reads what the probes look at; ``safety`` reads the
opt-in label, the kill switch and ongoing incidents. The decisions are in ``naksha.domain.chaos``.
"""
