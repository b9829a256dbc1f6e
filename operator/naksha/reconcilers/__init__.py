"""Reconcilers: for each concern, a short ordered list of steps over a context object.

A reconciler never talks to the API itself: it reads the object from the context, records
the new status, conditions and Events on it, and the handler writes the status once.
"""
