"""The formula checker: a hand-derived gradient component read safely, compared numerically and symbolically."""
