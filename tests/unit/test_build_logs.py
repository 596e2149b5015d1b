"""Build logs: bounded in size, flushed to S3 while the build runs, readable by deployment id."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.adapters import build_logs
from chalicelib.adapters.build_logs import BuildLog
from chalicelib.aws import client as aws_client
from tests.support.polling import wait_until

_ids = itertools.count(1)


@pytest.fixture
def small_log_limit(settings_env: Callable[..., None]) -> int:
    """Caps logs at 40 bytes through their setting, so a test can overflow them cheaply."""
    settings_env(DEPLOYD_MAX_BUILD_LOG_BYTES="40")
    return 40


@pytest.fixture
def log_factory(aws: Any) -> Callable[..., BuildLog]:
    """A BuildLog for a fresh deployment id, writing to the mocked build-logs bucket."""

    def make(flush_interval: float = 3600.0) -> BuildLog:
        return BuildLog(next(_ids), flush_interval=flush_interval)

    return make


def _kept(log: BuildLog) -> str:
    """The log's text without the 'dropped' note."""
    head, sep, rest = log.text().partition("(limit DEPLOYD_MAX_BUILD_LOG_BYTES)]\n")
    return rest if sep else head


def test_a_log_within_the_limit_is_kept_whole(log_factory: Callable[..., BuildLog], small_log_limit: int) -> None:
    # Given a log that receives less output than its limit
    log = log_factory()

    # When lines are written
    log.write("line one\n")
    log.line("Uploading")

    # Then the whole output is kept, with no note
    assert log.text() == "line one\n==> Uploading\n"


def test_an_overflowing_log_keeps_its_newest_output_and_says_how_much_was_dropped(
    log_factory: Callable[..., BuildLog], small_log_limit: int
) -> None:
    # Given a log limited to 40 bytes
    log = log_factory()

    # When 20 numbered lines of 8 bytes are written (160 bytes)
    lines = [f"line {n:02d}\n" for n in range(20)]
    for line in lines:
        log.write(line)

    # Then the newest output is kept, within the limit, ending with the last line
    kept = _kept(log)
    assert kept.endswith("line 19\n")
    assert len(kept.encode()) <= small_log_limit
    assert kept == "".join(lines)[-len(kept) :]
    # And a first line says the log was truncated, exactly how much was dropped, and which setting limits it
    dropped = len("".join(lines)) - len(kept)
    assert log.text().startswith(
        f"[log truncated: its first {dropped} bytes were dropped; the last 40 bytes follow "
        "(limit DEPLOYD_MAX_BUILD_LOG_BYTES)]\n"
    )


def test_one_oversized_chunk_of_output_is_still_capped(
    log_factory: Callable[..., BuildLog], small_log_limit: int
) -> None:
    # Given a build that prints a long run of output without a newline (a progress bar redrawn with \r)
    log = log_factory()
    log.write("started\n")

    # When it arrives as one chunk, ten times the limit
    log.write("".join(f"\r{n:03d}%" for n in range(80)) + "\n")

    # Then the log still keeps no more than its limit, the newest part
    kept = _kept(log)
    assert len(kept.encode()) <= small_log_limit
    assert kept.endswith("\r079%\n")


def test_the_limit_is_counted_in_bytes_not_characters(
    log_factory: Callable[..., BuildLog], small_log_limit: int
) -> None:
    # Given a build whose output is not ASCII
    log = log_factory()

    # When 20 lines of three two-byte characters are written (140 bytes, 80 characters)
    for _ in range(20):
        log.write("ééé\n")

    # Then what is kept fits the limit in bytes, as the stored log will be UTF-8
    assert len(_kept(log).encode("utf-8")) <= small_log_limit


def test_the_log_is_readable_from_s3_once_flushed(log_factory: Callable[..., BuildLog]) -> None:
    # Given a log written to during a build
    log = log_factory(flush_interval=3600)
    log.write("==> Cloning\n")
    log.write("compiling...\n")

    # When it is flushed
    log.flush()

    # Then readers see the whole output by deployment id
    assert build_logs.read(log._deployment_id) == "==> Cloning\ncompiling...\n"


