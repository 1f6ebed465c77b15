"""The scale stage (see ARCHITECTURE.md)."""
