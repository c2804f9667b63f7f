"""Datasets of the drug pillar (registered with :func:`medkit.data.register_dataset`)."""
