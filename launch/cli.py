"""What every launcher shares: config files found by name, `--help`, and bad input as one line on stderr.

    python -m launch.train ...        # from the checkout: launch/ and configs/ are top-level packages
    recovery-jax train ...            # installed: the same modules as recovery_jax_launch / recovery_jax_configs

A launcher defines its config flag with `define_config` and ends with `run(main)` instead of `app.run(main)`.
Bad flags and the project's own errors (a ValueError, OSError or KeyError raised by recovery_jax, launch or
configs code) end as `error: <what> (<flag or path>): <expected>` and exit status 2 (flags) or 1; anything
else (a bug) keeps its traceback, as do all errors under --verbose or absl's -v 1.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import importlib.util
import os
import re
import sys
from types import ModuleType
from typing import Any, Callable, NoReturn, Optional, Sequence

from absl import app, flags, logging
from ml_collections import config_dict, config_flags

_VERBOSE = flags.DEFINE_bool("verbose", False, "Show the full traceback of any error.")


def _configs_package() -> ModuleType:
    """The shipped config files: the checkout's configs/ beside launch/, or the installed copy."""
    if __package__ == "launch":
        import configs
        return configs
    import recovery_jax_configs
    # Config files import their siblings as `from configs import corpus`: give the installed copy that name.
    sys.modules.setdefault("configs", recovery_jax_configs)
    return recovery_jax_configs


def configs_dir() -> str:
    return os.path.dirname(os.path.abspath(_configs_package().__file__))


def shipped_configs() -> list[str]:
    """File names of the config files that come with the package (corpus.py is a building block only)."""
    return sorted(f for f in os.listdir(configs_dir()) if f.endswith(".py") and f not in ("__init__.py",
                                                                                        "corpus.py"))


def resolve_config(spec: str) -> str:
    """`path[:arg]` with path made absolute: as given if it exists, else the shipped config of that file name
    (so `ser.py:quick` and `configs/ser.py:quick` work from any directory)."""
    path, sep, arg = spec.partition(":")
    shipped = os.path.join(configs_dir(), os.path.basename(path))  # also makes `configs` importable
    if os.path.isfile(path):
        return os.path.abspath(path) + sep + arg
    if not os.path.isabs(path) and os.path.isfile(shipped):
        return shipped + sep + arg
    raise ValueError(f"no such config file ({path}): expected a path to a config .py file or one of the "
                     f"shipped configs {', '.join(shipped_configs())}")


class _ResolvingParser(flags.ArgumentParser):
    """ml_collections' config file parser, given `resolve_config`'s path."""

    def __init__(self, inner: flags.ArgumentParser):
        self.inner = inner

    def parse(self, argument: str) -> Any:
        return self.inner.parse(resolve_config(argument))

    def flag_type(self) -> str:
        return self.inner.flag_type()


def define_config(default: Optional[str], help_string: str) -> flags.FlagHolder:
    """The `--config` flag, file.py[:arg], resolved by `resolve_config` (default: a shipped file name)."""
    holder = config_flags.DEFINE_config_file("config", resolve_config(default) if default else None, help_string)
    flags.FLAGS["config"].parser = _ResolvingParser(flags.FLAGS["config"].parser)
    return holder


def fail(what: str, where: str, expected: str, status: int = 1) -> NoReturn:
    print(f"error: {what} ({where}): {expected}", file=sys.stderr)
    sys.exit(status)


def _one_line(message: str) -> str:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if any(line.startswith("Traceback") for line in lines):  # config_flags wraps get_config errors so
        lines = lines[-1:]
    return " ".join(lines)


def _config_spec(argv: Sequence[str]) -> Optional[str]:
    for i, arg in enumerate(argv):
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
        if arg == "--config" and i + 1 < len(argv):
            return argv[i + 1]
    default = flags.FLAGS["config"].default if "config" in flags.FLAGS else None
    return default if isinstance(default, str) else None


def _unknown_config_key(argv: Sequence[str]) -> Optional[tuple[str, str]]:
    """(--config.key, what was expected) for the first override naming no field of the config file."""
    spec = _config_spec(argv)
    if spec is None:
        return None
    try:
        config = flags.FLAGS["config"].parser.parse(spec)
    except Exception:  # the config itself is broken: the original error says how
        return None
    for arg in argv:
        if not arg.startswith("--config."):
            continue
        node: Any = config
        key = arg.split("=", 1)[0][len("--config."):]
        for depth, part in enumerate(key.split(".")):
            if isinstance(node, config_dict.ConfigDict) and part in node:
                node = node[part]
                continue
            where = ".".join(key.split(".")[:depth])
            known = sorted(node.keys()) if isinstance(node, config_dict.ConfigDict) else []
            close = difflib.get_close_matches(part, known, n=3)
            hint = f"close matches: {', '.join(close)}" if close else f"known keys: {', '.join(known) or 'none'}"
            return f"--config.{key}", f"no key {part!r} in config{'.' + where if where else ''}; {hint}"
    return None


