"""Core services: errors, config, seeding, registries, run directories, logging.

Nothing here imports torch, rdkit or monai at module level.
"""
