"""Scheduled minting of Genesys tokens into per-org token secrets."""
