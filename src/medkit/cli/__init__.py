"""The ``medkit`` command line (typer). One thin module per pillar."""
