"""The runner behind the training and evaluation commands: flags in, one line out.

Every mistake a user can make on the command line or in the files it names ends the
command with one line, `error: <what and where>`, and exit status 2, instead of a
traceback: an unknown or mistyped config field (with the closest known names), a bad
value, a missing flag, a missing path, a checkpoint written for another model.
`--help` prints the usage and exits 0. A command that fails before writing anything
leaves no empty workdir behind. `RVS_JAX_TRACEBACK=1` re-raises instead, for debugging.

Flags live in a `FlagValues` of each command's own (not absl's global `FLAGS`), so a
test can run several commands in one process; absl's logging flags (`--verbosity`,
`--alsologtostderr`, ...) are accepted by every command.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import importlib.util
import os
import sys
from typing import Any, Callable, Optional, Sequence

from absl import flags
import ml_collections
from ml_collections import config_flags

# What the library raises for bad input: every error class of rvs_jax is a ValueError
# (DataError, CheckpointError, ConversionError, ...); OSError covers missing/unreadable
# files and a full disk. Anything else is a bug and keeps its traceback.
USER_ERRORS = (ValueError, OSError)
_HELP_FLAGS = ("-h", "--help", "-help", "--helpshort", "--helpfull", "-?")


class UsageError(ValueError):
  """A mistake on the command line."""


@dataclasses.dataclass(frozen=True)
class Command:
  """A command-line program: its flags and its body.

  Attributes:
    prog: the name printed in `error:` lines and the usage (e.g. "train.py").
    doc: the usage text (the entry module's docstring).
    define_flags: `(flag_values, argv) -> None`, defines the command's flags;
      `argv` is what config-file flags need to discover `--config.x.y` overrides.
    main: `(flag_values) -> exit status or None`, runs the command.
    required: flags that must be given.
    workdir_flag: a flag naming a directory the command creates; removed again when
      the command fails and the directory did not exist before and is still empty.
  """
  prog: str
  doc: str
  define_flags: Callable[[flags.FlagValues, Sequence[str]], None]
  main: Callable[[flags.FlagValues], Optional[int]]
  required: tuple[str, ...] = ()
  workdir_flag: Optional[str] = None


def define_config(flag_values: flags.FlagValues, argv: Sequence[str],
                  name: str = "config", help_text: str = "Config file (path[:args]).",
                  ) -> None:
  """Defines a config-file flag (`--config path[:args]` plus `--config.a.b=v`)."""
  config_flags.DEFINE_config_file(name, None, help_text, flag_values=flag_values,
                                  lock_config=True, sys_argv=list(argv))


def load_config_file(spec: str) -> ml_collections.ConfigDict:
  """`path/to/config.py[:args]` -> its `get_config(args)`; one-line errors.

  Raises:
    UsageError: the file is missing, does not define `get_config`, or rejects `args`.
  """
  path, _, arg = spec.partition(":")
  if not os.path.isfile(path):
    raise UsageError(f"config file {path!r} not found")
  module_spec = importlib.util.spec_from_file_location(
      f"_rvs_jax_config_{abs(hash(os.path.abspath(path)))}", path)
  module = importlib.util.module_from_spec(module_spec)
  try:
    module_spec.loader.exec_module(module)
  except Exception as e:  # pylint: disable=broad-except
    # Whatever the file does wrong (a syntax error, a failed import), it is the file's.
    raise UsageError(f"config file {path!r}: {type(e).__name__}: {e}") from None
  if not hasattr(module, "get_config"):
    raise UsageError(f"config file {path!r} defines no get_config()")
  try:
    return module.get_config(*([arg] if arg else []))
  except (ValueError, TypeError, KeyError) as e:
    raise UsageError(f"config {spec!r}: {e}") from None


def check_overrides(config: ml_collections.ConfigDict, argv: Sequence[str],
                    name: str = "config") -> None:
  """Every `--<name>.a.b=v` in `argv` names a field of `config`, or UsageError.

  ml_collections reports a mistyped field with a traceback; this names the flag and
  the closest known fields instead.
  """
  prefix = f"--{name}."
  for arg in argv:
    if not arg.startswith(prefix):
      continue
    path = arg[len(prefix):].partition("=")[0]
    node, walked = config, name
    for key in path.split("."):
      fields = list(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
      if key not in fields:
        close = difflib.get_close_matches(key, fields, n=3)
        hint = (f"did you mean {', '.join(close)}?" if close else
                f"known: {', '.join(sorted(fields))}" if fields else
                f"{walked} is a value, not a group")
        raise UsageError(f"{arg.partition('=')[0]}: {walked} has no field {key!r} "
                         f"({hint})")
      node, walked = node[key], f"{walked}.{key}"


def _usage(command: Command, flag_values: flags.FlagValues, names: Sequence[str]) -> str:
  lines = [command.doc.strip(), "", "flags:"]
  for name in names:
    flag = flag_values[name]
    default = "" if flag.default is None else f" (default: {flag.default})"
    lines.append(f"  --{name}: {flag.help}{default}")
  lines.append("  absl logging flags (--verbosity, --alsologtostderr, ...) are accepted.")
  return "\n".join(lines)


def argv_value(argv: Sequence[str], name: str) -> Optional[str]:
  """The value of `--name` in `argv` (either `--name=X` or `--name X`), or None."""
  for i, arg in enumerate(argv):
    if arg.startswith(f"--{name}="):
      return arg.partition("=")[2]
    if arg == f"--{name}" and i + 1 < len(argv):
      return argv[i + 1]
  return None


def _parse(command: Command, argv: list[str]) -> flags.FlagValues:
  """Defines and parses the command's flags; UsageError/flags.Error on a mistake."""
  spec = argv_value(argv, "config")
  if spec is not None:
    # Loaded here first so that a bad file or `:args`, and a mistyped `--config.x`,
    # are one line each rather than ml_collections' tracebacks.
    check_overrides(load_config_file(spec), argv)
  flag_values = flags.FlagValues()
  command.define_flags(flag_values, argv)
  for module_flags in flags.FLAGS.flags_by_module_dict().values():
    for flag in module_flags:  # absl's own flags (logging verbosity, ...).
      if flag.name not in flag_values:
        flag_values[flag.name] = flag
  extra = flag_values(argv)[1:]
  if extra:
    raise UsageError(f"unexpected argument {extra[0]!r} (flags are --name=value)")
  missing = [f"--{name}" for name in command.required if flag_values[name].value is None]
  if missing:
    raise UsageError(f"missing required flag {', '.join(missing)}")
  flags.FLAGS.mark_as_parsed()
  return flag_values


def run(command: Command, argv: Optional[Sequence[str]] = None) -> int:
  """Runs `command`; returns the exit status.

  Args:
    command: what to run.
    argv: the arguments after the program name (default `sys.argv[1:]`), as for the
      argparse-based commands (convert, validate, predict, ...).
  """
  argv = [command.prog, *(sys.argv[1:] if argv is None else argv)]
  traceback = os.environ.get("RVS_JAX_TRACEBACK") == "1"
  if any(a in _HELP_FLAGS for a in argv[1:]):
    shown = flags.FlagValues()
    command.define_flags(shown, argv[:1])
    print(_usage(command, shown, list(shown)))
    return 0
  try:
    flag_values = _parse(command, argv)
  except (UsageError, flags.Error, OSError) as e:
    if traceback:
      raise
    return _fail(command, e)

  workdir = flag_values[command.workdir_flag].value if command.workdir_flag else None
  existed = workdir is not None and os.path.exists(workdir)
  try:
    return int(command.main(flag_values) or 0)
  except USER_ERRORS as e:
    if traceback:
      raise
    if workdir is not None and not existed:
      _remove_empty_tree(workdir)
    return _fail(command, e)


def _fail(command: Command, error: BaseException) -> int:
  message = " ".join(str(error).split()) or type(error).__name__
  print(f"{command.prog}: error: {message}", file=sys.stderr)
  return 2


def _remove_empty_tree(path: str) -> None:
  """Removes `path` if it holds only empty directories (never a file)."""
  for root, _, files in os.walk(path, topdown=False):
    if files:
      return
    try:
      os.rmdir(root)
    except OSError:
      return


class ArgumentParser(argparse.ArgumentParser):
  """argparse for the argparse-based commands, with the runner's one-line errors.

  argparse prints the whole usage before its error line; a mistake is one line here
  (`--help` still prints the usage).
  """

  def error(self, message: str):
    print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
    raise SystemExit(2)


def flag(flag_values: flags.FlagValues, name: str) -> Any:
  """The parsed value of a flag (shorthand for `flag_values[name].value`)."""
  return flag_values[name].value
