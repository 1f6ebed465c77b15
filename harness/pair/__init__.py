"""The pair stage (see ARCHITECTURE.md)."""
