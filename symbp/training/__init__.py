"""The training stage: gradient descent on any objective, fitted to a kernel and data, saved and resumed (NumPy only)."""
