"""Who is calling Naksha's HTTP endpoints, and may they do what they ask: Kubernetes-native access control.

A bearer token is authenticated (``reviews.Authenticator``): a JWT from a configured external
issuer is verified here against that issuer's public keys (``issuers``); any other token is sent
to the cluster in a ``TokenReview``. The identity is then authorised (``reviews.Authorizer``) with
one ``SubjectAccessReview`` per permission the request needs, so RBAC — the same rules
``kubectl auth can-i`` reads — decides. ``tls`` builds the server's TLS context from a Secret's
files. Used by the AgentRun API and the insight workers' ``POST /ingest``.
"""
