"""The second path: Genesys' Amazon EventBridge integration, through SQS, into the same exactly-once store."""
