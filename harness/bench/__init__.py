"""The bench stage (see ARCHITECTURE.md)."""
