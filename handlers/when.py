"""Reading dates, times and lengths the way British people type them, in the programme's zone."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

_TIME = re.compile(
    r"\b(?:at\s+)?(?:(?P<h1>\d{1,2})[:.](?P<m1>\d{2})\s*(?P<ap1>am|pm)?"
    r"|(?P<h2>\d{1,2})\s*(?P<ap2>am|pm)|at\s+(?P<h3>\d{1,2})(?![\d/:.-])|(?P<noon>noon|midday))\b",
    re.IGNORECASE,
)
_HOUR_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
               "eleven", "twelve")


def _hour(name: str) -> str:
    return rf"(?P<{name}>1[0-2]|[1-9]|{'|'.join(_HOUR_WORDS)})"


# "half two", "half past 2", "quarter to four", "three o'clock": the British spoken times
_SPOKEN_TIME = re.compile(
    rf"\b(?:at\s+)?(?:half(?:\s+past)?\s+{_hour('half')}"
    rf"|quarter\s+(?P<side>past|to)\s+{_hour('quarter')}|{_hour('oclock')}\s*o'?\s?clock)"
    r"(?:\s*(?P<ap>am|pm))?\b",
    re.IGNORECASE)
_LENGTH = re.compile(
    r"\b(?:for\s+)?(?P<num>\d+(?:\.\d+)?|half an|an|a|one|two|three|four)\s*"
    r"(?:and a half\s+)?(?P<unit>h|hrs?|hours?|mins?|minutes?)\b(?:\s+and\s+a\s+half)?",
    re.IGNORECASE,
)
_WORD_NUMBERS = {"a": "1", "an": "1", "one": "1", "two": "2", "three": "3", "four": "4",
                 "half an": "0.5"}


class WhenError(ValueError):
    """The text is not a usable date or time; the message says why, for the user.
    `week_of`: the Monday of the week the question asked back is about ("Which day next
    week?"), so that the answer "Tuesday" is read in that week."""

    def __init__(self, message: str, week_of: dt.date | None = None) -> None:
        super().__init__(message)
        self.week_of = week_of


@dataclass(frozen=True)
class Parsed:
    date: dt.date | None
    time: dt.time | None


def split_time(text: str) -> tuple[dt.time | None, str]:
    """The time of day mentioned in the text, and the text without it."""
    if spoken := _SPOKEN_TIME.search(text):
        return _spoken(spoken), (text[: spoken.start()] + " " + text[spoken.end():]).strip()
    match = _TIME.search(text)
    if not match:
        return None, text
    if match["noon"]:
        hour, minute, suffix = 12, 0, None
    else:
        hour = int(match["h1"] or match["h2"] or match["h3"])
        minute = int(match["m1"] or 0)
        suffix = (match["ap1"] or match["ap2"] or "").lower() or None
    if suffix == "pm" and hour < 12:
        hour += 12
    elif suffix == "am" and hour == 12:
        hour = 0
    elif suffix is None and 1 <= hour <= 7 and (match["h3"] or match["h1"][0] != "0"):
        hour += 12  # "at 3" or "2:30" for a meeting means the afternoon; "02:30" is 02:30
    if hour > 23 or minute > 59:
        raise WhenError(f"{match.group(0).strip()} isn't a time of day. Try 14:00 or 2pm.")
    rest = (text[: match.start()] + " " + text[match.end():]).strip()
    return dt.time(hour, minute), rest


_HHMM = r"(?:[01]\d|2[0-3])[0-5]\d"  # "1400", as a rota writes it
_CLOCK = rf"(?:{_HHMM}|\d{{1,2}}(?:[:.]\d{{2}})?\s*(?:am|pm)?|noon|midday)"
# "14:00-16:30", "2-4.30pm", "1400-1630", "2pm to 4pm": a start and an end. One side must
# look like a clock time (minutes, am/pm or noon), so a date like 10-04 is not read as one,
# unless the day is known already: then "11-1" is 11:00 to 13:00.
_SPAN = re.compile(rf"\b(?P<start>{_CLOCK})\s*(?:-|\u2013|\u2014|to|until|till)\s*"
                   rf"(?P<end>{_CLOCK})(?![\d/:.-])", re.IGNORECASE)
_CLOCK_SIGN = re.compile(rf"[:.]|am|pm|noon|midday|\b{_HHMM}\b", re.IGNORECASE)
_BARE_HOURS = re.compile(r"\s*(1[0-2]|[1-9])\s*(?:-|\u2013|\u2014|to|until|till)\s*"
                         r"(1[0-2]|[1-9])\s*", re.IGNORECASE)
_SUFFIX = re.compile(r"(am|pm)\s*$", re.IGNORECASE)


def split_span(text: str, day_known: bool = False
               ) -> tuple[dt.time | None, Decimal | None, str]:
    """The start time, the length in hours when an end time follows it, and the rest.
    `day_known`: the day is given already, so bare hours ("11-1") are a time too."""
    match = _SPAN.search(text)
    if match is None or not (_CLOCK_SIGN.search(match.group(0))
                             or day_known and _BARE_HOURS.fullmatch(match.group(0))):
        time, rest = split_time(text)
        return time, None, rest
    start_text, end_text = match["start"], match["end"]
    if (suffix := _SUFFIX.search(end_text)) and start_text[-1].isdigit():
        start_text += suffix[1]  # "2-4pm" is 2pm to 4pm ...
    start, end = _clock(start_text), _clock(end_text)
    if start > end and suffix and not _SUFFIX.search(match["start"]):
        start = _clock(match["start"])  # ... but "11-1pm" is 11am to 1pm
    if end <= start:
        raise WhenError(f"{match.group(0).strip()} ends before it starts. "
                        "Try 14:00-16:30 or 2pm to 4.30pm.")
    minutes = (end.hour - start.hour) * 60 + end.minute - start.minute
    rest = (text[: match.start()] + " " + text[match.end():]).strip()
    return start, Decimal(minutes) / 60, rest


_LONE_HHMM = re.compile(rf"(?<![\d/:.\-£])({_HHMM})(?![\d/:.\-])")


def rota_time(text: str, today: dt.date) -> str:
    """"10 April 1400" as "10 April 14:00": four digits are a time as a rota writes it, unless
    they are a year near this one ("10 April 2015")."""
    def rewrite(found: re.Match[str]) -> str:
        digits = found[1]
        if abs(int(digits) - today.year) <= 2:
            return digits
        return f"{digits[:2]}:{digits[2:]}"
    return _LONE_HHMM.sub(rewrite, text)


def _clock(text: str) -> dt.time:
    if re.fullmatch(_HHMM, text.strip()):
        return dt.time(int(text[:2]), int(text[2:4]))
    time, _rest = split_time(text if _CLOCK_SIGN.search(text) else f"at {text}")
    assert time is not None  # _CLOCK only matches what split_time reads
    if 1 <= time.hour <= 7 and not _SUFFIX.search(text):
        return time.replace(hour=time.hour + 12)  # as "at 3": a meeting's 1.30 is the afternoon
    return time


def _spoken(match: re.Match[str]) -> dt.time:
    word = match["half"] or match["quarter"] or match["oclock"]
    hour = int(word) if word.isdigit() else _HOUR_WORDS.index(word.lower()) + 1
    suffix = (match["ap"] or "").lower()
    if suffix == "pm" or (not suffix and 1 <= hour <= 7):
        hour = hour % 12 + 12  # "half two" for a meeting means the afternoon
    elif suffix == "am" and hour == 12:
        hour = 0
    side = (match["side"] or "").lower()
    minutes = hour * 60 + (30 if match["half"] else 15 if side == "past" else
                           -15 if side == "to" else 0)  # quarter to three is 2:45
    return dt.time(minutes // 60 % 24, minutes % 60)


_DAY_SUFFIX = r"(?:day|s|sday|nesday|rs|rsday|urday)?"  # "tues", "wednesday", "thurs"
_WEEKDAY = re.compile(rf"(?:(?:next|this|coming)\s+)?(mon|tue|wed|thu|fri|sat|sun){_DAY_SUFFIX}",
                      re.IGNORECASE)
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def parse_date(text: str, today: dt.date, week_of: dt.date | None = None) -> dt.date | None:
    """Day first; 'tomorrow'; a weekday ('Friday': the first one after today, or the one in
    the week of `week_of` when a question asked back named that week; 'next Tuesday' the
    same once this week has no Tuesday left, else asked); None if the text holds no date."""
    cleaned = re.sub(r"\b(on|the|of)\b", " ", text, flags=re.IGNORECASE).strip(" ,")
    if not cleaned:
        return None
    if (later := _week_on(cleaned, today)) is not None:
        return later
    weekday = _WEEKDAY.fullmatch(" ".join(cleaned.split()))
    if weekday:
        named = _WEEKDAYS.index(weekday[1].lower())
        if week_of is not None and not re.match(r"(next|this)\b", cleaned, re.IGNORECASE):
            return week_of + dt.timedelta(days=named)
        if named == today.weekday() and cleaned.lower().startswith("this"):
            return today  # "this Tuesday", said on a Tuesday
        coming = today + dt.timedelta(days=(named - today.weekday() - 1) % 7 + 1)
        if cleaned.lower().startswith("next") and coming.weekday() > today.weekday():
            # Said on a Monday, "next Tuesday" is tomorrow to some and a week later to
            # others: asked, not guessed.
            later = coming + dt.timedelta(days=7)
            raise WhenError(f"Do you mean {_spelt(coming)} or {_spelt(later)}? Please give "
                            "the date.")
        return coming
    if re.fullmatch(r"(next|this)\s+(week|month)", cleaned, re.IGNORECASE):
        # A span, not a day: dateparser would pick one (a week today) without a word. After
        # "Which day next week?" a bare "Tuesday" would be this week's, so the example names
        # the week.
        if not cleaned.lower().endswith("week"):
            raise WhenError(f"Which day {cleaned.lower()}? Please give the day, like 10 April "
                            "or Friday.")
        monday = today - dt.timedelta(today.weekday()) + dt.timedelta(
            7 if cleaned.lower().startswith("next") else 0)
        raise WhenError(f"Which day {cleaned.lower()}? Please give the day, like "
                        f"{_spelt(monday + dt.timedelta(1))} or just Tuesday.", week_of=monday)
    day_of_month = re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th)?", cleaned, re.IGNORECASE)
    if day_of_month:
        return _next_day_of_month(int(day_of_month[1]), today)
    iso = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", cleaned)
    explicit = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{2,4}))?", cleaned)
    try:
        if iso:
            return dt.date(int(iso[1]), int(iso[2]), int(iso[3]))
        if explicit:
            year = int(explicit[3]) if explicit[3] else today.year
            return dt.date(year + 2000 if year < 100 else year, int(explicit[2]),
                           int(explicit[1]))
    except ValueError:
        raise WhenError(f"{cleaned} isn't a real date.") from None
    import dateparser  # slow to import; only booking needs it

    base = dt.datetime.combine(today, dt.time(12))
    found = dateparser.parse(cleaned, languages=["en"], settings={
        "DATE_ORDER": "DMY", "PREFER_DATES_FROM": "future", "RELATIVE_BASE": base,
        "REQUIRE_PARTS": ["day"], "STRICT_PARSING": False})
    if found is None:
        if re.search(r"\d", cleaned) and re.search(r"[a-z]{3}", cleaned, re.IGNORECASE):
            raise WhenError(f"{cleaned} isn't a real date.")
        return None
    day = _agreeing(found.date(), cleaned)
    if not re.search(r"\b\d{4}\b", cleaned) and not re.search(r"\b(next|tomorrow|today)\b",
                                                              cleaned, re.IGNORECASE):
        # "1 March" said on 2 March means this year's (and is then refused as past),
        # not next year's; only a date long gone rolls over to next year.
        if (day.month, day.day) == (2, 29) and not calendar.isleap(today.year):
            raise WhenError(f"There's no 29 February in {today.year}.")
        this_year = day.replace(year=today.year)
        day = this_year if (today - this_year).days < 183 else day
    return day


