"""What the bridge keeps, and how it proves it: frames read into events, event keys, items, table layouts, the
conditional put, and the coverage arithmetic. Shared by the worker, the Lambda functions and the CLI; it builds
on the Genesys client (``genesys``) and never the other way round."""
