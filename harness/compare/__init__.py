"""The compare stage (see ARCHITECTURE.md)."""
