"""Layering rule: ``app.core`` is the bottom layer and imports nothing from the layers built on it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import ROOT

CORE = ROOT / "app" / "core"
UPPER_LAYERS = ("app.db", "app.repositories", "app.services", "app.api", "app.gateway", "app.models")


def imported_modules(source: str, module: str) -> set[str]:
    """Every module an ``import`` or ``from ... import`` in ``source`` names, relative imports resolved."""
    package = module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def upward_imports(path: Path) -> set[str]:
    module = "app.core." + path.stem
    return {
        name
        for name in imported_modules(path.read_text(encoding="utf-8"), module)
        if any(name == layer or name.startswith(layer + ".") for layer in UPPER_LAYERS)
    }


def test_core_imports_nothing_from_upper_layers() -> None:
    modules = sorted(CORE.glob("*.py"))
    assert len(modules) > 5
    offenders = {path.name: sorted(found) for path in modules if (found := upward_imports(path))}
    assert not offenders, f"app/core reaches up: {offenders}"


def test_the_check_sees_absolute_relative_and_nested_imports(tmp_path: Path) -> None:
    # Proves the rule can fail: each of these forms reaches an upper layer.
    for line in (
        "from app.repositories.medusa import MedusaReader",
        "import app.db.medusa",
        "from ..api import auth",
        "def f():\n    from app.services import background\n",
        "from app import services",
    ):
        offender = tmp_path / "offender.py"
        offender.write_text(line + "\n")
        assert upward_imports(offender), line
    harmless = tmp_path / "harmless.py"
    harmless.write_text("from app.core.config import Settings\nfrom . import errors\n")
    assert not upward_imports(harmless)


# --- NetValve's vocabulary stays in app/gateway; modules stay small; no two modules import each other ---

APP = ROOT / "app"
GATEWAY = APP / "gateway"
MAX_MODULE_LINES = 330
NETVALVE_CODE = re.compile(r"\b(?:GTW|BNK|3DS|FRD|SMR)_\d{3,4}\b")
# Names NetValve's webhook bodies and order look-ups use that no wire model declares as an alias.
NETVALVE_WORDS = frozenset(
    {
        "eventName",
        "transactionId",
        "traceId",
        "chargebackTransactionType",
        "chargebackSource",
        # Order states, 3-D Secure statuses and webhook event names.
        "CREATED",
        "READY_TO_PAY",
        "PAID",
        "DECLINED",
        "EXPIRED",
        "AWAIT_3DS",
        "ACS_REQUIRED",
        "INITIALIZED",
        "AUTHENTICATION_FAILED",
        "AUTHORISED",
        "PURCHASED",
        "CHARGEBACK",
    }
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def app_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(APP.rglob("*.py"))}


def netvalve_field_names() -> frozenset[str]:
    """Every NetValve name a gateway model declares (its aliases), where it differs from a plain word."""
    import app.gateway as gateway

    names: set[str] = set()
    for value in vars(gateway).values():
        fields = getattr(value, "model_fields", None)
        if not isinstance(fields, dict):
            continue
        for info in fields.values():
            names.add(info.alias or "")
            choices = getattr(info.validation_alias, "choices", ())
            names.update(choice for choice in choices if isinstance(choice, str))
    return frozenset(name for name in names if name and name != name.lower())


def wire_names() -> frozenset[str]:
    """What ``app.gateway`` offers that is NetValve's request wire format."""
    import app.gateway as gateway

    return frozenset(
        name
        for name, value in vars(gateway).items()
        if getattr(value, "__module__", "") == "app.gateway.wire"
    )


# Card data and tokens are refused and masked under every spelling, NetValve's included, wherever they appear.
SECRET_FIELDS = frozenset({"cardNumber", "cardSecurityCode", "paymentToken", "jwtToken", "accessToken"})


