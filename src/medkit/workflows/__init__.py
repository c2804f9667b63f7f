"""Generic, config-driven workflows (the foundation's end-to-end tabular example)."""
