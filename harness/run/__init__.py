"""The run stage (see ARCHITECTURE.md)."""
