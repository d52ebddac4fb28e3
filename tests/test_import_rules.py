"""The import graph keeps the layering the code base is organised by.

Every `import` statement of the project's Python files (module level and inside
functions alike) is parsed with `ast`, and each rule names the offending file and line:

* models import nothing of rvs_jax above them;
* data never imports models;
* convert, checkpointing, evaluation, inference, pictures and eval.py never import the
  trainer (reading a checkpoint or scoring a model needs no training code);
* nothing outside tests imports rvs_jax.testing;
* no module of the library nor an entry script edits `sys.path`: everything they
  import is installed.
"""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
TRAIN = ("rvs_jax.train", "rvs_jax.trainer")


def _files(*parts: str) -> list[pathlib.Path]:
  out = []
  for part in parts:
    path = ROOT / part
    out.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
  return out


def _module_of(path: pathlib.Path) -> str:
  rel = path.relative_to(ROOT).with_suffix("")
  parts = list(rel.parts)
  if parts[-1] == "__init__":
    parts.pop()
  return ".".join(parts)


def _imports(path: pathlib.Path) -> list[tuple[int, str]]:
  """`(line, absolute module name)` of every import in the file."""
  tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
  package = _module_of(path).rsplit(".", 1)[0] if path.name != "__init__.py" else (
      _module_of(path))
  found = []
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      found.extend((node.lineno, a.name) for a in node.names)
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        anchor = package.split(".")
        anchor = anchor[:len(anchor) - (node.level - 1)]
        base = ".".join(anchor + ([base] if base else []))
      # `from rvs_jax import trainer` imports the module rvs_jax.trainer.
      found.extend((node.lineno, f"{base}.{a.name}") for a in node.names)
      found.append((node.lineno, base))
  return found


def _violations(files, forbidden) -> list[str]:
  bad = []
  for path in files:
    for line, name in _imports(path):
      if any(name == f or name.startswith(f + ".") for f in forbidden):
        bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
  return bad


def test_models_import_nothing_above_them():
  above = [m for m in ("rvs_jax.data", "rvs_jax.datasets", "rvs_jax.train",
                       "rvs_jax.trainer", "rvs_jax.evaluation", "rvs_jax.inference",
                       "rvs_jax.pictures", "rvs_jax.checkpointing", "rvs_jax.convert",
                       "rvs_jax.testing", "rvs_jax.app")]
  assert _violations(_files("rvs_jax/models"), above) == []


def test_data_never_imports_models():
  assert _violations(_files("rvs_jax/data"), ["rvs_jax.models"]) == []


def test_readers_and_scorers_never_import_the_trainer():
  files = _files("rvs_jax/convert", "rvs_jax/checkpointing.py", "rvs_jax/evaluation",
                 "eval.py", *(p for p in ("rvs_jax/inference", "rvs_jax/pictures")
                              if (ROOT / p).exists()))
  assert _violations(files, TRAIN) == []


def test_no_sys_path_edits():
  bad = []
  for path in _files("rvs_jax", "train.py", "eval.py"):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
      if (isinstance(node, ast.Attribute) and node.attr == "path"
          and isinstance(node.value, ast.Name) and node.value.id == "sys"):
        bad.append(f"{path.relative_to(ROOT)}:{node.lineno} uses sys.path")
  assert bad == []


def test_only_tests_import_the_fixture_writers():
  files = [p for p in _files("rvs_jax", "bench", "configs", "data", "train.py", "eval.py")
           if "testing" not in p.relative_to(ROOT).parts]
  assert _violations(files, ["rvs_jax.testing"]) == []


def test_the_rules_see_a_violation():
  """The parser resolves relative and `from X import module` forms."""
  fake = ROOT / "rvs_jax" / "data" / "_probe_for_test.py"
  fake.write_text("from ..models import layers\nimport rvs_jax.models.cmam\n")
  try:
    got = _violations([fake], ["rvs_jax.models"])
  finally:
    fake.unlink()
  assert len(got) == 3 and all("_probe_for_test.py" in g for g in got), got
