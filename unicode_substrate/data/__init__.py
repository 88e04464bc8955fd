"""The data wing: text to token data for training.

``recipe`` reads a data recipe (sources and shares), ``mix`` is the one builder that mixes the
sources into token data (through ``tokens.TokenWriter``, the one writer that ``prepare`` uses
too), ``qa`` turns question-answering releases into instruction documents with eval's own record
parsers, ``contamination`` screens documents against the benchmarks that eval's discovery finds,
``demo_qa`` makes small QA files from the built-in corpus, and ``prepare`` /
``recipe_prepare`` are the two entry points of ``substrate prepare`` (``--corpus`` and ``--recipe``).
"""
