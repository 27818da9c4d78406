"""docs/components.md is generated from the docstrings and must match the code."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from blueprint.cli import main
from blueprint.upkeep.docs import OUTPUT, ROOT, component_docs, config_sections, dataclass_fields, render


def test_committed_reference_is_up_to_date() -> None:
    # Stale means a component's Args or the config model changed without `make docs`.
    assert (ROOT / OUTPUT).read_text() == render(), "docs/components.md is stale: run `make docs` and commit it"


def test_check_mode_fails_on_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import blueprint.upkeep.docs

    monkeypatch.setattr(blueprint.upkeep.docs, "ROOT", tmp_path)
    assert main(["docs", "--check"]) == 1  # missing
    (tmp_path / OUTPUT).parent.mkdir(parents=True)
    (tmp_path / OUTPUT).write_text(render().replace("VPC", "network"))
    assert main(["docs", "--check"]) == 1  # edited by hand
    assert main(["docs"]) == 0  # `make docs`
    assert main(["docs", "--check"]) == 0


def test_field_docstrings_are_read_with_ast() -> None:
    tree = ast.parse(
        textwrap.dedent(
            '''
            @dataclass(frozen=True)
            class DemoArgs:
                name: str
                """The name."""
                size: int = 3
                tags: Mapping[str, str] = field(default_factory=dict)
                """Tags for | every resource."""
            '''
        )
    )
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    fields = list(dataclass_fields(cls))
    assert [(f.name, f.type, f.default, f.doc) for f in fields] == [
        ("name", "str", "required", "The name."),
        ("size", "int", "3", ""),
        ("tags", "Mapping[str, str]", "{}", "Tags for | every resource."),
    ]


def test_every_component_args_field_is_documented() -> None:
    comps = component_docs()
    assert comps, "no components found"
    undocumented = [f"{c.args_class}.{f.name}" for c in comps for f in c.fields if not f.doc.strip()]
    assert undocumented == [], "every Args field needs a docstring (it becomes docs/components.md)"
    assert all(c.type_token and c.type_token.startswith("platform:index:") for c in comps)


def test_every_config_key_is_documented_and_listed() -> None:
    text = render()
    for _paths, model in config_sections():
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no docstring"
            assert f"| `{info.alias or name}` |" in text
    assert "### `delivery`" in text
    assert "`githubRepository`" in text
