"""The learning loop's pure part: outcome records, the time split, the trainers, metrics, promotion.

``outcomes`` turns finished AgentRuns (or their archived records) into ``Outcome`` values and
counts the malformed ones; ``split`` holds out the latest fraction by time; ``ranker`` learns which
playbook resolves which context (Thompson sampling) and evaluates itself offline by replay on
logged choices (IPS when the records carry propensities); ``tuner`` replays the project's own
detectors over a labelled history to pick their parameters; ``metrics`` and ``promotion`` judge a
version against its thresholds and the current alias holder; ``artifact`` encodes what a trainer
produces with its checksum. The trainer program (``naksha.services.trainer``) and the operator
(``naksha.controllers.modelversion``) do the I/O around these.
"""
