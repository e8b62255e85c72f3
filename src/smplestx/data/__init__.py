"""Data: synthetic scenes for tests, demos and benchmarks (HumanData reading comes later)."""
