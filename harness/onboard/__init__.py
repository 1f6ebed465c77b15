"""A user's own pair: ``parity init`` writes a first parity.toml from the contract and both
services; ``parity doctor`` says what a config gets wrong before a run."""
