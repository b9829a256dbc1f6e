"""Pure builders of the Kubernetes objects the operator runs (Deployments, Services, Jobs).

Builders take parsed specs and return plain dicts; they never talk to the API, so every
object the operator creates can be checked by a unit test.
"""
