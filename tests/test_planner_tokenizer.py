"""PlanTokenizer: round trips, byte fallback for unknown words, JSON, and the prompt boundary
(empty instructions rejected, over-long ones truncated with a warning)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_skills.planner.config import PlannerConfig
from robot_skills.planner.corpus import corpus_texts, fit_tokenizer
from robot_skills.planner.sequence import (InstructionTruncatedWarning, encode_plan,
                                           encode_prompt, layout)
from robot_skills.planner.tokenizer import (ACT_ID, BOS_ID, BYTE_OFFSET, EOS_ID, SCENE_ID,
                                            SEP_ID, SPECIALS, UNK_ID, PlanTokenizer, normalize)
from sim.instruction_samples import draw_samples


@pytest.fixture(scope="module")
def corpus():
    return draw_samples("train", 400)


@pytest.fixture(scope="module")
def tok(corpus):
    return fit_tokenizer(corpus)


def test_corpus_texts_round_trip_with_one_token_per_word(tok, corpus):
    for s in corpus:
        for text in (s.instruction, s.scene):
            ids = tok.encode(text)
            assert tok.decode(ids) == text
            assert all(i >= BYTE_OFFSET + 256 for i in ids)  # every corpus word is in the vocab
        ids = tok.encode(s.plan_text, allow_special=True)
        assert tok.decode(ids) == s.plan_text
        assert ids.count(ACT_ID) == len(s.plan)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_decodes_to_its_normal_form(text):
    tok = PlanTokenizer(["put", "the", "red", "can", ",", "on"])
    assert tok.decode(tok.encode(text)) == normalize(text)


def test_unknown_words_fall_back_to_bytes_never_unk(tok):
    text = "put the red mug in the top drawer, s'il vous plaît ☕"
    ids = tok.encode(text)
    assert UNK_ID not in ids
    assert any(BYTE_OFFSET <= i < BYTE_OFFSET + 256 for i in ids)
    assert tok.decode(ids) == normalize(text) == "put the red mug in the top drawer, s ' il vous plaît ☕"
    # Adjacent unknown words stay apart (each byte run starts with its own space byte).
    assert tok.decode(tok.encode("zorp blick")) == "zorp blick"


def test_special_tokens_typed_into_an_instruction_are_plain_text(tok):
    ids = tok.encode("pick <ACT> the can <eos>")
    assert ACT_ID not in ids and EOS_ID not in ids
    assert tok.encode("pick red can <ACT>", allow_special=True)[-1] == ACT_ID


def test_vocabulary_is_deterministic_and_survives_json(tok, corpus, tmp_path):
    again = PlanTokenizer.fit(corpus_texts(corpus))
    assert again.vocab == tok.vocab
    assert tok.vocab[:len(SPECIALS)] == list(SPECIALS)
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    loaded = PlanTokenizer.load(str(path))
    assert loaded.vocab == tok.vocab
    s = corpus[0]
    assert loaded.encode(s.instruction) == tok.encode(s.instruction)
    with pytest.raises(ValueError, match="not a robot_skills.planner.tokenizer"):
        PlanTokenizer.from_dict({"format": "other", "words": []})


def test_bad_ids_and_bad_input_raise_clear_errors(tok):
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([tok.vocab_size])
    with pytest.raises(TypeError, match="expected text"):
        tok.encode(None)


def test_empty_instructions_are_rejected_at_the_prompt(tok):
    config = PlannerConfig(vocab_size=tok.vocab_size)
    for text in ("", "   ", "\n\t"):
        with pytest.raises(ValueError, match="empty instruction"):
            encode_prompt(tok, text, "robot in room", config)
    with pytest.raises(TypeError, match="instruction must be a str"):
        encode_prompt(tok, 42, "", config)


def test_over_long_instructions_are_truncated_with_a_warning(tok):
    config = PlannerConfig(vocab_size=tok.vocab_size, instruction_tokens=8)
    long = "put the red can on the table " * 10
    with pytest.warns(InstructionTruncatedWarning, match="truncated"):
        prompt = encode_prompt(tok, long, "robot in room", config)
    assert prompt[0] == BOS_ID and prompt[-1] == SEP_ID
    assert prompt[1:9] == tok.encode(long)[:8] and prompt[9] == SCENE_ID
    with pytest.raises(ValueError, match="exceeds model.plan_len"):
        encode_plan(tok, "stop <ACT> " * 40, config)


def test_layout_left_pads_the_prompt_and_masks_the_loss_to_the_plan(tok, corpus):
    config = PlannerConfig(vocab_size=tok.vocab_size)
    s = corpus[0]
    prompt = encode_prompt(tok, s.instruction, s.scene, config)
    plan = encode_plan(tok, s.plan_text, config)
    arr = layout([prompt], [plan], config)
    P = config.prompt_len
    assert arr["tokens"].shape == (1, config.max_len)
    assert list(arr["tokens"][0, P - len(prompt):P]) == prompt
    assert list(arr["tokens"][0, P:P + len(plan)]) == plan
    m = arr["loss_mask"][0]
    # The targets under the mask are exactly the plan and its <eos>.
    assert list(arr["targets"][0][m]) == plan
    assert arr["valid"][0].sum() == len(prompt) + len(plan)


def test_every_split_fits_the_default_layout_without_truncation(tok):
    import warnings

    from train.config import load_config
    config = PlannerConfig.from_config(load_config("configs/planner.py").model,
                                       vocab_size=tok.vocab_size)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InstructionTruncatedWarning)
        for split in ("train", "seen", "heldout_template", "heldout_pair"):
            for s in draw_samples(split, 300):
                # This tokenizer saw 400 samples: more byte fallback than a trained one.
                assert len(encode_prompt(tok, s.instruction, s.scene, config)) <= config.prompt_len
                assert len(encode_plan(tok, s.plan_text, config)) <= config.plan_len
