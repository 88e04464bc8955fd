"""The ``substrate`` command line: a thin click front end over the library.

Each command lives in a small module of this package and is imported only when it is
run or listed, so ``substrate --help`` never imports torch, triton or scikit-learn.
"""

from __future__ import annotations

import importlib

import click

from unicode_substrate._version import __version__
from unicode_substrate.errors import SubstrateError

# command name -> (module in this package, attribute): the whole command table in one place.
COMMANDS: dict[str, tuple[str, str]] = {
    "ngrams": ("tokenize", "ngrams"),
    "build-tokenizer": ("tokenize", "build_tokenizer"),
    "render": ("render", "render"),
    "preview": ("render", "preview"),
    "import-table": ("render", "import_table"),
    "prepare": ("train", "prepare"),
    "train": ("train", "train"),
    "generate": ("train", "generate"),
    "compare": ("train", "compare"),
    "grow": ("grow", "grow"),
    "fuse": ("grow", "fuse"),
    "eval": ("eval", "eval_"),
    "export": ("export", "export"),
}


class LazyGroup(click.Group):
    """A group that imports each command's module on demand and turns SubstrateError into one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self._load(name) is not None]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self._load(name)

    def _load(self, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module_name, attr = COMMANDS[name]
        try:
            module = importlib.import_module(f"{__name__}.{module_name}")
        except ModuleNotFoundError as e:
            if e.name == f"{__name__}.{module_name}":
                return None  # that part of the toolkit is not installed in this build
            raise
        return getattr(module, attr, None)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SubstrateError as e:
            click.echo(f"error: {e}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("error: interrupted", err=True)
            ctx.exit(130)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="substrate")
def main() -> None:
    """Frozen visual-Unicode substrates: tokenizers, glyph embedding tables, and the models trained on them.

    \b
    Typical pipeline (tiny-glyph needs a 128-wide table, hence --dim 128):
      substrate build-tokenizer --out artifacts/tokenizer
      substrate render --tokenizer artifacts/tokenizer --dim 128 --out artifacts/table
      substrate prepare --tokenizer artifacts/tokenizer --out artifacts/data
      substrate train --preset tiny-glyph --data artifacts/data --table artifacts/table --out artifacts/run
      substrate generate --run artifacts/run --prompt "Return the"
    """
