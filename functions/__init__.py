"""Lambda functions of the token service. Handlers are thin; logic lives in plain modules beside them."""
