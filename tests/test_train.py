"""Readable reasons for training recommendations, in both languages."""

import pandas as pd

from optimizer.train import _reason

GAP = pd.DataFrame(
    {
        "indicator_id": ["S02"],
        "score": [58.0],
        "below": [True],
        "bottom_quarter": [True],
        "falling": [True],
    }
)


def test_reason_in_chinese_names_every_rule():
    text = _reason(GAP, {"S02": "群众满意度"}, 60, "zh")
    assert text == "群众满意度 58 分，低于 60 分；处于同类派出所后 25%；连续三个月下降"


def test_reason_in_english_lists_only_the_rules_that_hold():
    gap = GAP.assign(bottom_quarter=[False])
    text = _reason(gap, {"S02": "Public satisfaction"}, 60, "en")
    assert text == "Public satisfaction scores 58, below 60, falling three months running"
