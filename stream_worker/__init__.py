"""The Fargate service: overlapping notification sockets, exactly-once storage, coverage ledger."""
