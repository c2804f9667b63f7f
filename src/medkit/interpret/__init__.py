"""medkit.interpret (see docs/interpret.md)."""
