"""README.md and docs/*.md: links that resolve, the CI markers, every configuration key documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: [text](target) and ![alt](target), the target up to a space or ')'.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)[^)]*\)")


def _relative_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return [
        t
        for t in LINK.findall(text)
        if not re.match(r"^[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves_to_a_file(page: Path) -> None:
    missing = [t for t in _relative_links(page) if not (page.parent / t.split("#", 1)[0]).exists()]
    assert not missing, f"{page.relative_to(ROOT)}: links to nothing: {missing}"


def test_the_link_check_finds_a_broken_link(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("[a](a.md) [b](https://x.org) [c](#top) ![i](img/i.png)\n```\n[d](d.md)\n```")
    assert _relative_links(page) == ["a.md", "img/i.png"]


def test_readme_keeps_both_ci_markers_and_links_every_docs_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for marker in ("<!-- ci: run -->", "<!-- ci: test -->"):
        assert readme.count(marker) == 1, marker
    linked = {Path(t.split("#", 1)[0]).name for t in _relative_links(ROOT / "README.md")}
    pages = {p.name for p in PAGES[1:]}
    assert pages <= linked, f"docs pages the README does not link: {sorted(pages - linked)}"


def _toml_keys(readme: str) -> tuple[dict[str, set[str]], set[str]]:
    """Keys per section, and the section headers, of the configuration reference's TOML."""
    section = readme.split("## Configuration reference", 1)[1].split("\n## ", 1)[0]
    block = section.split("```toml", 1)[1].split("```", 1)[0]
    keys: dict[str, set[str]] = {}
    headers: set[str] = set()
    current = ""
    for line in block.splitlines():
        line = line.split("#", 1)[0].strip()
        if m := re.fullmatch(r"\[([a-z_.]+)\]", line):
            current = m.group(1)
            headers.add(current)
        elif m := re.match(r"([A-Za-z0-9_]+)\s*=", line):
            keys.setdefault(current, set()).add(m.group(1))
    return keys, headers


def test_readme_configuration_reference_names_every_option() -> None:
    from equity.config import DATA_KEYS, OPTIONS

    keys, headers = _toml_keys((ROOT / "README.md").read_text(encoding="utf-8"))
    undocumented = [
        o.name
        for o in OPTIONS.values()
        if o.key
        and o.key not in keys.get(o.section, set())
        and f"{o.section}.{o.key}" not in headers
    ]
    assert not undocumented, f"options missing from the README's configuration: {undocumented}"
    assert set(DATA_KEYS) <= keys["data"], sorted(set(DATA_KEYS) - keys["data"])
    known = {o.section for o in OPTIONS.values()} | {
        f"{o.section}.{o.key}" for o in OPTIONS.values()
    }
    assert headers <= known, f"sections no option reads: {sorted(headers - known)}"
    for section, names in keys.items():
        valid = (
            set(DATA_KEYS)
            if section == "data"
            else {o.key for o in OPTIONS.values() if o.section == section}
        )
        if section in valid or "." in section:  # a table of free keys ([index.weights], ...)
            continue
        assert names <= valid, f"[{section}]: keys no option reads: {sorted(names - valid)}"
