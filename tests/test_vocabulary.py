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