_A_DAY = rf"(?:mon|tue|wed|thu|fri|sat|sun){_DAY_SUFFIX}"
_WEEK_ON = re.compile(rf"(?P<next>{_A_DAY}) next week|next week (?P<then>{_A_DAY})"
                      rf"|(?P<after>{_A_DAY}) week|a week (?P<on>{_A_DAY})")


def _week_on(text: str, today: dt.date) -> dt.date | None:
    """"Tuesday next week" (in the week after this one); "Thursday week" or "a week on
    Thursday" (a week after the coming Thursday). None for any other text."""
    found = _WEEK_ON.fullmatch(" ".join(text.lower().split()))
    if found is None:
        return None
    name = found["next"] or found["then"] or found["after"] or found["on"]
    named = _WEEKDAYS.index(name[:3])
    if found["next"] or found["then"]:
        return today + dt.timedelta(days=7 - today.weekday() + named)
    if named == today.weekday():  # said on a Monday, "Monday week" is a week today to many
        raise WhenError(f"Do you mean {_spelt(today + dt.timedelta(7))} (a week today) or "
                        f"{_spelt(today + dt.timedelta(14))}? Please give the date.")
    return today + dt.timedelta(days=(named - today.weekday() - 1) % 7 + 1 + 7)


def _next_day_of_month(number: int, today: dt.date) -> dt.date:
    """"The 3rd" said on 10 March is 3 April: a day of the month alone is the next to come
    (today included), as "Friday" is."""
    year, month = divmod(today.year * 12 + today.month - 1 + (number < today.day), 12)
    try:
        return dt.date(year, month + 1, number)
    except ValueError:
        if not 1 <= number <= 31:
            raise WhenError(f"{number} isn't a day of the month. Which day did you mean?") from None
        ordinal = f"{number}{'st' if number == 31 else 'th'}"  # only 29-31 can be missing
        raise WhenError(f"{calendar.month_name[month + 1]} has no {ordinal}. Which day did you "
                        "mean?") from None


