"""Build hook for the one compiled module; all project metadata lives in pyproject.toml.

unicode_substrate.tokenizer._bpe is the encoder's native BPE loop (plain C against the CPython
API, no other dependency). It is required: the bootstrap builds it with the machine's C compiler,
and the pure-Python path in encoder.py remains as the fallback and the test oracle beside it.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "unicode_substrate.tokenizer._bpe",
            sources=["unicode_substrate/tokenizer/_bpe.c"],
            extra_compile_args=["-O2", "-std=c99", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
        )
    ],
)
