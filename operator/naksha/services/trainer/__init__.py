"""The trainer program: ``naksha train`` in a Job pod (``--model-version NS/NAME``) or offline
(``--input DIR --out DIR``); both call ``naksha.domain.learning.training.train``."""
