"""The setup stage (see ARCHITECTURE.md)."""
