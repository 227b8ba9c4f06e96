"""Clinical knowledge as data: codes (value sets), units, thresholds, orders, sources, policy."""
