"""Datasets of the privacy pillar (registered with :func:`medkit.data.register_dataset`)."""
