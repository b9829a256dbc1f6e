"""Pure logic per capability: decisions, parsing, scoring, validation; no API client, no kopf.

Everything here is a function of its arguments (and a clock passed in), so it is unit-tested
without a control plane. The layers above (``naksha.controllers``, ``naksha.services``,
``naksha.reconcilers``) do the I/O and call into it; ``naksha.domain.expressions`` is the safe evaluator
shared by playbooks and Rollout analysis.
"""
