"""Reconcilers: one module per kind, ``STEPS`` (an ordered tuple of steps) over a ReconcileContext.

A reconciler never talks to the API itself: its steps read the object from the context, decide,
have ``naksha.controllers`` do the I/O, and record the new typed status, conditions and Events
on the context; the handler writes the status once. A write that must be durable before the
next step goes through ``context.checkpoint()``, with a comment saying why.
"""
