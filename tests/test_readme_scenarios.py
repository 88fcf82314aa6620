"""The README documents the scenario format and carries the test-card table of the catalogue."""
from __future__ import annotations

from pathlib import Path

from mockpay import scenarios as sc

ROOT = Path(__file__).resolve().parent.parent


def section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    assert f"\n## {title}\n" in text, f"README has no section {title!r}"
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def card_table_rows() -> list[str]:
    """One Markdown row per catalogue rule, in order."""
    rows = []
    for rule in sc.builtin().rules:
        row = rule.describe()
        match = ", ".join(f"`{c}`" for c in row["cards"]) or row["match"]
        if rule.api != "vaultPaymentMethod":
            match += f" ({rule.api})"
        cells = [match, row["outcome"], row["description"]]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return rows


def test_the_test_card_table_matches_the_catalogue():
    text = section("Scenarios and test cards").split("\n### Test cards\n", 1)[1].split("\n### ", 1)[0]
    table = [line for line in text.splitlines() if line.startswith("| ")][2:]  # without header and rule
    assert table == card_table_rows()


def test_the_format_example_in_the_readme_is_valid():
    text = section("Scenarios and test cards")
    examples = [block.split("\n```", 1)[0] for block in text.split("```yaml\n")[1:]]
    assert examples
    for i, example in enumerate(examples):
        sc.parse(example, f"README example {i + 1}")
