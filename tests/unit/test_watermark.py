"""The commit watermark never passes the first event whose effect is not durable."""

from __future__ import annotations

from cardwright.consumers.watermark import PartitionWatermark, Watermarks


def test_nothing_handled_means_nothing_to_commit() -> None:
    assert PartitionWatermark[str]().safe_offset() is None


def test_done_events_advance_the_watermark_past_them() -> None:
    w: PartitionWatermark[str] = PartitionWatermark()
    for offset in (5, 6, 7):
        w.handled(offset, None)
    assert w.safe_offset() == 8


def test_a_waiting_topic_holds_the_watermark_at_its_first_event() -> None:
    w: PartitionWatermark[str] = PartitionWatermark()
    w.handled(10, "a")
    w.handled(11, "b")
    w.handled(12, "a")
    w.handled(13, None)
    assert w.safe_offset() == 10
    w.release("a")
    assert w.safe_offset() == 11
    w.release("b")
    assert w.safe_offset() == 14


def test_a_topic_waiting_again_after_release_holds_from_its_new_event() -> None:
    w: PartitionWatermark[str] = PartitionWatermark()
    w.handled(1, "a")
    w.release("a")
    w.handled(2, None)
    w.handled(3, "a")
    assert w.safe_offset() == 3


def test_release_reaches_every_partition_a_topic_waits_in() -> None:
    w: Watermarks[int, str] = Watermarks()
    w.handled(0, 5, "a")
    w.handled(1, 7, "a")
    w.handled(1, 8, None)
    assert w.safe_offsets() == {0: 5, 1: 7}
    w.release("a")
    assert w.safe_offsets() == {0: 6, 1: 9}


def test_dropping_a_partition_reports_topics_no_longer_waiting_anywhere() -> None:
    w: Watermarks[int, str] = Watermarks()
    w.handled(0, 1, "a")
    w.handled(0, 2, "b")
    w.handled(1, 3, "b")
    assert w.drop({0}) == {"a"}
    assert w.safe_offsets() == {1: 3}


def test_partitions_of_names_every_partition_waiting_on_a_topic() -> None:
    marks: Watermarks[str, str] = Watermarks()
    marks.handled("p0", 0, "t")
    marks.handled("p1", 5, "t")
    marks.handled("p1", 6, "other")
    assert marks.partitions_of("t") == {"p0", "p1"}
    assert marks.partitions_of("nobody") == set()
    marks.release("t")
    assert marks.partitions_of("t") == set()
