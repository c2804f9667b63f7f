"""medkit.drug (see docs/drug.md)."""
