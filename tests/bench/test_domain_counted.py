"""bench/domain_counted.py's split of two drains into a fixed and a per-message cost."""

from hypothesis import given
from hypothesis import strategies as st

from bench.domain_counted import split


@given(st.integers(0, 10 ** 9), st.integers(0, 10 ** 6), st.integers(1, 10 ** 5), st.integers(1, 10 ** 5),
       st.integers(1, 10 ** 5))
def test_two_drains_give_back_the_fixed_cost_and_the_cost_of_a_message(fixed, per_message, small, more, idle):
    large = small + more
    got = split(idle, (fixed + per_message * small, small), (fixed + per_message * large, large))
    assert got["per_message"] == per_message
    assert abs(got["fixed"] - fixed) <= 1e-6 * max(1, fixed + per_message * large)
    assert got["idle"] == idle and got["large"] == fixed + per_message * large


def test_a_cost_that_grows_faster_than_the_messages_shows_in_the_slope_not_the_fixed_part():
    # 1,000 a message for the first 100 messages, 1,500 beyond: the slope between 100 and 400 is 1,500
    got = split(0, (5_000 + 100 * 1_000, 100), (5_000 + 100 * 1_000 + 300 * 1_500, 400))
    assert got["per_message"] == 1_500
    assert got["fixed"] == 5_000 + 100 * 1_000 - 100 * 1_500
