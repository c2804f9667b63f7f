"""Datasets of the treatment pillar (registered with :func:`medkit.data.register_dataset`)."""
