"""Load scenarios and the load generator (see the README's benchmarks section)."""
