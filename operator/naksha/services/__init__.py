"""Programs that run beside the operator, in their own processes, and may do I/O.

``insight`` is the insight worker (``naksha insight-worker``); ``demo_app`` is the small HTTP
service the demo and the tests roll out (``naksha demo-app``). A service never imports kopf.
"""