def _help(module: ModuleType, prog: str) -> str:
    doc = (module.__doc__ or "").strip()
    return (f"{doc}\n\nUsage: {prog} [--flag=value ...]\n\nFlags:\n{flags.FLAGS.module_help(module)}\n"
            f"{flags.FLAGS.module_help(__name__)}\n\nShipped config files (--config NAME.py[:arg] finds them from "
            f"any directory; they live in {configs_dir()}):\n  " + "\n  ".join(shipped_configs()) + "\n")


def _parse_flags(module: ModuleType) -> Callable[[list[str]], list[str]]:
    def parse(argv: list[str]) -> list[str]:
        if any(a in ("-h", "--help", "--helpshort", "-?") for a in argv[1:]):
            print(_help(module, os.path.basename(argv[0])))
            sys.exit(0)
        try:
            return flags.FLAGS(argv)
        except Exception as e:  # noqa: BLE001  a bad flag of any kind: say which, no traceback
            if "--verbose" in argv:
                raise
            unknown = _unknown_config_key(argv)
            if unknown:
                fail("unknown config key", *unknown, status=2)
            print(f"error: {_flag_error_line(e)}", file=sys.stderr)
            sys.exit(2)
    return parse


def _flag_error_line(error: Exception) -> str:
    """absl's "flag --name=value: message" as "bad flag (--name): message" (kept whole if it has that form)."""
    message = _one_line(str(error))
    name = getattr(error, "flagname", None)
    if message.startswith("flag --") and ": " in message:
        prefix, message = message.split(": ", 1)
        name = name or prefix[len("flag --"):].split("=", 1)[0]
    if re.match(r"[^():]+ \([^)]*\): ", message):  # already "what (where): expected"
        return message
    return f"bad flag (--{name}): {message}" if name else f"bad flags: {message}"


def _raised_by_project(error: BaseException) -> bool:
    """Raised by recovery_jax, launch or configs code (a message written for users), not deep in a library."""
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return False
    import recovery_jax
    roots = [os.path.dirname(os.path.abspath(p)) for p in (recovery_jax.__file__, __file__)] + [configs_dir()]
    return os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(tuple(root + os.sep for root in roots))


def _error_line(error: BaseException) -> str:
    if all(hasattr(error, a) for a in ("problem", "path", "expected")):  # AudioError: the parts, in our order
        return _one_line(f"{error.problem} ({error.path}): expected {error.expected}")
    if isinstance(error, OSError) and error.filename:
        return f"{(error.strerror or 'cannot read').lower()} ({error.filename}): expected an existing, readable path"
    return _one_line(str(error.args[0] if isinstance(error, KeyError) and error.args else error))


def run(main: Callable[[list[str]], Any], module: Optional[ModuleType] = None) -> None:
    """`app.run(main)` with the shipped-config help and the one-line errors described above."""
    from recovery_jax import allocator

    allocator.reexec_under_tcmalloc()  # before any work: the new process starts from the same command line
    module = module or sys.modules[main.__module__]

    def guarded(argv: list[str]) -> Any:
        verbose = _VERBOSE.value or logging.get_verbosity() >= 1
        try:
            return main(argv)
        except app.UsageError as e:
            if verbose:
                raise
            fail("bad flag", " ".join(argv[1:]) or "flags", _one_line(str(e)), status=2)
        except (ValueError, OSError, KeyError, FloatingPointError) as e:
            if verbose or not _raised_by_project(e):
                raise
            print(f"error: {_error_line(e)}", file=sys.stderr)
            sys.exit(1)

    app.run(guarded, flags_parser=_parse_flags(module))


LAUNCHERS = ("train", "study", "select_ser", "compare", "determinism")


def _launcher_summary(name: str) -> str:
    """First docstring line of launch/<name>.py, read without importing it (each launcher defines --config)."""
    with open(importlib.util.find_spec(f"{__package__}.{name}").origin) as f:
        return (ast.get_docstring(ast.parse(f.read())) or "").splitlines()[0]


def entry_point() -> None:
    """The installed `recovery-jax LAUNCHER [flags]` command: one launcher module per subcommand."""
    args = sys.argv[1:]
    if not args or args[0] not in LAUNCHERS:
        usage = "usage: recovery-jax {" + ",".join(LAUNCHERS) + "} [--flag=value ...]  (--help after one for its flags)"
        usage += "".join(f"\n  {name:12s} {_launcher_summary(name)}" for name in LAUNCHERS)
        if args and args[0] in ("-h", "--help"):
            print(usage)
            sys.exit(0)
        print(usage, file=sys.stderr)
        fail("unknown launcher", args[0] if args else "none given", f"one of {', '.join(LAUNCHERS)}", status=2)
    sys.argv = [f"recovery-jax {args[0]}", *args[1:]]  # before the import: config flags read sys.argv then
    module = importlib.import_module(f"{__package__}.{args[0]}")
    run(module.main, module)
