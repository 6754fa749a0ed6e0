"""The LaTeX stage: the derivation printed in symbp's notation, the document around it, and its PDF."""
