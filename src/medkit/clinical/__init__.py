"""medkit.clinical (see docs/clinical.md)."""
