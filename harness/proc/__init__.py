"""Process lifetime: the reaper that stops what a run started even when the run is killed, and
the signal handling that turns SIGTERM/SIGINT into a clean exit 2 (see ARCHITECTURE.md)."""
