"""One construct per runtime unit: event store, token service, stream worker, monitoring."""
