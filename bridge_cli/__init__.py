"""`genesys-bridge`, the command line an operator or an auditor runs: events, coverage, shards, the audit report.
It reads what the bridge keeps; it is not shipped in the worker's image or the Lambda bundle."""
