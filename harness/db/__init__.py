"""The db stage (see ARCHITECTURE.md)."""
