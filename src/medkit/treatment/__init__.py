"""medkit.treatment (see docs/treatment.md)."""
