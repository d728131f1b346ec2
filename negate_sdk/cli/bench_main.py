"""``python -m negate_sdk.cli.bench_main`` runs ``negate-bench`` (for environments without the script)."""

from negate_sdk.cli.bench import main

if __name__ == "__main__":
    main()
