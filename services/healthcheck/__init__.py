"""Health aggregator: probes every platform part, folds the results into one status (docs/adr/0007-health-aggregation.md)."""
