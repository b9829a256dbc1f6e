"""The ModelVersion controller's I/O: the training Job and its result, the alias maps, the outcome
archive, retraining; and the functions behind ``naksha model|label|export``."""
