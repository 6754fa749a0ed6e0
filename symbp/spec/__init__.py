"""The spec stage: what the user chooses (sizes, σ, g, loss, λ), read safely and validated once."""
