"""The package layering: an acyclic import graph, ptycho never imports parity, and only the
command layer reads the environment. Function-level imports count (they only hide a cycle)."""
import ast
import pathlib

import pytest

from tests.conftest import ROOT

PACKAGES = ("ptycho", "parity")
#: modules allowed to read os.environ: the command layer, and ptycho.tfload (it sets the
#: TensorFlow variables before the one import of TensorFlow)
ENV_READERS = ("parity.commands", "ptycho.tfload")


def _modules(root: pathlib.Path) -> dict[str, pathlib.Path]:
    out = {}
    for pkg in PACKAGES:
        for f in (root / pkg).rglob("*.py"):
            name = ".".join(f.relative_to(root).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = f
    return out


def import_graph(root: pathlib.Path) -> dict[str, set[str]]:
    """module -> the project modules it imports anywhere in its body."""
    mods = _modules(root)
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        pkg = m if f.name == "__init__.py" else m.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = pkg.split(".")
                    mod = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
            else:
                continue
            edges[m] |= {t for t in targets if t in mods and t != m}
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(u: str) -> list[str] | None:
        state[u] = 1
        stack.append(u)
        for v in sorted(edges[u]):
            if state.get(v) == 1:
                return stack[stack.index(v):] + [v]
            if not state.get(v) and (found := visit(v)):
                return found
        stack.pop()
        state[u] = 2
        return None

    for m in sorted(edges):
        if not state.get(m) and (found := visit(m)):
            return found
    return None


def test_import_graph_has_no_cycle():
    assert find_cycle(import_graph(ROOT)) is None


def test_cycle_finder_sees_a_function_level_cycle(tmp_path):
    """Breaker: a function-level import that closes a loop is reported."""
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "parity" / "a.py").write_text("from . import b\n")
    (tmp_path / "parity" / "b.py").write_text("def f():\n    from .a import x\n")
    assert find_cycle(import_graph(tmp_path)) == ["parity.a", "parity.b", "parity.a"]


def test_ptycho_never_imports_parity():
    edges = import_graph(ROOT)
    assert {(m, t) for m, ts in edges.items() if m.startswith("ptycho") for t in ts
            if t.startswith("parity")} == set()


@pytest.mark.parametrize("name", sorted(m for m in _modules(ROOT) if not m.startswith(ENV_READERS)))
def test_only_the_command_layer_reads_the_environment(name):
    source = _modules(ROOT)[name].read_text()
    assert "os.environ" not in source and "getenv" not in source, name


def test_the_replay_spec_is_a_leaf_below_the_stages():
    """parity.replay_spec (ReplaySpec, ResolvedReplay) reaches no stage module, so the stages
    can type their state with it."""
    edges = import_graph(ROOT)
    seen, todo = set(), ["parity.replay_spec"]
    while todo:
        for v in edges[todo.pop()] - seen:
            seen.add(v)
            todo.append(v)
    assert not {m for m in seen if m == "parity.stages" or m.startswith("parity.stages.")}
    assert "parity.stages.state" in edges and "parity.replay_spec" in edges["parity.stages.state"]


def _container_privates(container: pathlib.Path) -> set[str]:
    """The private attributes PtychoDataContainer sets on itself (self._name = ...)."""
    out = set()
    for node in ast.walk(ast.parse(container.read_text())):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id == "self" and isinstance(node.ctx, ast.Store)
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            out.add(node.attr)
    return out


def private_container_reads(root: pathlib.Path) -> list[str]:
    """'module: attribute' for each read of a container private outside ptycho/container.py."""
    container = root / "ptycho" / "container.py"
    privates = _container_privates(container)
    found = []
    for name, f in sorted(_modules(root).items()):
        if f == container:
            continue
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in privates:
                found.append(f"{name}: {node.attr}")
    return found


def test_only_the_container_reads_its_private_arrays():
    """Other modules use the public accessors (X_np, Y_I_np, coords_nominal_np,
    cached_tensors, ...), not the container's private attributes."""
    assert private_container_reads(ROOT) == []


def test_private_container_reads_are_found(tmp_path):
    """Breaker: a stage reading c._X_np is reported."""
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "ptycho" / "container.py").write_text(
        "class C:\n    def __init__(self, x):\n        self._X_np = x\n")
    (tmp_path / "parity" / "stage.py").write_text("def f(c):\n    return c._X_np\n")
    assert private_container_reads(tmp_path) == ["parity.stage: _X_np"]
