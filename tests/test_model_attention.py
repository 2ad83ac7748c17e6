"""The declared attention structure (robot_skills.model.attention) and the masks built from it."""

from __future__ import annotations

import numpy as np
import pytest

from robot_skills.model import attention as A

G = A.Group


def _mask(num_prefix, num_steps, span=100, valid=None):
    groups, steps = A.sequence_layout(num_prefix, num_steps)
    if valid is None:
        valid = np.ones((1, len(groups)), bool)
    m = np.asarray(A.attention_mask(groups, steps, groups, steps, valid, span))[0]
    return m, groups, steps


def test_sequence_layout_is_prefix_then_state_skill_action_per_step():
    groups, steps = A.sequence_layout(2, 3)
    assert groups.tolist() == [G.PREFIX, G.PREFIX] + [G.STATE, G.SKILL, G.ACTION] * 3
    assert steps.tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_mask_matches_the_declared_rules_for_every_token_pair():
    span = 3
    m, groups, steps = _mask(2, 5, span=span)
    for i, (gq, tq) in enumerate(zip(groups, steps)):
        for j, (gk, tk) in enumerate(zip(groups, steps)):
            rule = A.RULES[G(gq)].get(G(gk), A.Rule.NEVER)
            expected = {A.Rule.NEVER: False, A.Rule.ALL: True,
                        A.Rule.CAUSAL: 0 <= tq - tk < span,
                        A.Rule.PAST: 0 < tq - tk < span}[rule]
            assert m[i, j] == expected, (G(gq).name, tq, G(gk).name, tk)


def test_no_token_attends_to_a_later_step():
    m, groups, steps = _mask(1, 6)
    step_tok = groups != G.PREFIX
    later = steps[None, :] > steps[:, None]  # key step > query step
    assert not (m & later & step_tok[None, :] & step_tok[:, None]).any()


def test_within_a_step_information_flows_state_to_skill_to_action():
    m, groups, steps = _mask(0, 4)
    idx = {(G(g), int(t)): i for i, (g, t) in enumerate(zip(groups, steps))}
    for t in range(4):
        s, k, a = idx[(G.STATE, t)], idx[(G.SKILL, t)], idx[(G.ACTION, t)]
        assert not m[s, k] and not m[s, a]  # the skill logits (state token) never see skill_t
        assert m[k, s] and not m[k, a]
        assert m[a, s] and m[a, k]  # the action sees its own step's state and skill
        assert m[s, s] and m[k, k] and m[a, a]
        if t > 0:  # skill and action tokens see the whole previous step
            for g in A.STEP_GROUPS:
                assert m[k, idx[(g, t - 1)]] and m[a, idx[(g, t - 1)]]
        for u in range(t):  # the skill logits read the observation history only: no past
            assert m[s, idx[(G.STATE, u)]]  # skill (teacher-forced labels) and no past action
            assert not m[s, idx[(G.SKILL, u)]] and not m[s, idx[(G.ACTION, u)]]


def test_every_token_sees_the_prefix_and_the_prefix_sees_only_itself():
    m, groups, _ = _mask(3, 4)
    pre = groups == G.PREFIX
    assert m[:, pre].all()
    assert not m[np.ix_(pre, ~pre)].any()


def test_span_limits_how_far_back_step_tokens_look():
    m, groups, steps = _mask(1, 8, span=3)
    dt = steps[:, None] - steps[None, :]
    step_pair = (groups != G.PREFIX)[:, None] & (groups != G.PREFIX)[None, :]
    assert not (m & step_pair & (dt >= 3)).any()
    assert (m & step_pair & (dt == 2)).any()


def test_padding_keys_are_never_attended():
    groups, steps = A.sequence_layout(1, 4)
    valid = np.ones((2, len(groups)), bool)
    valid[1, 1:4] = False  # env 1: step 0 is left padding
    m = np.asarray(A.attention_mask(groups, steps, groups, steps, valid, 10))
    assert not m[1][:, 1:4].any()
    np.testing.assert_array_equal(m[0][:, 4:], m[1][:, 4:])


def test_relative_position_indexes_step_distance_and_a_prefix_slot():
    groups, steps = A.sequence_layout(1, 5)
    rel = np.asarray(A.relative_position(steps, groups, steps, span=3))
    assert (rel[:, 0] == 3).all()  # prefix keys use the extra slot
    i_state4 = 1 + 3 * 4
    assert rel[i_state4, 1 + 3 * 3] == 1  # one step back
    assert rel[i_state4, 1] == 2  # four steps back, clipped to span - 1


@pytest.mark.parametrize("q", list(G))
def test_every_group_has_a_rule_row(q):
    assert q in A.RULES and A.RULES[q].get(q, A.Rule.NEVER) != A.Rule.NEVER
