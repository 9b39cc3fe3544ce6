"""Shared Genesys Cloud client: hosts, OAuth, notifications REST, frames, event keys, token secrets."""
