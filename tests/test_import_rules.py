"""The import graph keeps the layering the code base is organised by.

Every `import` statement of the project's Python files (module level and inside
functions alike) is parsed with `ast`, and each rule names the offending file and line:

* models import nothing of rvs_jax above them;
* data never imports models;
* convert, checkpointing, evaluation, inference, pictures and eval.py never import the
  trainer (reading a checkpoint or scoring a model needs no training code);
* no library module imports rvs_jax.testing (the tests do; bench/ is a tool and may,
  but only inside a function: `bench/speed.py --torch` reads the PyTorch reference);
* bench/ imports only rvs_jax, the standard library and installed third-party packages
  (no module of the repository's folders: tests/, configs/, bench/ itself);
* `sys.path` appears nowhere in rvs_jax/, bench/, train.py, eval.py: everything they
  import is installed.
"""

import ast
import importlib.util
import pathlib
import sys
import sysconfig

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


def _sys_path_uses(path: pathlib.Path) -> list[str]:
  """Lines naming `sys.path`: in the text, or as `sys.path` / `from sys import path`."""
  source = path.read_text(encoding="utf-8")
  rel = path.relative_to(ROOT)
  bad = [f"{rel}:{n} mentions sys.path" for n, line in
         enumerate(source.splitlines(), 1) if "sys.path" in line]
  for node in ast.walk(ast.parse(source)):
    if (isinstance(node, ast.Attribute) and node.attr == "path"
        and isinstance(node.value, ast.Name) and node.value.id == "sys"):
      bad.append(f"{rel}:{node.lineno} uses sys.path")
    elif (isinstance(node, ast.ImportFrom) and node.module == "sys"
          and any(a.name == "path" for a in node.names)):
      bad.append(f"{rel}:{node.lineno} imports sys.path")
  return bad


def test_no_sys_path_edits():
  bad = []
  for path in _files("rvs_jax", "bench", "train.py", "eval.py"):
    bad.extend(_sys_path_uses(path))
  assert bad == []


def test_no_library_module_imports_the_test_helpers():
  files = [p for p in _files("rvs_jax", "configs", "data", "bench", "train.py", "eval.py")
           if "testing" not in p.relative_to(ROOT).parts]
  assert _violations(files, ["rvs_jax.testing"]) == []


def _local_names() -> set[str]:
  """Top-level names a module of the repository's own folders would import as."""
  names = set()
  for folder in (ROOT, ROOT / "tests", ROOT / "bench"):
    for p in folder.iterdir():
      if p.suffix == ".py" or (p.is_dir() and not p.name.startswith(".")):
        names.add(p.stem)
  return names - {"rvs_jax"}


def _third_party(top: str) -> bool:
  """Installed outside the repository (or not installed here: an optional extra)."""
  try:
    spec = importlib.util.find_spec(top)
  except (ImportError, ValueError):
    return True
  origin = getattr(spec, "origin", None) if spec else None
  if origin is None:
    return True
  origin = pathlib.Path(origin).resolve()
  # The README's venv lives inside the checkout (.venv/): its site-packages count as
  # installed, not as the repository's own code.
  installed = {pathlib.Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib",
                                                                           "platlib")}
  return not origin.is_relative_to(ROOT) or any(origin.is_relative_to(i) for i in installed)


def _repository_imports(path: pathlib.Path) -> list[str]:
  """Imports of modules that are neither rvs_jax, the stdlib nor installed packages."""
  local = _local_names()
  bad = []
  for line, name in _imports(path):
    top = name.split(".")[0]
    if top in ("rvs_jax", "__future__") or top in sys.stdlib_module_names:
      continue
    if top in local or not _third_party(top):
      bad.append(f"{path.relative_to(ROOT)}:{line} imports {name} (not installed)")
  return bad


def test_bench_imports_only_the_library_stdlib_and_third_party():
  assert [b for p in _files("bench") for b in _repository_imports(p)] == []


def test_the_rules_see_a_violation():
  """The parser resolves relative and `from X import module` forms."""
  fake = ROOT / "rvs_jax" / "data" / "_probe_for_test.py"
  fake.write_text("from ..models import layers\nimport rvs_jax.models.cmam\n")
  try:
    got = _violations([fake], ["rvs_jax.models"])
  finally:
    fake.unlink()
  assert len(got) == 3 and all("_probe_for_test.py" in g for g in got), got


def test_the_bench_and_sys_path_rules_see_a_violation():
  """What bench/speed.py did before: a sys.path insert to import a tests/ module."""
  fake = ROOT / "bench" / "_probe_for_test.py"
  fake.write_text("import sys\nsys.path.insert(0, 'tests')\nimport toy_benchmark\n"
                  "from rvs_jax.testing import fixtures\nimport numpy, json\n")
  try:
    uses = _sys_path_uses(fake)
    local = _repository_imports(fake)
    testing = _violations([fake], ["rvs_jax.testing"])
  finally:
    fake.unlink()
  assert len(uses) == 2 and all(":2 " in u for u in uses), uses
  assert local == ["bench/_probe_for_test.py:3 imports toy_benchmark (not installed)"]
  assert len(testing) == 2 and all(":4 " in t for t in testing), testing
