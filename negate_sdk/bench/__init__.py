"""The benchmark harness: protocols, metrics with intervals, robustness, results, leaderboard and report."""
