"""layout.page, which ends every Markdown page the renderers write."""

from __future__ import annotations

from generator.render import layout


def test_a_page_ends_in_one_newline_after_its_last_text() -> None:
    assert layout.page(["# Title", "", "Text.", "", ""]) == "# Title\n\nText.\n"
    assert layout.page(["# Title"]) == "# Title\n"


def test_a_page_keeps_trailing_spaces_and_text_that_ends_in_x() -> None:
    # Two trailing spaces are a Markdown line break; an X must not be taken for padding.
    assert layout.page(["first line  ", "", ""]) == "first line  \n"
    assert layout.page(["Use the box X", ""]) == "Use the box X\n"


def test_a_page_keeps_its_first_lines_even_blank() -> None:
    assert layout.page(["", "Text.", ""]) == "\nText.\n"
