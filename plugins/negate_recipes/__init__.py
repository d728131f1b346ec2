"""First-party detector recipes, registered through the ``negate`` entry-point group."""
