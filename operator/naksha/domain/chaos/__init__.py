"""The ChaosExperiment's pure parts: target selection, blast radius, schedule, run decisions, journal,
whether a timer tick has work.

Nothing here talks to the API or to kopf: ``naksha.controllers.chaosexperiment`` observes and
acts, ``naksha.reconcilers.chaosexperiment`` orders the steps, and these modules decide.
"""
