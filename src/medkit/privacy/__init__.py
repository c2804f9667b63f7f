"""medkit.privacy (see docs/privacy.md)."""