def netvalve_vocabulary(source: str, fields: frozenset[str], wire: frozenset[str]) -> list[str]:
    """NetValve's codes, field names, states and wire models in ``source`` (docstrings aside)."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            text = node.value
            found += NETVALVE_CODE.findall(text)
            words = re.findall(r"[A-Za-z0-9_]+", text)
            found += [word for word in words if word in (fields | NETVALVE_WORDS) - SECRET_FIELDS]
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            if node.module.startswith("app.gateway.wire"):
                found.append(f"import {node.module}")
            elif node.module == "app.gateway":
                found += [f"import {alias.name}" for alias in node.names if alias.name in wire]
    return found


def test_netvalve_vocabulary_stays_in_the_gateway() -> None:
    fields, wire = netvalve_field_names(), wire_names()
    assert {"clientOrderId", "netvalveMidId", "transactionID"} <= fields
    offenders = {
        name: sorted(set(found))
        for name, path in app_modules().items()
        if not path.is_relative_to(GATEWAY)
        and (found := netvalve_vocabulary(path.read_text(encoding="utf-8"), fields, wire))
    }
    assert not offenders, f"NetValve vocabulary outside app/gateway: {offenders}"


def test_the_vocabulary_check_sees_codes_fields_states_and_wire_imports() -> None:
    fields = frozenset({"clientOrderId"})
    wire = frozenset({"SaleRequest"})
    for line in (
        'CODE = "GTW_2124"',
        'x = data.get("clientOrderId")',
        'CLOSED = frozenset({"EXPIRED"})',
        'f"{a}|3DS_2011"',
        "from app.gateway import SaleRequest",
        "from app.gateway.wire import Currency",
    ):
        assert netvalve_vocabulary(line + "\n", fields, wire), line
    assert not netvalve_vocabulary('"""Sends clientOrderId and GTW_1000."""\nx = "expired"\n', fields, wire)


def test_no_module_under_app_is_too_long() -> None:
    lengths = {
        name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in app_modules().items()
    }
    too_long = {name: lines for name, lines in lengths.items() if lines > MAX_MODULE_LINES}
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines: {too_long}"


def app_imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules under app/ that ``name`` imports, anywhere in it (TYPE_CHECKING and functions too)."""
    found = imported_modules(
        path.read_text(encoding="utf-8"), name if path.stem != "__init__" else name + ".x"
    )
    return {module for module in found if module in modules and module != name}


def test_no_two_modules_under_app_import_each_other() -> None:
    modules = app_modules()
    graph = {name: app_imports(name, path, modules) for name, path in modules.items()}
    pairs = sorted({tuple(sorted((a, b))) for a, targets in graph.items() for b in targets if a in graph[b]})
    assert not pairs, f"modules that import each other: {pairs}"


def status_writes(source: str) -> list[int]:
    """Lines assigning a payment's ``status`` (``payment.status = ...``, ``locked.payment.status = ...``)."""
    lines: list[int] = []
    for node in ast.walk(ast.parse(source)):
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AugAssign | ast.AnnAssign)
            else []
        )
        for target in targets:
            if (
                isinstance(target, ast.Attribute)
                and target.attr == "status"
                and ast.unparse(target.value).split(".")[-1] == "payment"
            ):
                lines.append(node.lineno)
    return lines


def test_only_the_ledgers_transition_writes_a_payment_status() -> None:
    ledger = "app.services.ledger"
    writes = {
        name: found
        for name, path in app_modules().items()
        if (found := status_writes(path.read_text(encoding="utf-8")))
    }
    assert set(writes) == {ledger}, f"payment.status written outside ledger.transition: {writes}"
    assert len(writes[ledger]) == 1
    assert status_writes("locked.payment.status = 'x'\nself.payment.status = 'y'\nevent.status = 'z'\n") == [
        1,
        2,
    ]


def class_names(source: str) -> list[str]:
    return [node.name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ClassDef)]


def test_no_two_classes_under_app_share_a_name() -> None:
    # Two ``CaptureRequest``s (a wire body and a route schema) read alike in a diff and import by mistake.
    defined: dict[str, list[str]] = {}
    for name, path in app_modules().items():
        for cls in class_names(path.read_text(encoding="utf-8")):
            defined.setdefault(cls, []).append(name)
    twice = {cls: modules for cls, modules in defined.items() if len(modules) > 1}
    assert not twice, f"classes defined more than once under app/: {twice}"
    assert class_names("class A:\n    class B: ...\n") == ["A", "B"]
