"""medkit.quality (see docs/quality.md)."""
