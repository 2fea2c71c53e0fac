"""The game day's time window (pure): is it open now, and when does it open next."""

from __future__ import annotations

from datetime import datetime, timedelta

from harness.spec.gameday import DAYS, Window

MAX_DAYS_AHEAD = 8  # a week covers every day pattern


def is_open(window: Window, now: datetime) -> bool:
    local = now.astimezone(window.zone)
    start, end = window.span
    if DAYS[local.weekday()] not in window.days:
        return False
    moment = local.time().replace(tzinfo=None)
    return start <= moment and (end is None or moment < end)


def next_opening(window: Window, now: datetime) -> datetime | None:
    """The next moment the window opens (in its own time zone), None when it never does."""
    local = now.astimezone(window.zone)
    start, _ = window.span
    for days in range(MAX_DAYS_AHEAD):
        day = (local + timedelta(days=days)).date()
        opening = datetime.combine(day, start, tzinfo=window.zone)
        if DAYS[opening.weekday()] in window.days and opening > local:
            return opening
    return None


def closed_message(window: Window, now: datetime) -> str:
    opening = next_opening(window, now)
    local = now.astimezone(window.zone)
    days = ", ".join(window.days)
    when = f"; it next opens {opening:%a %Y-%m-%d %H:%M} {window.timezone}" if opening else ""
    return (f"outside the game day's window ({days} {window.hours} {window.timezone}; it is now "
            f"{local:%a %H:%M} there){when}")
