"""The cases stage (see ARCHITECTURE.md)."""