def _spelt(day: dt.date) -> str:
    return f"{_WEEKDAY_NAMES[day.weekday()]} {day.day} {day:%B}"


def _agreeing(day: dt.date, text: str) -> dt.date:
    """The date, if the weekday named with it (if any) is its own: "Friday 12 March" when the
    12th is a Thursday, or "next Tuesday 2" read as the 2nd, is asked again, not guessed."""
    for match in re.finditer(rf"\b(?:{_WEEKDAY.pattern})\b", text, re.IGNORECASE):
        named = _WEEKDAYS.index(match[1].lower())
        if named != day.weekday():
            raise WhenError(f"{day.day} {day:%B %Y} is a {_WEEKDAY_NAMES[day.weekday()]}, not "
                            f"a {_WEEKDAY_NAMES[named]}. Which day did you mean?")
    return day


def parse_when(text: str, today: dt.date) -> Parsed:
    time, rest = split_time(text)
    return Parsed(parse_date(rest, today), time)


_HOURS_MINUTES = re.compile(r"\b(?P<hours>\d{1,2})\s*h\s*(?P<minutes>[0-5]\d)\b", re.IGNORECASE)


def parse_length(text: str) -> tuple[Decimal | None, str]:
    """A length like '3h', '2h30', '2.5 hours', '90 minutes', 'two and a half hours'; and the
    rest."""
    if spelt := _HOURS_MINUTES.search(text):  # how the booking buttons write it
        hours = int(spelt["hours"]) + Decimal(int(spelt["minutes"])) / 60
        return hours, (text[: spelt.start()] + " " + text[spelt.end():]).strip()
    match = _LENGTH.search(text)
    if not match:
        return None, text
    number = _WORD_NUMBERS.get(match["num"].lower(), match["num"])
    try:
        amount = Decimal(number)
    except InvalidOperation:
        return None, text
    if "and a half" in match.group(0).lower():
        amount += Decimal("0.5")
    hours = amount / 60 if match["unit"].lower().startswith("m") else amount
    rest = (text[: match.start()] + " " + text[match.end():]).strip()
    return hours, rest


def localise(day: dt.date, time: dt.time, zone: ZoneInfo) -> dt.datetime:
    """The instant a local wall-clock time names, refusing the spring gap and autumn repeat."""
    naive = dt.datetime.combine(day, time)
    early, late = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
    if early.utcoffset() != late.utcoffset():
        round_trip = early.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None)
        if round_trip != naive:
            raise WhenError(f"{time:%H:%M} doesn't exist on that day: the clocks go forward. "
                            "Please choose another time.")
        raise WhenError(f"{time:%H:%M} happens twice on that day because the clocks go back. "
                        "Please choose another time.")
    return early.astimezone(dt.UTC)
