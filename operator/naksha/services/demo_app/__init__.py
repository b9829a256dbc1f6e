"""``naksha demo-app``: the service with a settable error rate and latency that demos roll out."""
