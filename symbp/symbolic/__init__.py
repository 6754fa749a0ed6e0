"""The symbolic stage: the network and its loss R in SymPy, and the gradients SymPy derives from it."""
