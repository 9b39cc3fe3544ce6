"""CDK app: one construct per runtime unit, composed by one stack. Runtime code never imports this package."""
