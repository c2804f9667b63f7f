"""Datasets of the clinical pillar (registered with :func:`medkit.data.register_dataset`)."""
