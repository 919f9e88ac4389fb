"""The version blocks of the .sql templates: which branch is kept, and malformed blocks refused."""

from __future__ import annotations

import pytest

from pgadvisor.collectors import queries

TEXT = """SELECT a,
-- if version >= 170000
  c17,
-- elif version >= 160000
  c16,
-- else
  NULL AS c,
-- end
  z
"""


@pytest.mark.parametrize(("version", "kept"), [(130000, "  NULL AS c,\n"), (160000, "  c16,\n"),
                                                (169999, "  c16,\n"), (180000, "  c17,\n")])
def test_render_keeps_the_first_branch_reached(version: int, kept: str) -> None:
    """Only the branch for the version remains, between the unchanged lines; markers are gone."""
    assert queries.render(TEXT, version) == "SELECT a,\n" + kept + "  z\n"


def test_a_block_without_else_keeps_nothing_below_its_bound() -> None:
    """An `if` alone adds its lines from its version on."""
    text = "a\n-- if version >= 5\nb\n-- end\n"
    assert queries.render(text, 4) == "a\n" and queries.render(text, 5) == "a\nb\n"


@pytest.mark.parametrize("text", ["-- if version >= 1\nx\n", "-- end\n", "-- else\n",
                                  "-- if version >= 1\n-- if version >= 2\n-- end\n-- end\n"])
def test_malformed_blocks_are_refused(text: str) -> None:
    """An unclosed, unopened or nested block is an error, not silently wrong SQL."""
    with pytest.raises(queries.BadTemplate):
        queries.render(text, 1)


def test_pick_refuses_below_the_minimum() -> None:
    """A server older than the source's minimum has no query."""
    with pytest.raises(queries.NoQueryForVersion):
        queries.pick("tables", 120000)
    assert queries.variants("tables") == (130000, 160000)
