"""Datasets of the imaging pillar (registered with :func:`medkit.data.register_dataset`)."""
