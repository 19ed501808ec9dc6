"""The programme file: the shipped one loads, and a broken one names the broken field."""

from __future__ import annotations

import datetime as dt

import pytest

from knowledge.programme import (
    DEFAULT_PROGRAMME_FILE,
    ProgrammeConfigError,
    format_pence,
    load_programme,
)


def test_shipped_programme_has_the_faq_facts():
    p = load_programme()
    days = [(d.date, d.place) for d in p.development_days]
    assert days == [(dt.date(2015, 3, 18), "London"), (dt.date(2015, 7, 8), "Leeds"),
                    (dt.date(2015, 9, 16), "Birmingham (Midlands/South)")]
    assert p.expenses.cap_for(p.development_days[0]) == 15000
    assert p.expenses.cap_for(p.development_days[1]) == 10000
    assert (p.sessions.min_count, p.sessions.max_count) == (6, 8)
    assert p.event("orientation").describe() == (
        "Virtual orientation session: Wednesday 28 January 2015, 14:00 to 15:30, Online")


@pytest.mark.parametrize("old, new, field", [
    ('accommodation_cap_london = "150.00"', 'accommodation_cap_london = "lots"',
     "expenses.accommodation_cap_london"),
    ('timezone = "Europe/London"', 'timezone = "Mars/Olympus"', "programme.timezone"),
    ("min_hours = 2", "min_hours = -1", "sessions.min_hours"),
    ("date = 2015-07-08", "date = \"8 July\"", "events[3].date"),
    ('kind = "launch"', 'kind = "party"', "events[1].kind"),
    ("ends = 2015-09-30", "ends = 2014-01-01", "programme.ends"),
])
def test_invalid_file_names_the_field(tmp_path, old, new, field):
    text = DEFAULT_PROGRAMME_FILE.read_text()
    assert old in text
    path = tmp_path / "programme.toml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ProgrammeConfigError, match=field.replace("[", r"\[").replace("]", r"\]")):
        load_programme(path)


def test_money_formats_in_pounds():
    assert format_pence(15000) == "£150"
    assert format_pence(12050) == "£120.50"
    assert format_pence(123456) == "£1,234.56"


def test_cap_is_per_night_times_the_nights_paid_for(tmp_path):
    path = tmp_path / "programme.toml"
    path.write_text(DEFAULT_PROGRAMME_FILE.read_text().replace(
        "nights_per_development_day = 1", "nights_per_development_day = 2"))
    p = load_programme(path)
    assert p.expenses.cap_for(p.development_days[0]) == 30000
