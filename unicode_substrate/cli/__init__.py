"""The ``substrate`` command line: a thin click front end over the library.

Each command lives in a small module of this package and is imported only when it is
run or listed, so ``substrate --help`` never imports torch, triton or scikit-learn.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from unicode_substrate._version import __version__
from unicode_substrate.errors import SubstrateError

# command name -> (module in this package, attribute): the whole command table in one place.
COMMANDS: dict[str, tuple[str, str]] = {
    "ngrams": ("tokenize", "ngrams"),
    "build-tokenizer": ("tokenize", "build_tokenizer"),
    "tokenizer-stats": ("tokenize", "tokenizer_stats"),
    "render": ("render", "render"),
    "preview": ("render", "preview"),
    "import-table": ("render", "import_table"),
    "prepare": ("train", "prepare"),
    "demo-qa": ("data", "demo_qa"),
    "train": ("train", "train"),
    "generate": ("train", "generate"),
    "compare": ("train", "compare"),
    "plot": ("plot", "plot"),
    "eval": ("eval", "eval_"),
    "results-table": ("results", "results_table"),
    "semantics": ("semantics", "semantics"),
    "grow": ("grow", "grow"),
    "fuse": ("grow", "fuse"),
    "study": ("study", "study"),
    "export": ("export", "export"),
}


class LazyGroup(click.Group):
    """A group that imports each command's module on demand and turns SubstrateError into one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self._load(name)

    def _load(self, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module_name, attr = COMMANDS[name]
        return getattr(importlib.import_module(f"{__name__}.{module_name}"), attr)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise  # usage errors: one line from main() below
        except SubstrateError as e:
            _fail(ctx, str(e) + _option_hint(ctx, e.param))
        except KeyboardInterrupt:
            click.echo("error: interrupted", err=True)
            ctx.exit(130)
        except OSError as e:  # full disk, read-only or missing destination, permissions, ...
            _fail(ctx, _os_error(e))
        except UnicodeError as e:  # a path or name that cannot be encoded
            _fail(ctx, f"a path or name cannot be encoded ({e.reason}): {_clip(repr(e.object[e.start:e.end]))}"
                  if hasattr(e, "object") else str(e))
        except RecursionError:
            _fail(ctx, "an input is nested too deeply to read (recursion limit reached)")
        except MemoryError:
            _fail(ctx, "out of memory; the input is too large for this machine")

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Click's own usage errors become the same one line (``error: ...``, exit 2) as ours."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as e:
            hint = ""
            if isinstance(e, click.UsageError) and e.ctx is not None:
                hint = f" (see '{e.ctx.command_path} --help')"
            click.echo(f"error: {_one_line(e.format_message())}{hint}", err=True)
            sys.exit(e.exit_code)
        except click.Abort:
            click.echo("error: aborted", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


def _option_hint(ctx: click.Context, param: str | tuple[str, ...] | None) -> str:
    """``" (option --table)"`` for the options of the running command that set ``param``; else nothing."""
    names = (param,) if isinstance(param, str) else tuple(param or ())
    sub = _subcommand(ctx) if names else None
    opts = [max(p.opts, key=len) for name in names for p in getattr(sub, "params", ())
            if isinstance(p, click.Option) and p.name == name]
    if not opts:
        return ""
    return f" (option{'s' if len(opts) > 1 else ''} {', '.join(opts)})"


def _subcommand(ctx: click.Context) -> click.Command | None:
    """The subcommand being run under the group's context."""
    if not ctx.invoked_subcommand or not isinstance(ctx.command, click.Group):
        return None
    return ctx.command.get_command(ctx, ctx.invoked_subcommand)


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in str(text).splitlines() if line.strip())


def _clip(text: str, n: int = 200) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _fail(ctx: click.Context, message: str) -> None:
    click.echo(f"error: {_clip(_one_line(message), 2000)}", err=True)
    ctx.exit(2)


def _os_error(e: OSError) -> str:
    """An OSError in words: what went wrong and on which path; nothing was half-written (atomic outputs)."""
    import errno

    what = {
        errno.ENOSPC: "no space left on the device",
        errno.EDQUOT: "disk quota exceeded",
        errno.EROFS: "the destination is on a read-only file system",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.ENOTDIR: "a part of the path is not a directory",
        errno.EISDIR: "is a directory",
        errno.ENAMETOOLONG: "file name too long",
    }.get(e.errno, e.strerror or type(e).__name__)
    where = " -> ".join(os.fsdecode(f) for f in (e.filename, e.filename2) if f is not None)
    return f"{what}{f': {where}' if where else ''}" + (f" ({_clip(str(e))})" if e.errno is None else "")


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
