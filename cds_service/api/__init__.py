"""HTTP layer: routes translate HTTP ↔ domain and do nothing else."""
