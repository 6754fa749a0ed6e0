"""Benchmarks for symbp's generated kernels against hand-written NumPy, JAX, PyTorch and scikit-learn.

Run ``python benchmarks/run.py --sizes all``; the modules, one stage each:

* :mod:`benchmarks.cases`: the sizes, the data, and the kernels under test;
* :mod:`benchmarks.peers`: the references, each checked against the kernel before it is timed;
* :mod:`benchmarks.timing`: medians of interleaved repeats;
* :mod:`benchmarks.memory`, :mod:`benchmarks.startup`, :mod:`benchmarks.training`: the other figures;
* :mod:`benchmarks.report`: machine information, the Markdown table and the targets;
* :mod:`benchmarks.run`: the driver and command line.
"""
