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


def closes_at(window: Window, now: datetime) -> datetime:
    """When the window that is open now closes (midnight for a window to 24:00)."""
    local = now.astimezone(window.zone)
    _, end = window.span
    if end is None:
        return datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=window.zone)
    return datetime.combine(local.date(), end, tzinfo=window.zone)


def too_long_message(window: Window, now: datetime, needed_s: float) -> str | None:
    """Why an experiment of about needed_s may not start now: it would still run when the window closes."""
    closing = closes_at(window, now)
    left = (closing - now).total_seconds()
    if needed_s <= left:
        return None
    return (f"the next experiment takes about {needed_s:.0f}s but the window closes in {max(left, 0):.0f}s "
            f"({closing:%H:%M} {window.timezone}); it would run past the window's end")
