"""medkit.serve (see docs/serve.md)."""