def test_with_no_flush_interval_every_write_is_readable_at_once(log_factory: Callable[..., BuildLog]) -> None:
    # Given a log flushed on every write
    log = log_factory(flush_interval=0)

    # When the build prints line by line, Then a reader sees each line as soon as it is written
    log.write("step 1\n")
    assert build_logs.read(log._deployment_id) == "step 1\n"
    log.write("step 2\n")
    assert build_logs.read(log._deployment_id) == "step 1\nstep 2\n"


def test_output_reaches_s3_at_most_once_per_flush_interval(log_factory: Callable[..., BuildLog]) -> None:
    # Given a log flushed at most once an hour, whose first line was just flushed
    log = log_factory(flush_interval=3600)
    log.write("first\n")
    log.flush()

    # When a second line is written within the interval
    log.write("second\n")

    # Then S3 still holds the flushed log, and the next flush brings it up to date
    assert build_logs.read(log._deployment_id) == "first\n"
    log.flush()
    assert build_logs.read(log._deployment_id) == "first\nsecond\n"


def test_a_running_build_that_goes_quiet_still_has_its_last_output_readable(
    log_factory: Callable[..., BuildLog],
) -> None:
    # Given a build log in use (as the build worker uses it), flushed every 0.2 s
    with log_factory(flush_interval=0.2) as log:
        deployment_id = log._deployment_id
        log.write("first\n")
        log.flush()

        # When the build prints once more within the interval and then works quietly
        log.write("compiling, this takes a while\n")

        # Then a reader sees that line within a few intervals, without any further write
        expected = "first\ncompiling, this takes a while\n"
        wait_until(
            lambda: build_logs.read(deployment_id) == expected,
            timeout=5,
            interval=0.05,
            what=f"the log to read {expected!r}",
        )


def test_closing_a_log_writes_everything_it_holds(log_factory: Callable[..., BuildLog]) -> None:
    # Given a log in use with an hour between flushes
    with log_factory(flush_interval=3600) as log:
        log.write("first\n")
        log.flush()
        log.write("last words\n")

    # When it is closed at the end of the build, Then its whole output is stored
    assert build_logs.read(log._deployment_id) == "first\nlast words\n"


def test_an_overflowed_log_is_stored_with_its_dropped_note(
    log_factory: Callable[..., BuildLog], small_log_limit: int
) -> None:
    # Given a log that overflowed its limit
    log = log_factory()
    for n in range(20):
        log.write(f"line {n:02d}\n")

    # When it is flushed
    log.flush()

    # Then the stored log is what the log holds: the note, then the newest output
    stored = build_logs.read(log._deployment_id)
    assert stored == log.text()
    assert stored.startswith("[log truncated: its first ")
    assert stored.endswith("line 19\n")


def test_a_deployment_without_a_log_reads_as_empty(aws: Any) -> None:
    assert build_logs.read(987654) == ""


def test_a_codebuild_log_stream_is_read_within_the_same_limit_keeping_its_tail(aws: Any, small_log_limit: int) -> None:
    # Given a CodeBuild build whose CloudWatch stream holds 20 lines of 8 bytes, and one line over the limit alone
    logs = aws_client("logs")
    logs.create_log_group(logGroupName="builds")
    logs.create_log_stream(logGroupName="builds", logStreamName="deployments/7/abc")
    now = int(time.time() * 1000)
    events = [{"timestamp": now + n, "message": f"line {n:02d}"} for n in range(20)]
    logs.put_log_events(logGroupName="builds", logStreamName="deployments/7/abc", logEvents=events)

    # When the log is read
    text = build_logs.read_build_output("builds", "deployments/7/abc")

    # Then it is truncated by the same setting: the note first, then only the newest output
    note, _, kept = text.partition("(limit DEPLOYD_MAX_BUILD_LOG_BYTES)]\n")
    assert note.startswith("[log truncated: its first ")
    assert kept.endswith("line 19\n")
    assert len(kept.encode()) <= small_log_limit

    # And an event longer than the limit on its own is cut to its tail
    logs.put_log_events(
        logGroupName="builds",
        logStreamName="deployments/7/abc",
        logEvents=[{"timestamp": now + 100, "message": "x" * 100 + "END"}],
    )
    kept = build_logs.read_build_output("builds", "deployments/7/abc").partition(
        "(limit DEPLOYD_MAX_BUILD_LOG_BYTES)]\n"
    )[2]
    assert kept.endswith("xxEND\n") and len(kept.encode()) <= small_log_limit


