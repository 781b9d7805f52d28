"""How a tick's posts are cut into the pusher's own share and the fan-out function's slices (pure logic)."""

from __future__ import annotations

from quiz.realtime.adapters.management_api import _slices


def posts(slices: list[list[tuple[list[str], bytes]]]) -> list[list[tuple[str, bytes]]]:
    return [[(cid, data) for ids, data in piece for cid in ids] for piece in slices]


def test_posts_are_counted_over_the_whole_tick_in_order() -> None:
    own = [([f"p{i}"], f"rank {i}".encode()) for i in range(3)]
    board = ([f"p{i}" for i in range(3)], b"board")
    cut = _slices([*own, board], 2, None)
    assert posts(cut) == [
        [("p0", b"rank 0"), ("p1", b"rank 1")],
        [("p2", b"rank 2"), ("p0", b"board")],
        [("p1", b"board"), ("p2", b"board")],
    ]
    assert cut[1] == [(["p2"], b"rank 2"), (["p0"], b"board")], "a frame to many stays one message per slice"


def test_a_tick_within_one_shard_is_one_slice() -> None:
    messages = [(["a", "b"], b"x"), (["c"], b"y")]
    assert _slices(messages, 3, None) == [messages]
    assert _slices(messages, 500, None) == [messages]


def test_a_slice_stays_under_the_byte_bound_when_its_frames_are_large() -> None:
    big = b"z" * 3000  # 4,000 bytes once base64-encoded
    cut = _slices([([f"c{i}"], big) for i in range(10)], 500, 10_000)
    assert [len(piece) for piece in cut] == [2, 2, 2, 2, 2]
    assert sum(len(piece) for piece in _slices([([f"c{i}"], big) for i in range(10)], 500, 1)) == 10, (
        "one frame over the bound still goes, alone"
    )
