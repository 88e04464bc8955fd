"""Where meaning lives: word groups, their representations at every level of a model, and how well they separate.

``groups`` reads the word groups (a TOML file, or the built-in groups of the author's t-SNE
notebook), ``represent`` turns a run, a Hugging Face model or a bare table into per-level word
vectors, ``measures`` scores their separation against chance, ``pictures`` draws them. The
command over runs and folders of runs, with its report, is ``experiments.semantics``.
"""
