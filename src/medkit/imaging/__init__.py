"""medkit.imaging (see docs/imaging.md)."""
