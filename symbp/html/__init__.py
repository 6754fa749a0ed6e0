"""The derivation as a web page: the LaTeX document's sections with MathML, which browsers render natively."""
