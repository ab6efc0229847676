"""The teacher's vocabulary: every sentence it writes on real photos is made of its tokens."""

import random

import pytest


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from asemllm.backbones.smollm2 import default_cache, load_smollm2

    if not default_cache().exists():
        load_smollm2()  # converts the packaged GGUF once
    return AutoTokenizer.from_pretrained(default_cache(), local_files_only=True)


def test_teacher_critiques_of_real_and_edited_photos_use_only_its_vocabulary(shared_data, tokenizer):
    """Real NUS photos and their controlled edits (darker, brighter, blurred, tilted, moved) give
    claims of every kind; each critique, in every phrasing the seeds pick, must tokenize into
    output_ids, as its first sentences and after a space."""
    from asemllm.critic.attributes import measure
    from asemllm.critic.dataset import evaluation_photos, open_photo
    from asemllm.critic.evaluate import EDITS, apply_edit
    from asemllm.critic.teacher import ASPECTS, critique
    from asemllm.critic.vocabulary import output_ids

    kept = set(output_ids(tokenizer))
    assert 300 < len(kept) < 1500  # of 49,152
    from asemllm.saliency.predict import load_iasm, predict_maps

    iasm = load_iasm()

    def saliency(image):
        return predict_maps(iasm, [image], [(image.height, image.width)])[0]

    photo = open_photo(evaluation_photos(shared_data)[0])
    photos = [photo] + [apply_edit(e.name, photo, saliency(photo)) for e in EDITS]
    rules, texts = set(), []
    for image in photos:
        attributes = measure(image, saliency=saliency(image))
        for seed in range(12):
            rng = random.Random(seed)
            for aspect in ASPECTS:
                c = critique(attributes, aspect, rng)
                rules |= {claim.rule for claim in c.claims}
                texts.append(c.text)
    assert {"exposure.dark", "exposure.bright", "horizon.tilted"} <= rules, rules
    for text in texts:
        ids = tokenizer(text + " " + text, add_special_tokens=False)["input_ids"]
        assert set(ids) <= kept, (text, [tokenizer.decode([i]) for i in set(ids) - kept])
    banana = tokenizer(" banana", add_special_tokens=False)["input_ids"]
    assert not set(banana) <= kept


def test_every_slot_reading_is_in_the_sentences():
    from asemllm.critic.vocabulary import slot_values, teacher_sentences

    sentences = teacher_sentences()
    assert {"1 stop", "2.5 stops", "under 1%", "38%", "1 degree", "clockwise", "counter-clockwise"} <= set(slot_values())
    assert any("counter-clockwise" in s for s in sentences) and any("1 stop" in s for s in sentences)
    assert all(s[0].isupper() and s.endswith(".") and "{" not in s for s in sentences)


def test_teacher_drafts_guess_the_teachers_own_critiques_of_a_real_photo(shared_data, tokenizer):
    """Each aspect's critique of a real NUS photo, as the teacher writes it (seeded phrasings),
    read as greedy decoding would read it with guesses from its findings prompt: most tokens come
    as kept guesses, so a critique of n tokens needs far fewer than n passes."""
    from asemllm.config import ModelConfig
    from asemllm.critic.attributes import measure
    from asemllm.critic.dataset import evaluation_photos, open_photo
    from asemllm.critic.findings import findings
    from asemllm.critic.teacher import ALL_RULES, ASPECTS, critique, values
    from asemllm.critic.vocabulary import TeacherDrafts
    from asemllm.saliency.predict import load_iasm, predict_maps

    photo = open_photo(evaluation_photos(shared_data)[1])
    attributes = measure(photo, saliency=predict_maps(load_iasm(), [photo], [(photo.height, photo.width)])[0])
    holding = {r.id for r in ALL_RULES if r.holds(values(attributes))}
    config = ModelConfig()
    drafts = TeacherDrafts(tokenizer, config.prompts)
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    tokens = passes = 0
    for aspect in ASPECTS:
        text = critique(attributes, aspect, random.Random(0)).text
        truth = tokenizer(text, add_special_tokens=False)["input_ids"] + [end]
        drafter = drafts.for_prompt(config.prompt(aspect, findings(aspect, holding)))
        i = 1  # the first token comes from the prompt's pass
        while i < len(truth):
            guess = drafter.propose(truth[:i], 8)
            kept = next((a for a, (g, t) in enumerate(zip(guess, truth[i:])) if g != t), min(len(guess), len(truth) - i))
            i += kept + 1
            passes += 1
        tokens += len(truth)
    assert passes < 0.4 * tokens, (passes, tokens)
    assert drafts.for_prompt(config.prompt("composition", [])).propose([1, 2], 8) == []  # "none": nothing to say
    anything = drafts.for_prompt("Describe the light.")  # not a findings prompt: every sentence
    assert anything.propose(tokenizer("The exposure is well", add_special_tokens=False)["input_ids"], 8)
