"""Command lines: `negate-bench` (the benchmark harness) and `negate` (everyday use), a module per command."""