def test_a_big_chunk_followed_by_more_output_keeps_the_newest_bytes_of_both(
    log_factory: Callable[..., BuildLog], small_log_limit: int
) -> None:
    # Given a build that printed a lot at once (kept to its last 40 bytes), and then a short line
    log = log_factory()
    log.write("".join(f"line {n:02d}\n" for n in range(20)))

    # When one more short line is written
    log.write("done\n")

    # Then the log still holds the newest 40 bytes across both: the big chunk's end is not lost whole
    assert _kept(log) == "".join(f"line {n:02d}\n" for n in range(20))[-35:] + "done\n"


def test_reading_from_the_offset_last_reached_shows_every_line_once_across_truncation(
    log_factory: Callable[..., BuildLog], small_log_limit: int
) -> None:
    # Given a reader following a log from its start, and a build writing more than the limit keeps
    log = log_factory()
    seen: list[str] = []
    offset = 0
    for n in range(4):
        log.write(f"line {n:02d}\n")
    log.flush()

    # When the reader takes what is new after each burst of output
    for burst in range(3):
        stored = build_logs.read_log(log._deployment_id)
        seen.append(stored.since(offset))
        offset = stored.end
        for n in range(4 + burst * 4, 8 + burst * 4):
            log.write(f"line {n:02d}\n")
        log.flush()
    stored = build_logs.read_log(log._deployment_id)
    seen.append(stored.since(offset))

    # Then it saw every line once, in order: the bursts fit the limit, so nothing was dropped between reads
    assert "".join(seen) == "".join(f"line {n:02d}\n" for n in range(16))
    # And the whole log still reads as before, the note first
    assert stored.text() == build_logs.read(log._deployment_id) == log.text()


def test_a_reader_that_fell_behind_the_limit_is_told_how_much_it_missed(
    log_factory: Callable[..., BuildLog], small_log_limit: int
) -> None:
    # Given a reader at offset 8 (after "line 00\n") and a build that then wrote 19 more lines of 8 bytes
    log = log_factory()
    for n in range(20):
        log.write(f"line {n:02d}\n")
    log.flush()

    # When it reads from its offset
    stored = build_logs.read_log(log._deployment_id)
    text = stored.since(8)

    # Then the bytes the limit dropped since are named, the kept tail follows, and the next offset is the end
    kept = "".join(f"line {n:02d}\n" for n in range(15, 20))
    assert text == build_logs.truncation_note(160 - 40 - 8, small_log_limit) + kept
    assert stored.end == 160


def test_a_build_that_ends_within_its_first_interval_writes_its_log_once(
    log_factory: Callable[..., BuildLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a log in use, flushed every hour
    s3 = aws_client("s3")
    puts: list[str] = []
    own_put = s3.put_object
    monkeypatch.setattr(s3, "put_object", lambda **kwargs: puts.append(kwargs["Key"]) or own_put(**kwargs))
    with log_factory(flush_interval=3600) as log:
        # When the build writes its lines and ends at once
        log.line("Cloning")
        log.write("done\n")
        assert puts == []  # nothing written while it runs, within the first interval
    # Then the whole log is written once, when it ends
    assert len(puts) == 1
    assert build_logs.read(log._deployment_id) == "==> Cloning\ndone\n"
