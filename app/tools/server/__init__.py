"""Letta's server-side built-in tools (``letta_builtin``), run outside any transaction."""
